package kernel

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Each rule that implements a model object carries that object's identity
// in its comment (nf_tables rule userdata, shown by `nft list`), so the
// object can be rebuilt from the kernel after an agent restart and the
// lists always report what the kernel has. Comments stay under 128 bytes
// (nft's limit) even with IPv6 addresses.
const (
	tagTranslation = "cn:t" // id vrf proto kind lb hashfields vip port nbackends
	tagBackend     = "cn:b" // id index dst dport src sport
	tagSNATAddr    = "cn:a" // vrf addr
	tagExclusion   = "cn:x" // vrf prefix
	tagInterface   = "cn:i" // family name
	tagLimit       = "cn:l" // vrf max
	tagVIPDrop     = "cn:d" // vrf vip (not an object; names the drop counter)
)

func addrField(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func parseAddrField(s string) (netip.Addr, error) {
	if s == "-" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}

func translationComment(id uint16, t model.Translation) string {
	return fmt.Sprintf("%s %d %d %d %s %s %d %s %d %d", tagTranslation, id, t.Key.VRF, t.Key.Proto,
		t.Kind, t.LB, t.HashFields, t.Key.VIP, t.Key.Port, len(t.Backends))
}

func backendComment(id uint16, idx int, b model.Backend) string {
	return fmt.Sprintf("%s %d %d %s %d %s %d", tagBackend, id, idx, addrField(b.DstAddr), b.DstPort,
		addrField(b.SrcAddr), b.SrcPort)
}

func snatAddrComment(a model.SNATAddress) string {
	return fmt.Sprintf("%s %d %s", tagSNATAddr, a.VRF, a.Addr)
}

func exclusionComment(e model.SNATExclusion) string {
	return fmt.Sprintf("%s %d %s", tagExclusion, e.VRF, e.Prefix)
}

func interfaceComment(i model.SNATInterface) string {
	return fmt.Sprintf("%s %d %s", tagInterface, i.Family, i.Interface)
}

func limitComment(l model.SessionLimit) string {
	return fmt.Sprintf("%s %d %d", tagLimit, l.VRF, l.Max)
}

func vipDropComment(vrf uint32, vip netip.Addr) string {
	return fmt.Sprintf("%s %d %s", tagVIPDrop, vrf, vip)
}

// parsed is one decoded comment.
type parsed struct {
	tag    string
	id     uint16
	idx    int
	trans  model.Translation // tagTranslation: Backends has nbackends zero entries
	back   model.Backend
	addr   model.SNATAddress
	excl   model.SNATExclusion
	iface  model.SNATInterface
	limit  model.SessionLimit
	nbacks int
}

type fieldReader struct {
	f   []string
	i   int
	err error
}

func (r *fieldReader) next() string {
	if r.err != nil {
		return ""
	}
	if r.i >= len(r.f) {
		r.err = fmt.Errorf("too few fields")
		return ""
	}
	s := r.f[r.i]
	r.i++
	return s
}

func (r *fieldReader) uint(bits int) uint64 {
	s := r.next()
	if r.err != nil {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		r.err = err
	}
	return v
}

func (r *fieldReader) addr() netip.Addr {
	s := r.next()
	if r.err != nil {
		return netip.Addr{}
	}
	a, err := parseAddrField(s)
	if err != nil {
		r.err = err
	}
	return a
}

func (r *fieldReader) done() error {
	if r.err == nil && r.i != len(r.f) {
		r.err = fmt.Errorf("%d extra fields", len(r.f)-r.i)
	}
	return r.err
}

// parseComment decodes a cloudnat rule comment; ok is false for comments
// that name no object (or for foreign text).
func parseComment(c string) (p parsed, ok bool, err error) {
	f := strings.Fields(c)
	if len(f) == 0 || !strings.HasPrefix(f[0], "cn:") {
		return p, false, nil
	}
	p.tag = f[0]
	r := &fieldReader{f: f, i: 1}
	switch p.tag {
	case tagTranslation:
		p.id = uint16(r.uint(16))
		p.trans.Key.VRF = uint32(r.uint(32))
		p.trans.Key.Proto = model.Proto(r.uint(8))
		switch r.next() {
		case "vip":
			p.trans.Kind = model.KindVIP
		case "real":
			p.trans.Kind = model.KindReal
		default:
			r.err = fmt.Errorf("bad kind")
		}
		if lb := r.next(); lb != "hash" && r.err == nil {
			r.err = fmt.Errorf("bad lb method %q", lb)
		}
		p.trans.HashFields = model.HashFields(r.uint(8))
		p.trans.Key.VIP = r.addr()
		p.trans.Key.Port = uint16(r.uint(16))
		p.nbacks = int(r.uint(32))
	case tagBackend:
		p.id = uint16(r.uint(16))
		p.idx = int(r.uint(32))
		p.back.DstAddr = r.addr()
		p.back.DstPort = uint16(r.uint(16))
		p.back.SrcAddr = r.addr()
		p.back.SrcPort = uint16(r.uint(16))
	case tagSNATAddr:
		p.addr.VRF = uint32(r.uint(32))
		p.addr.Addr = r.addr()
	case tagExclusion:
		p.excl.VRF = uint32(r.uint(32))
		s := r.next()
		if r.err == nil {
			p.excl.Prefix, r.err = netip.ParsePrefix(s)
		}
	case tagInterface:
		p.iface.Family = model.Family(r.uint(8))
		p.iface.Interface = r.next()
	case tagLimit:
		p.limit.VRF = uint32(r.uint(32))
		p.limit.Max = uint32(r.uint(32))
	default:
		return p, false, nil
	}
	if err := r.done(); err != nil {
		return p, false, fmt.Errorf("comment %q: %w", c, err)
	}
	return p, true, nil
}
