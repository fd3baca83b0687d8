package kernel

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func unsupported(format string, args ...any) error {
	return fmt.Errorf("kernel dataplane: %s: %w", fmt.Sprintf(format, args...), dataplane.ErrUnsupported)
}

func checkVRF(vrf uint32) error {
	if vrf > maxZone {
		return unsupported("VRF %d does not fit a conntrack zone (16 bits, max %d)", vrf, maxZone)
	}
	return nil
}

// normalizeTranslation checks t against what nf_tables can express and
// returns it in canonical form (addresses unmapped, hash fields explicit
// only where they were given).
func normalizeTranslation(t model.Translation) (model.Translation, error) {
	k := t.Key
	if err := checkVRF(k.VRF); err != nil {
		return t, err
	}
	if !k.VIP.IsValid() {
		return t, fmt.Errorf("translation %s: invalid address", k)
	}
	k.VIP = k.VIP.Unmap()
	fam := familyOf(k.VIP)
	switch k.Proto {
	case model.ProtoTCP, model.ProtoUDP:
	case model.ProtoICMP, model.ProtoICMPv6:
		if (k.Proto == model.ProtoICMP) != (fam == model.IPv4) {
			return t, fmt.Errorf("translation %s: %s with an IPv%d address", k, k.Proto, fam)
		}
		if k.Port != 0 {
			return t, unsupported("translation %s: ICMP translations keyed by echo id (port %d); use port 0 (all echo ids)", k, k.Port)
		}
	default:
		return t, unsupported("translation %s: protocol %d", k, uint8(k.Proto))
	}
	if t.Kind != model.KindVIP && t.Kind != model.KindReal {
		return t, fmt.Errorf("translation %s: bad kind %d", k, t.Kind)
	}
	if t.LB == model.LBMaglev {
		return t, unsupported("translation %s: Maglev load balancing (nf_tables only has jhash/numgen; use hash)", k)
	}
	if t.LB != model.LBHash {
		return t, unsupported("translation %s: load-balancing method %d", k, t.LB)
	}
	if t.HashFields&^(model.HashSrcAddr|model.HashDstAddr|model.HashSrcPort|model.HashDstPort|model.HashProto) != 0 {
		return t, fmt.Errorf("translation %s: bad hash fields %#x", k, t.HashFields)
	}
	if len(t.Backends) > maxBackends {
		return t, unsupported("translation %s: %d backends (the ct mark indexes at most %d)", k, len(t.Backends), maxBackends)
	}
	out := t
	out.Key = k
	out.MaglevLen = 0
	out.Backends = make([]model.Backend, len(t.Backends))
	for i, b := range t.Backends {
		if !b.DstAddr.IsValid() {
			return t, fmt.Errorf("translation %s: backend %d has no destination address", k, i)
		}
		b.DstAddr = b.DstAddr.Unmap()
		if familyOf(b.DstAddr) != fam {
			return t, unsupported("translation %s: backend %d: address family translation (%s)", k, i, b.DstAddr)
		}
		if b.SrcAddr.IsValid() {
			b.SrcAddr = b.SrcAddr.Unmap()
			if familyOf(b.SrcAddr) != fam {
				return t, unsupported("translation %s: backend %d: address family translation (%s)", k, i, b.SrcAddr)
			}
		}
		if isICMP(k.Proto) && (b.DstPort != 0 || b.SrcPort != 0) {
			return t, unsupported("translation %s: backend %d: ICMP echo id rewrite (port) is not expressible with nf_tables NAT", k, i)
		}
		out.Backends[i] = b
	}
	return out, nil
}

func isICMP(p model.Proto) bool { return p == model.ProtoICMP || p == model.ProtoICMPv6 }

func normalizeSNATAddress(a model.SNATAddress) (model.SNATAddress, error) {
	if err := checkVRF(a.VRF); err != nil {
		return a, err
	}
	if !a.Addr.IsValid() {
		return a, fmt.Errorf("snat address: invalid address")
	}
	a.Addr = a.Addr.Unmap()
	return a, nil
}

func normalizeExclusion(e model.SNATExclusion) (model.SNATExclusion, error) {
	if err := checkVRF(e.VRF); err != nil {
		return e, err
	}
	if !e.Prefix.IsValid() {
		return e, fmt.Errorf("snat exclusion: invalid prefix")
	}
	a := e.Prefix.Addr().Unmap()
	bits := e.Prefix.Bits()
	if e.Prefix.Addr().Is4In6() {
		bits -= 96
	}
	e.Prefix = netip.PrefixFrom(a, bits).Masked()
	return e, nil
}

func normalizeInterface(i model.SNATInterface) (model.SNATInterface, error) {
	if err := checkIfName(i.Interface); err != nil {
		return i, fmt.Errorf("snat interface: %w", err)
	}
	if i.Family != model.IPv4 && i.Family != model.IPv6 {
		return i, fmt.Errorf("snat interface %q: bad family %d", i.Interface, i.Family)
	}
	return i, nil
}

func checkLimit(l model.SessionLimit) error {
	if l.VRF != model.AllVRFs {
		return checkVRF(l.VRF)
	}
	return nil
}

// maxTimeout is what a ct timeout policy (u32 seconds) and a sane config allow.
const maxTimeout = 365 * 24 * time.Hour

// mergeTimeouts applies the non-zero fields of req to cur.
func mergeTimeouts(cur, req model.Timeouts) (model.Timeouts, error) {
	set := func(dst *time.Duration, v time.Duration, name string) error {
		if v == 0 {
			return nil
		}
		if v < time.Second || v > maxTimeout || v%time.Second != 0 {
			return unsupported("timeout %s %v: conntrack timeouts are whole seconds from 1s to %v", name, v, maxTimeout)
		}
		*dst = v
		return nil
	}
	out := cur
	for _, f := range []struct {
		dst  *time.Duration
		v    time.Duration
		name string
	}{
		{&out.UDP, req.UDP, "udp"},
		{&out.TCPEstablished, req.TCPEstablished, "tcp-established"},
		{&out.TCPTransitory, req.TCPTransitory, "tcp-transitory"},
		{&out.ICMP, req.ICMP, "icmp"},
	} {
		if err := set(f.dst, f.v, f.name); err != nil {
			return cur, err
		}
	}
	return out, nil
}
