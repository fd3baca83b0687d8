package validate

import (
	"net/netip"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// MaxStaticNATs is how many static mappings the agent keeps.
const MaxStaticNATs = 10000

// StaticNATKey checks a static mapping's key.
func StaticNATKey(field string, k *pb.StaticNATKey) (model.StaticNATKey, error) {
	if k == nil {
		return model.StaticNATKey{}, fieldErr(field, "required")
	}
	s, err := StaticNAT(field, &pb.StaticNAT{
		InsideVrf: k.GetInsideVrf(), Inside: k.GetInside(), Outside: k.GetInside(),
		Proto: k.GetProto(), InsidePort: k.GetInsidePort(), OutsidePort: k.GetInsidePort(),
	})
	return s.Key(), err
}

// StaticNAT checks a static mapping on its own (StaticNATFits checks it
// against the intent): prefixes of one family and equal length covering
// at most model.MaxStaticNATAddrs addresses, ports only with TCP or UDP
// and then both.
func StaticNAT(field string, p *pb.StaticNAT) (model.StaticNAT, error) {
	if p == nil {
		return model.StaticNAT{}, fieldErr(field, "required")
	}
	var out model.StaticNAT
	var err error
	if out.InsideVRF, err = VRF(join(field, "inside_vrf"), p.GetInsideVrf()); err != nil {
		return out, err
	}
	if out.OutsideVRF, err = VRF(join(field, "outside_vrf"), p.GetOutsideVrf()); err != nil {
		return out, err
	}
	if out.Inside, err = Prefix(join(field, "inside"), p.GetInside()); err != nil {
		return out, err
	}
	if out.Outside, err = Prefix(join(field, "outside"), p.GetOutside()); err != nil {
		return out, err
	}
	if err := staticPrefixes(field, out.Inside, out.Outside); err != nil {
		return out, err
	}
	if out.Proto, err = Proto(join(field, "proto"), p.GetProto(), false); err != nil {
		return out, err
	}
	if out.InsidePort, err = Port(join(field, "inside_port"), p.GetInsidePort(), false); err != nil {
		return out, err
	}
	if out.OutsidePort, err = Port(join(field, "outside_port"), p.GetOutsidePort(), false); err != nil {
		return out, err
	}
	return out, staticPorts(field, out)
}

func staticPrefixes(field string, in, out netip.Prefix) error {
	if in.Addr().Is4() != out.Addr().Is4() {
		return fieldErr(join(field, "outside"), "%s is not of the family of the inside prefix %s", out, in)
	}
	if in.Bits() != out.Bits() {
		return fieldErr(join(field, "outside"), "%s is not as long as the inside prefix %s", out, in)
	}
	if host := in.Addr().BitLen() - in.Bits(); host > 12 {
		return fieldErr(join(field, "inside"), "%s covers more than %d addresses", in, model.MaxStaticNATAddrs)
	}
	return nil
}

func staticPorts(field string, s model.StaticNAT) error {
	switch s.Proto {
	case 0:
		if s.InsidePort != 0 || s.OutsidePort != 0 {
			return fieldErr(join(field, "proto"), "ports need proto tcp or udp")
		}
	case model.ProtoTCP, model.ProtoUDP:
		if s.InsidePort == 0 || s.OutsidePort == 0 {
			return fieldErr(join(field, "inside_port"), "proto %s needs both an inside and an outside port", s.Proto)
		}
	default:
		return fieldErr(join(field, "proto"), "%s: only tcp or udp (or none: all ports)", s.Proto)
	}
	return nil
}

// Claims is what else claims addresses next to the user's intent: the
// objects derived from NAT gateways.
type Claims struct {
	Pools      []model.Pool
	Bindings   []model.PoolBinding
	StaticNATs []model.StaticNAT
}

// StaticNATFits checks a new static mapping against the intent (and
// extra, the derived objects): its outside prefix overlaps no other
// mapping's outside prefix of the same outside VRF, no pool range of that
// VRF and no translation VIP of that VRF; its inside prefix overlaps no
// pool binding of the inside VRF. Mappings with a port pair conflict only
// with mappings of the same proto and outside port (or all ports).
func StaticNATFits(d *model.Desired, extra Claims, s model.StaticNAT) error {
	k := s.Key()
	check := func(list []model.StaticNAT, what string) error {
		for _, x := range list {
			if x.Key() == k || x.OutsideVRF != s.OutsideVRF || !x.Outside.Overlaps(s.Outside) {
				continue
			}
			if s.Proto != 0 && x.Proto != 0 && (x.Proto != s.Proto || x.OutsidePort != s.OutsidePort) {
				continue
			}
			return conflict("static nat %s: outside %s is already claimed by the %s %s", k, s.Outside, what, x)
		}
		return nil
	}
	if err := check(d.StaticNATs, "static nat"); err != nil {
		return err
	}
	if err := check(extra.StaticNATs, "NAT gateway's virtual IP"); err != nil {
		return err
	}
	for _, pools := range [][]model.Pool{d.Pools, extra.Pools} {
		for _, p := range pools {
			if p.OutsideVRF != s.OutsideVRF {
				continue
			}
			for _, r := range p.Ranges {
				if rangeOverlaps(r, s.Outside) {
					return conflict("static nat %s: outside %s overlaps the range %s of pool %s", k, s.Outside, r, p.Name)
				}
			}
		}
	}
	for _, t := range d.Translations {
		if t.Key.VRF == s.OutsideVRF && s.Outside.Contains(t.Key.VIP.Unmap()) {
			return conflict("static nat %s: outside %s contains the translation %s", k, s.Outside, t.Key)
		}
	}
	for _, bs := range [][]model.PoolBinding{d.PoolBindings, extra.Bindings} {
		for _, b := range bs {
			if b.VRF == s.InsideVRF && b.Prefix.Overlaps(s.Inside) {
				return conflict("static nat %s: inside %s overlaps the binding %s (pool %s)", k, s.Inside, b.Key(), b.Pool)
			}
		}
	}
	exists := false
	for _, x := range d.StaticNATs {
		exists = exists || x.Key() == k
	}
	if !exists && len(d.StaticNATs) >= MaxStaticNATs {
		return conflict("static nat %s: there are already %d static mappings (the limit)", k, MaxStaticNATs)
	}
	return nil
}

func rangeOverlaps(r model.AddrRange, p netip.Prefix) bool {
	if r.First.Is4() != p.Addr().Is4() {
		return false
	}
	return r.First.Compare(lastAddr(p)) <= 0 && p.Masked().Addr().Compare(r.Last) <= 0
}

// staticNATRequest validates the StaticNATService requests for Request.
func staticNATRequest(req any) error {
	var err error
	switch r := req.(type) {
	case *pb.CreateStaticNATRequest:
		_, err = StaticNAT("static_nat", r.GetStaticNat())
	case *pb.DeleteStaticNATRequest:
		_, err = StaticNATKey("key", r.GetKey())
	case *pb.GetStaticNATRequest:
		_, err = StaticNATKey("key", r.GetKey())
	}
	return err
}

// VIPFree refuses a translation whose VIP lies in the outside prefix of a
// static mapping (the user's or a NAT gateway's virtual IP) of its VRF.
func VIPFree(d *model.Desired, extra Claims, k model.TranslationKey) error {
	vip := k.VIP.Unmap()
	for _, list := range [][]model.StaticNAT{d.StaticNATs, extra.StaticNATs} {
		for _, x := range list {
			if x.OutsideVRF == k.VRF && x.Outside.Contains(vip) &&
				(x.Proto == 0 || x.Proto == k.Proto && x.OutsidePort == k.Port) {
				return conflict("translation %s: its address is the outside of the static nat %s", k, x)
			}
		}
	}
	return nil
}

// DerivedFits checks what the NAT gateways claim (o, derived from their
// plans) against the user's intent, the other way round from
// StaticNATFits/VIPFree: a gateway address inside a user's pool range, a
// static mapping's outside prefix or a translation VIP of the same VRF; a
// member (or an interface left without ports) inside a user's binding or
// static mapping of the network; a virtual IP claimed by the user. The
// error names both objects.
func DerivedFits(d *model.Desired, o Claims) error {
	for _, p := range o.Pools {
		for _, r := range p.Ranges {
			for _, u := range d.Pools {
				if u.OutsideVRF != p.OutsideVRF {
					continue
				}
				for _, ur := range u.Ranges {
					if ur.First.Is4() == r.First.Is4() && ur.First.Compare(r.Last) <= 0 && r.First.Compare(ur.Last) <= 0 {
						return conflict("NAT gateway pool %s: address %s is in the range %s of pool %s", p.Name, r, ur, u.Name)
					}
				}
			}
			for _, x := range d.StaticNATs {
				if x.OutsideVRF == p.OutsideVRF && rangeOverlaps(r, x.Outside) {
					return conflict("NAT gateway pool %s: address %s is the outside of the static nat %s", p.Name, r, x)
				}
			}
			for _, t := range d.Translations {
				if vip := t.Key.VIP.Unmap(); t.Key.VRF == p.OutsideVRF && vip.Is4() == r.First.Is4() &&
					r.First.Compare(vip) <= 0 && vip.Compare(r.Last) <= 0 {
					return conflict("NAT gateway pool %s: address %s is the VIP of the translation %s", p.Name, r, t.Key)
				}
			}
		}
	}
	for _, b := range o.Bindings {
		for _, u := range d.PoolBindings {
			if u.VRF == b.VRF && u.Prefix.Overlaps(b.Prefix) {
				return conflict("NAT gateway pool %s: member %s is inside the binding %s (pool %s)", b.Pool, b.Prefix.Addr(), u.Key(), u.Pool)
			}
		}
		for _, x := range d.StaticNATs {
			if x.InsideVRF == b.VRF && x.Inside.Overlaps(b.Prefix) {
				return conflict("NAT gateway pool %s: member %s is inside the static nat %s", b.Pool, b.Prefix.Addr(), x)
			}
		}
	}
	for _, s := range o.StaticNATs {
		for _, x := range d.StaticNATs {
			if x.OutsideVRF == s.OutsideVRF && x.Outside.Overlaps(s.Outside) {
				return conflict("NAT gateway virtual IP %s: already claimed by the static nat %s", s.Outside.Addr(), x)
			}
			if x.InsideVRF == s.InsideVRF && x.Inside.Overlaps(s.Inside) {
				return conflict("NAT gateway virtual IP %s: its interface address %s is inside the static nat %s", s.Outside.Addr(), s.Inside.Addr(), x)
			}
		}
		for _, u := range d.Pools {
			for _, r := range u.Ranges {
				if u.OutsideVRF == s.OutsideVRF && rangeOverlaps(r, s.Outside) {
					return conflict("NAT gateway virtual IP %s: in the range %s of pool %s", s.Outside.Addr(), r, u.Name)
				}
			}
		}
		for _, u := range d.PoolBindings {
			if u.VRF == s.InsideVRF && u.Prefix.Overlaps(s.Inside) {
				return conflict("NAT gateway virtual IP %s: its interface address %s is inside the binding %s (pool %s)", s.Outside.Addr(), s.Inside.Addr(), u.Key(), u.Pool)
			}
		}
	}
	return nil
}
