// Package validate is the single place where API requests are checked and
// turned into intent. Every error is a *FieldError naming the request field
// by its path, e.g. "translation.backends[1].dst_addr: address family IPv6
// does not match vip 30.0.0.2". Request dispatches on the request type for
// the server's validation interceptor; the conversion functions are what
// handlers use to get model values.
package validate

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// Limits on every request (documented in proto/cloudnat/v1/cloudnat.proto;
// a request beyond them is INVALID_ARGUMENT and changes nothing).
const (
	MaxBackends     = 255
	MaxMaglevLen    = 65521
	MinTimeout      = time.Second
	MaxTimeout      = 7 * 24 * time.Hour
	MaxInterfaceLen = 63
	// MaxSNATAddresses is the most addresses one SetSNATAddresses request
	// (one VRF's pool) may hold.
	MaxSNATAddresses = 16384
	// MaxAddrLen bounds an address or prefix string (the longest IPv6
	// prefix in text, "ffff:...:255.255.255.255/128", is 49 bytes).
	MaxAddrLen = 64
	// MaxMessageSize is the largest request the gRPC server accepts
	// (RESOURCE_EXHAUSTED beyond it); 16,384 IPv6 addresses fit.
	MaxMessageSize = 1 << 20
	// QuoteMax is how much of a bad input an error quotes.
	QuoteMax = 64
)

// Quote quotes s for an error message: at most QuoteMax bytes of it, and
// its length when it was cut, so a huge input never makes a huge error or
// log line.
func Quote(s string) string {
	if len(s) <= QuoteMax {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…(%d bytes)", Prefix8(s, QuoteMax), len(s))
}

// Prefix8 is s cut to at most max bytes without splitting a UTF-8
// sequence.
func Prefix8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// tooLong refuses a string longer than max bytes.
func tooLong(field, s string, max int) error {
	if len(s) > max {
		return fieldErr(field, "%s is longer than %d bytes", Quote(s), max)
	}
	return nil
}

// FieldError is an invalid request field.
type FieldError struct {
	Field string // path, e.g. "translation.backends[1].dst_addr"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// AsFieldError returns err's *FieldError, if any.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}

func join(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// Addr parses a unicast address (v4-mapped IPv6 is taken as IPv4).
func Addr(field, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, fieldErr(field, "required")
	}
	if err := tooLong(field, s, MaxAddrLen); err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fieldErr(field, "%s is not an IP address", Quote(s))
	}
	if a.Zone() != "" {
		return netip.Addr{}, fieldErr(field, "%s: zones are not supported", s)
	}
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return netip.Addr{}, fieldErr(field, "%s is the unspecified address", s)
	case a.IsMulticast():
		return netip.Addr{}, fieldErr(field, "%s is a multicast address", s)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, fieldErr(field, "%s is the broadcast address", s)
	}
	return a, nil
}

// optAddr is Addr for an optional address ("" = keep) of family like.
func optAddr(field, s string, like netip.Addr, likeName string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := Addr(field, s)
	if err != nil {
		return a, err
	}
	if like.IsValid() && a.Is4() != like.Is4() {
		return netip.Addr{}, fieldErr(field, "address family %s does not match %s %s", familyName(a), likeName, like)
	}
	return a, nil
}

// Prefix parses a prefix; a bare address is a host prefix. Host bits must
// be zero.
func Prefix(field, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, fieldErr(field, "required")
	}
	if err := tooLong(field, s, MaxAddrLen); err != nil {
		return netip.Prefix{}, err
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fieldErr(field, "%s is not a prefix (want address/length)", Quote(s))
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fieldErr(field, "%s is not a prefix (want address/length)", Quote(s))
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fieldErr(field, "%s: use the IPv4 form", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fieldErr(field, "%s has host bits set (did you mean %s?)", s, m)
	}
	return p, nil
}

// VRF checks a FIB table id.
func VRF(field string, v uint32) (uint32, error) {
	if v == model.AllVRFs {
		return 0, fieldErr(field, "%d is reserved (it means all VRFs)", v)
	}
	return v, nil
}

// Port checks a port number; required makes 0 an error.
func Port(field string, v uint32, required bool) (uint16, error) {
	if v > 65535 {
		return 0, fieldErr(field, "%d is out of range (0..65535)", v)
	}
	if required && v == 0 {
		return 0, fieldErr(field, "required (1..65535)")
	}
	return uint16(v), nil
}

// Proto converts a protocol; unspecified is an error when required.
func Proto(field string, p pb.Protocol, required bool) (model.Proto, error) {
	switch p {
	case pb.Protocol_PROTOCOL_TCP:
		return model.ProtoTCP, nil
	case pb.Protocol_PROTOCOL_UDP:
		return model.ProtoUDP, nil
	case pb.Protocol_PROTOCOL_ICMP:
		return model.ProtoICMP, nil
	case pb.Protocol_PROTOCOL_ICMPV6:
		return model.ProtoICMPv6, nil
	case pb.Protocol_PROTOCOL_UNSPECIFIED:
		if required {
			return 0, fieldErr(field, "required (tcp, udp or icmp)")
		}
		return 0, nil
	}
	return 0, fieldErr(field, "unknown protocol %d", int32(p))
}

func isPortless(p model.Proto) bool { return p == model.ProtoICMP || p == model.ProtoICMPv6 }

// key checks the four key fields of a translation (or of a key message).
func key(parent string, vrf uint32, vip string, port uint32, proto pb.Protocol) (model.TranslationKey, error) {
	var k model.TranslationKey
	var err error
	if k.VRF, err = VRF(join(parent, "vrf"), vrf); err != nil {
		return k, err
	}
	if k.VIP, err = Addr(join(parent, "vip"), vip); err != nil {
		return k, err
	}
	if k.Proto, err = Proto(join(parent, "proto"), proto, true); err != nil {
		return k, err
	}
	if k.Proto == model.ProtoICMPv6 {
		if k.VIP.Is4() {
			return k, fieldErr(join(parent, "proto"), "ICMPv6 does not match IPv4 vip %s", k.VIP)
		}
		k.Proto = model.ProtoICMP // the VIP's family decides
	}
	if k.Port, err = Port(join(parent, "port"), port, !isPortless(k.Proto)); err != nil {
		return k, err
	}
	if isPortless(k.Proto) && k.Port != 0 {
		return k, fieldErr(join(parent, "port"), "must be 0 for icmp (a translation takes every echo identifier)")
	}
	return k, nil
}

// TranslationKey checks a key message.
func TranslationKey(field string, k *pb.TranslationKey) (model.TranslationKey, error) {
	if k == nil {
		return model.TranslationKey{}, fieldErr(field, "required")
	}
	return key(field, k.GetVrf(), k.GetVip(), k.GetPort(), k.GetProto())
}

var hashFieldBits = map[pb.HashField]model.HashFields{
	pb.HashField_HASH_FIELD_SRC_ADDR: model.HashSrcAddr,
	pb.HashField_HASH_FIELD_DST_ADDR: model.HashDstAddr,
	pb.HashField_HASH_FIELD_SRC_PORT: model.HashSrcPort,
	pb.HashField_HASH_FIELD_DST_PORT: model.HashDstPort,
	pb.HashField_HASH_FIELD_PROTO:    model.HashProto,
}

// Translation checks a translation and converts it.
func Translation(field string, t *pb.Translation) (model.Translation, error) {
	var out model.Translation
	if t == nil {
		return out, fieldErr(field, "required")
	}
	var err error
	if out.Key, err = key(field, t.GetVrf(), t.GetVip(), t.GetPort(), t.GetProto()); err != nil {
		return out, err
	}
	switch t.GetKind() {
	case pb.TranslationKind_TRANSLATION_KIND_UNSPECIFIED, pb.TranslationKind_TRANSLATION_KIND_VIP:
		out.Kind = model.KindVIP
	case pb.TranslationKind_TRANSLATION_KIND_REAL:
		out.Kind = model.KindReal
	default:
		return out, fieldErr(join(field, "kind"), "unknown kind %d", int32(t.GetKind()))
	}
	switch t.GetLb() {
	case pb.LBMethod_LB_METHOD_UNSPECIFIED, pb.LBMethod_LB_METHOD_HASH:
		out.LB = model.LBHash
	case pb.LBMethod_LB_METHOD_MAGLEV:
		out.LB = model.LBMaglev
	default:
		return out, fieldErr(join(field, "lb"), "unknown load-balancing method %d", int32(t.GetLb()))
	}
	for i, h := range t.GetHashFields() {
		f := fmt.Sprintf("%s[%d]", join(field, "hash_fields"), i)
		bit, ok := hashFieldBits[h]
		if !ok {
			return out, fieldErr(f, "unknown hash field %d", int32(h))
		}
		if out.HashFields&bit != 0 {
			return out, fieldErr(f, "%s given twice", strings.ToLower(strings.TrimPrefix(h.String(), "HASH_FIELD_")))
		}
		out.HashFields |= bit
	}
	nb := len(t.GetBackends())
	if ml := t.GetMaglevLen(); ml != 0 {
		f := join(field, "maglev_len")
		switch {
		case out.LB != model.LBMaglev:
			return out, fieldErr(f, "only meaningful with lb maglev")
		case ml > MaxMaglevLen:
			return out, fieldErr(f, "%d is too large (at most %d)", ml, MaxMaglevLen)
		case !big.NewInt(int64(ml)).ProbablyPrime(0):
			return out, fieldErr(f, "%d is not a prime", ml)
		case int(ml) < nb:
			return out, fieldErr(f, "%d is smaller than the number of backends (%d)", ml, nb)
		}
		out.MaglevLen = ml
	}
	bf := join(field, "backends")
	switch {
	case nb == 0:
		return out, fieldErr(bf, "at least one backend is required")
	case nb > MaxBackends:
		return out, fieldErr(bf, "%d backends, at most %d", nb, MaxBackends)
	}
	out.Backends = make([]model.Backend, 0, nb)
	seen := make(map[model.Backend]int, nb)
	vipName := "vip"
	for i, b := range t.GetBackends() {
		f := fmt.Sprintf("%s[%d]", bf, i)
		if b == nil {
			return out, fieldErr(f, "required")
		}
		var mb model.Backend
		if b.GetDstAddr() == "" {
			return out, fieldErr(join(f, "dst_addr"), "required")
		}
		if mb.DstAddr, err = optAddr(join(f, "dst_addr"), b.GetDstAddr(), out.Key.VIP, vipName); err != nil {
			return out, err
		}
		if mb.SrcAddr, err = optAddr(join(f, "src_addr"), b.GetSrcAddr(), out.Key.VIP, vipName); err != nil {
			return out, err
		}
		if mb.SrcPort, err = Port(join(f, "src_port"), b.GetSrcPort(), false); err != nil {
			return out, err
		}
		if mb.DstPort, err = Port(join(f, "dst_port"), b.GetDstPort(), false); err != nil {
			return out, err
		}
		if isPortless(out.Key.Proto) {
			for _, p := range []struct {
				name string
				v    uint16
			}{{"src_port", mb.SrcPort}, {"dst_port", mb.DstPort}} {
				if p.v != 0 {
					return out, fieldErr(join(f, p.name), "must be 0 for icmp (echo identifiers are not rewritten)")
				}
			}
		}
		if j, dup := seen[mb]; dup {
			return out, fieldErr(f, "duplicates %s[%d]", bf, j)
		}
		seen[mb] = i
		out.Backends = append(out.Backends, mb)
	}
	return out, nil
}

// SNATAddresses checks a SetSNATAddresses request.
func SNATAddresses(r *pb.SetSNATAddressesRequest) (uint32, []model.SNATAddress, error) {
	vrf, err := VRF("vrf", r.GetVrf())
	if err != nil {
		return 0, nil, err
	}
	if n := len(r.GetAddrs()); n > MaxSNATAddresses {
		return 0, nil, fieldErr("addrs", "%d addresses, at most %d in one pool", n, MaxSNATAddresses)
	}
	out := make([]model.SNATAddress, 0, len(r.GetAddrs()))
	seen := map[netip.Addr]int{}
	for i, s := range r.GetAddrs() {
		f := fmt.Sprintf("addrs[%d]", i)
		a, err := Addr(f, s)
		if err != nil {
			return 0, nil, err
		}
		if j, dup := seen[a]; dup {
			return 0, nil, fieldErr(f, "%s duplicates addrs[%d]", a, j)
		}
		seen[a] = i
		out = append(out, model.SNATAddress{VRF: vrf, Addr: a})
	}
	return vrf, out, nil
}

// SNATExclusion checks a VRF and prefix pair.
func SNATExclusion(vrf uint32, prefix string) (model.SNATExclusion, error) {
	v, err := VRF("vrf", vrf)
	if err != nil {
		return model.SNATExclusion{}, err
	}
	p, err := Prefix("prefix", prefix)
	if err != nil {
		return model.SNATExclusion{}, err
	}
	return model.SNATExclusion{VRF: v, Prefix: p}, nil
}

// InterfaceName checks a dataplane interface name against what every
// dataplane needs (VPP names hold "/", e.g. GigabitEthernet0/8/0); each
// dataplane's dataplane.Checker adds its own rules (the kernel's 15 bytes).
func InterfaceName(field, name string) (string, error) {
	switch {
	case name == "":
		return "", fieldErr(field, "required")
	case len(name) > MaxInterfaceLen:
		return "", fieldErr(field, "%s is longer than %d bytes", Quote(name), MaxInterfaceLen)
	case !utf8.ValidString(name):
		return "", fieldErr(field, "%s is not valid UTF-8", Quote(name))
	}
	for _, c := range name {
		if unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return "", fieldErr(field, "%s contains a space or control character", Quote(name))
		}
	}
	return name, nil
}

// SNATInterfaces checks an enable/disable request; neither family = both.
func SNATInterfaces(r *pb.SNATInterfaceRequest) ([]model.SNATInterface, error) {
	name, err := InterfaceName("interface", r.GetInterface())
	if err != nil {
		return nil, err
	}
	v4, v6 := r.GetIpv4(), r.GetIpv6()
	if !v4 && !v6 {
		v4, v6 = true, true
	}
	var out []model.SNATInterface
	if v4 {
		out = append(out, model.SNATInterface{Interface: name, Family: model.IPv4})
	}
	if v6 {
		out = append(out, model.SNATInterface{Interface: name, Family: model.IPv6})
	}
	return out, nil
}

// optVRF converts an optional VRF; unset = all.
func optVRF(field string, v *uint32) (uint32, error) {
	if v == nil {
		return model.AllVRFs, nil
	}
	return VRF(field, *v)
}

// SessionFilter checks a ListSessions request.
func SessionFilter(r *pb.ListSessionsRequest) (model.SessionFilter, error) {
	var f model.SessionFilter
	var err error
	if f.VRF, err = optVRF("vrf", r.Vrf); err != nil {
		return f, err
	}
	if f.Proto, err = Proto("proto", r.GetProto(), false); err != nil {
		return f, err
	}
	if r.GetAddr() != "" {
		if f.Addr, err = Prefix("addr", r.GetAddr()); err != nil {
			return f, err
		}
	}
	if f.Port, err = Port("port", r.GetPort(), false); err != nil {
		return f, err
	}
	return f, nil
}

// SessionKey checks a DeleteSession request. ICMP with IPv6 addresses is
// ICMPv6.
func SessionKey(r *pb.DeleteSessionRequest) (model.SessionKey, error) {
	var k model.SessionKey
	var err error
	if k.VRF, err = VRF("vrf", r.GetVrf()); err != nil {
		return k, err
	}
	if k.Proto, err = Proto("proto", r.GetProto(), true); err != nil {
		return k, err
	}
	src, err := Addr("src_addr", r.GetSrcAddr())
	if err != nil {
		return k, err
	}
	dst, err := Addr("dst_addr", r.GetDstAddr())
	if err != nil {
		return k, err
	}
	if src.Is4() != dst.Is4() {
		return k, fieldErr("dst_addr", "address family %s does not match src_addr %s", familyName(dst), src)
	}
	switch {
	case k.Proto == model.ProtoICMP && src.Is6():
		k.Proto = model.ProtoICMPv6
	case k.Proto == model.ProtoICMPv6 && src.Is4():
		return k, fieldErr("proto", "ICMPv6 does not match IPv4 src_addr %s", src)
	}
	sp, err := Port("src_port", r.GetSrcPort(), !isPortless(k.Proto))
	if err != nil {
		return k, err
	}
	dp, err := Port("dst_port", r.GetDstPort(), !isPortless(k.Proto))
	if err != nil {
		return k, err
	}
	k.Src, k.Dst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return k, nil
}

// PurgeVRF checks a PurgeSessions request; unset = all VRFs.
func PurgeVRF(r *pb.PurgeSessionsRequest) (uint32, error) {
	return optVRF("vrf", r.Vrf)
}

func timeout(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fieldErr(field, "invalid duration (seconds %d, nanos %d)", d.GetSeconds(), d.GetNanos())
	}
	v := d.AsDuration()
	switch {
	case v < MinTimeout || v > MaxTimeout:
		return 0, fieldErr(field, "%s is out of range (%s..%s)", v, MinTimeout, MaxTimeout)
	case v%time.Second != 0:
		return 0, fieldErr(field, "%s is not a whole number of seconds", v)
	}
	return v, nil
}

// Timeouts checks a SetTimeouts request; unset fields are zero
// (unchanged).
func Timeouts(r *pb.SetTimeoutsRequest) (model.Timeouts, error) {
	t := r.GetTimeouts()
	if t == nil {
		return model.Timeouts{}, fieldErr("timeouts", "required")
	}
	var out model.Timeouts
	var err error
	if out.UDP, err = timeout("timeouts.udp", t.GetUdp()); err != nil {
		return out, err
	}
	if out.TCPEstablished, err = timeout("timeouts.tcp_established", t.GetTcpEstablished()); err != nil {
		return out, err
	}
	if out.TCPTransitory, err = timeout("timeouts.tcp_transitory", t.GetTcpTransitory()); err != nil {
		return out, err
	}
	if out.ICMP, err = timeout("timeouts.icmp", t.GetIcmp()); err != nil {
		return out, err
	}
	if out == (model.Timeouts{}) {
		return out, fieldErr("timeouts", "set at least one of udp, tcp_established, tcp_transitory, icmp")
	}
	return out, nil
}

// SessionLimit checks a SetSessionLimit request; unset VRF = global.
func SessionLimit(r *pb.SetSessionLimitRequest) (model.SessionLimit, error) {
	vrf, err := optVRF("vrf", r.Vrf)
	if err != nil {
		return model.SessionLimit{}, err
	}
	return model.SessionLimit{VRF: vrf, Max: r.GetMax()}, nil
}

// Request validates any API request; types without rules (and non-API
// messages such as health checks) pass.
func Request(req any) error {
	var err error
	switch r := req.(type) {
	case *pb.CreateTranslationRequest:
		_, err = Translation("translation", r.GetTranslation())
	case *pb.UpdateTranslationRequest:
		_, err = Translation("translation", r.GetTranslation())
	case *pb.DeleteTranslationRequest:
		_, err = TranslationKey("key", r.GetKey())
	case *pb.GetTranslationRequest:
		_, err = TranslationKey("key", r.GetKey())
	case *pb.ListTranslationsRequest:
		_, err = optVRF("vrf", r.Vrf)
	case *pb.SetSNATAddressesRequest:
		_, _, err = SNATAddresses(r)
	case *pb.AddSNATExclusionRequest:
		_, err = SNATExclusion(r.GetVrf(), r.GetPrefix())
	case *pb.DeleteSNATExclusionRequest:
		_, err = SNATExclusion(r.GetVrf(), r.GetPrefix())
	case *pb.SNATInterfaceRequest:
		_, err = SNATInterfaces(r)
	case *pb.ListSessionsRequest:
		_, err = SessionFilter(r)
	case *pb.DeleteSessionRequest:
		_, err = SessionKey(r)
	case *pb.PurgeSessionsRequest:
		_, err = PurgeVRF(r)
	case *pb.SetTimeoutsRequest:
		_, err = Timeouts(r)
	case *pb.SetSessionLimitRequest:
		_, err = SessionLimit(r)
	default:
		err = poolRequest(req)
	}
	return err
}
