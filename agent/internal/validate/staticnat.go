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
