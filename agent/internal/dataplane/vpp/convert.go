package vpp

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
)

// This file translates between the model and the generated bindings. It
// has no I/O; every function is covered by convert_test.go.

// allTables is the API's "every table" (~0), the same value as model.AllVRFs.
const allTables = ^uint32(0)

// maxBackends is the plugin's limit (CN_MAX_BACKENDS, the most the API's
// u8 n_backends carries): beyond it the plugin answers INVALID_VALUE_2, the
// agent says ErrUnsupported first.
const maxBackends = 255

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", dataplane.ErrUnsupported, fmt.Sprintf(format, args...))
}

// toAddress converts a valid netip.Addr (4-in-6 addresses are unmapped).
func toAddress(a netip.Addr) ip_types.Address {
	a = a.Unmap()
	var out ip_types.Address
	if a.Is4() {
		out.Af = ip_types.ADDRESS_IP4
		out.Un.SetIP4(ip_types.IP4Address(a.As4()))
	} else {
		out.Af = ip_types.ADDRESS_IP6
		out.Un.SetIP6(ip_types.IP6Address(a.As16()))
	}
	return out
}

// zeroAddress is the all-zeros address of a's family ("keep" in a backend).
func zeroAddress(a netip.Addr) ip_types.Address {
	if a.Unmap().Is4() {
		return toAddress(netip.IPv4Unspecified())
	}
	return toAddress(netip.IPv6Unspecified())
}

// optAddress is toAddress for an optional address: invalid means "keep".
func optAddress(a, family netip.Addr) ip_types.Address {
	if !a.IsValid() {
		return zeroAddress(family)
	}
	return toAddress(a)
}

func fromAddress(a ip_types.Address) (netip.Addr, error) {
	switch a.Af {
	case ip_types.ADDRESS_IP4:
		return netip.AddrFrom4(a.Un.GetIP4()), nil
	case ip_types.ADDRESS_IP6:
		return netip.AddrFrom16(a.Un.GetIP6()), nil
	}
	return netip.Addr{}, fmt.Errorf("unknown address family %d", a.Af)
}

// fromOptAddress maps the all-zeros address ("keep") to the invalid Addr.
func fromOptAddress(a ip_types.Address) (netip.Addr, error) {
	addr, err := fromAddress(a)
	if err != nil || addr.IsUnspecified() {
		return netip.Addr{}, err
	}
	return addr, nil
}

func toPrefix(p netip.Prefix) ip_types.Prefix {
	return ip_types.Prefix{Address: toAddress(p.Addr()), Len: uint8(p.Bits())}
}

func fromPrefix(p ip_types.Prefix) (netip.Prefix, error) {
	a, err := fromAddress(p.Address)
	if err != nil {
		return netip.Prefix{}, err
	}
	pf := netip.PrefixFrom(a, int(p.Len))
	if !pf.IsValid() {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %s/%d", a, p.Len)
	}
	return pf, nil
}

// translationProto maps a translation key's protocol to the API's: ICMP
// means echo of the VIP's family (the model's convention), so ProtoICMP and
// ProtoICMPv6 both become ICMP6 for an IPv6 VIP and ICMP for an IPv4 one.
func translationProto(p model.Proto, vip netip.Addr) (ip_types.IPProto, error) {
	switch p {
	case model.ProtoTCP:
		return ip_types.IP_API_PROTO_TCP, nil
	case model.ProtoUDP:
		return ip_types.IP_API_PROTO_UDP, nil
	case model.ProtoICMP, model.ProtoICMPv6:
		if vip.Unmap().Is4() {
			return ip_types.IP_API_PROTO_ICMP, nil
		}
		return ip_types.IP_API_PROTO_ICMP6, nil
	}
	return 0, unsupported("protocol %s: translations take tcp, udp or icmp", p)
}

// fromTranslationProto is translationProto's inverse. ICMP6 is reported as
// model.ProtoICMPv6: the canonical form of an IPv6 ICMP key (see
// reconcile.NormalizeKey).
func fromTranslationProto(p ip_types.IPProto) model.Proto {
	return model.Proto(p)
}

func keyFields(k model.TranslationKey) (ip_types.Address, ip_types.IPProto, error) {
	if !k.VIP.IsValid() {
		return ip_types.Address{}, 0, errors.New("translation key has no address")
	}
	proto, err := translationProto(k.Proto, k.VIP)
	if err != nil {
		return ip_types.Address{}, 0, err
	}
	return toAddress(k.VIP), proto, nil
}

func toTranslation(t model.Translation) (cloudnat.CloudnatTranslation, error) {
	vip, proto, err := keyFields(t.Key)
	if err != nil {
		return cloudnat.CloudnatTranslation{}, err
	}
	if len(t.Backends) > maxBackends {
		return cloudnat.CloudnatTranslation{}, unsupported("%d backends: the VPP plugin takes at most %d", len(t.Backends), maxBackends)
	}
	var kind cloudnat.CloudnatTranslationKind
	switch t.Kind {
	case model.KindVIP:
		kind = cloudnat.CLOUDNAT_KIND_VIP
	case model.KindReal:
		kind = cloudnat.CLOUDNAT_KIND_REAL
	default:
		return cloudnat.CloudnatTranslation{}, unsupported("translation kind %d", t.Kind)
	}
	var lb cloudnat.CloudnatLbMethod
	switch t.LB {
	case model.LBHash:
		lb = cloudnat.CLOUDNAT_LB_HASH
	case model.LBMaglev:
		lb = cloudnat.CLOUDNAT_LB_MAGLEV
	default:
		return cloudnat.CloudnatTranslation{}, unsupported("load-balancing method %d", t.LB)
	}
	if t.HashFields&^(model.HashSrcAddr|model.HashDstAddr|model.HashSrcPort|model.HashDstPort|model.HashProto) != 0 {
		return cloudnat.CloudnatTranslation{}, unsupported("hash fields %#x", uint8(t.HashFields))
	}
	out := cloudnat.CloudnatTranslation{
		TableID:    t.Key.VRF,
		Vip:        vip,
		Port:       t.Key.Port,
		Proto:      proto,
		Kind:       kind,
		LbMethod:   lb,
		HashFields: cloudnat.CloudnatHashFields(t.HashFields),
		MaglevLen:  t.MaglevLen,
		NBackends:  uint8(len(t.Backends)),
		Backends:   make([]cloudnat.CloudnatBackend, len(t.Backends)),
	}
	for i, b := range t.Backends {
		if !b.DstAddr.IsValid() {
			return cloudnat.CloudnatTranslation{}, fmt.Errorf("backend %d has no destination address", i)
		}
		out.Backends[i] = cloudnat.CloudnatBackend{
			SrcAddr: optAddress(b.SrcAddr, t.Key.VIP),
			SrcPort: b.SrcPort,
			DstAddr: toAddress(b.DstAddr),
			DstPort: b.DstPort,
		}
	}
	return out, nil
}

func fromTranslation(t cloudnat.CloudnatTranslation) (model.Translation, error) {
	vip, err := fromAddress(t.Vip)
	if err != nil {
		return model.Translation{}, fmt.Errorf("vip: %w", err)
	}
	out := model.Translation{
		Key: model.TranslationKey{
			VRF:   t.TableID,
			VIP:   vip,
			Port:  t.Port,
			Proto: fromTranslationProto(t.Proto),
		},
		Kind:       model.KindVIP,
		LB:         model.LBHash,
		HashFields: model.HashFields(t.HashFields),
		MaglevLen:  t.MaglevLen,
	}
	if t.Kind == cloudnat.CLOUDNAT_KIND_REAL {
		out.Kind = model.KindReal
	}
	if t.LbMethod == cloudnat.CLOUDNAT_LB_MAGLEV {
		out.LB = model.LBMaglev
	}
	if len(t.Backends) > 0 {
		out.Backends = make([]model.Backend, len(t.Backends))
	}
	for i, b := range t.Backends {
		src, err := fromOptAddress(b.SrcAddr)
		if err != nil {
			return model.Translation{}, fmt.Errorf("backend %d src: %w", i, err)
		}
		dst, err := fromAddress(b.DstAddr)
		if err != nil {
			return model.Translation{}, fmt.Errorf("backend %d dst: %w", i, err)
		}
		out.Backends[i] = model.Backend{SrcAddr: src, SrcPort: b.SrcPort, DstAddr: dst, DstPort: b.DstPort}
	}
	return out, nil
}

func fromTCPState(s cloudnat.CloudnatTCPState) model.TCPState {
	switch s {
	case cloudnat.CLOUDNAT_TCP_SYN_SENT:
		return model.TCPSynSent
	case cloudnat.CLOUDNAT_TCP_ESTABLISHED:
		return model.TCPEstablished
	case cloudnat.CLOUDNAT_TCP_FIN_WAIT:
		return model.TCPFinWait
	case cloudnat.CLOUDNAT_TCP_CLOSED:
		return model.TCPClosed
	}
	return model.TCPNone
}

func fromSession(s cloudnat.CloudnatSession) (model.Session, error) {
	var addrs [4]netip.Addr
	for i, a := range []ip_types.Address{s.SrcAddr, s.DstAddr, s.NewSrcAddr, s.NewDstAddr} {
		var err error
		if addrs[i], err = fromAddress(a); err != nil {
			return model.Session{}, err
		}
	}
	return model.Session{
		VRF:           s.TableID,
		Proto:         model.Proto(s.Proto),
		Src:           netip.AddrPortFrom(addrs[0], s.SrcPort),
		Dst:           netip.AddrPortFrom(addrs[1], s.DstPort),
		NewSrc:        netip.AddrPortFrom(addrs[2], s.NewSrcPort),
		NewDst:        netip.AddrPortFrom(addrs[3], s.NewDstPort),
		SNAT:          s.Flags&cloudnat.CLOUDNAT_SESSION_SNAT != 0,
		TCPState:      fromTCPState(s.TCPState),
		TranslationID: s.TranslationID,
		ExpiresIn:     time.Duration(s.ExpiresIn) * time.Second,
		Packets:       s.Packets,
	}, nil
}

func toSessionDump(f model.SessionFilter) (*cloudnat.CloudnatSessionDump, error) {
	req := &cloudnat.CloudnatSessionDump{TableID: f.VRF, Proto: ip_types.IPProto(f.Proto), Port: f.Port}
	if f.Addr.IsValid() {
		req.Addr = toPrefix(f.Addr)
	} else {
		// length 0 = any; the address family is irrelevant then.
		req.Addr = ip_types.Prefix{Address: toAddress(netip.IPv4Unspecified())}
	}
	return req, nil
}

func toSessionDel(k model.SessionKey) (*cloudnat.CloudnatSessionDel, error) {
	if !k.Src.Addr().IsValid() || !k.Dst.Addr().IsValid() {
		return nil, errors.New("session key needs source and destination addresses")
	}
	return &cloudnat.CloudnatSessionDel{
		TableID: k.VRF,
		Proto:   ip_types.IPProto(k.Proto),
		SrcAddr: toAddress(k.Src.Addr()),
		SrcPort: k.Src.Port(),
		DstAddr: toAddress(k.Dst.Addr()),
		DstPort: k.Dst.Port(),
	}, nil
}

// toSeconds converts a timeout; 0 stays 0 ("unchanged"). The API counts
// whole seconds in a u32.
func toSeconds(name string, d time.Duration) (uint32, error) {
	switch {
	case d < 0:
		return 0, unsupported("%s timeout %v is negative", name, d)
	case d%time.Second != 0:
		return 0, unsupported("%s timeout %v: the VPP plugin counts whole seconds", name, d)
	case d/time.Second > math.MaxUint32:
		return 0, unsupported("%s timeout %v is too long", name, d)
	}
	return uint32(d / time.Second), nil
}

func toTimeoutsSet(t model.Timeouts) (*cloudnat.CloudnatTimeoutsSet, error) {
	var req cloudnat.CloudnatTimeoutsSet
	var err error
	for _, f := range []struct {
		name string
		d    time.Duration
		out  *uint32
	}{
		{"udp", t.UDP, &req.UDP},
		{"tcp-established", t.TCPEstablished, &req.TCPEstablished},
		{"tcp-transitory", t.TCPTransitory, &req.TCPTransitory},
		{"icmp", t.ICMP, &req.ICMP},
	} {
		if *f.out, err = toSeconds(f.name, f.d); err != nil {
			return nil, err
		}
	}
	return &req, nil
}

func fromTimeouts(r *cloudnat.CloudnatTimeoutsGetReply) model.Timeouts {
	return model.Timeouts{
		UDP:            time.Duration(r.UDP) * time.Second,
		TCPEstablished: time.Duration(r.TCPEstablished) * time.Second,
		TCPTransitory:  time.Duration(r.TCPTransitory) * time.Second,
		ICMP:           time.Duration(r.ICMP) * time.Second,
	}
}
