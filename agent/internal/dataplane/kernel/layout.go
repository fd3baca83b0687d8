package kernel

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Chains of cloudnat's table. Every name starts with "cn_" so that none is
// an nft keyword: `nft list chain inet cloudnat <name>` works for all.
const (
	chainZone    = "cn_zone"     // filter prerouting raw(-300): ct zone from the input interface
	chainPre     = "cn_pre"      // nat prerouting dstnat(-100): jump cn_dnat
	chainOut     = "cn_out"      // nat output dstnat(-100): jump cn_dnat
	chainDNAT    = "cn_dnat"     // translation verdict maps, VIP drops
	chainPost    = "cn_post"     // nat postrouting srcnat(100): backend source rewrites, SNAT interfaces
	chainFinPre  = "cn_fin_pre"  // filter prerouting -90: jump cn_fin
	chainFinOut  = "cn_fin_out"  // filter output -90: jump cn_fin
	chainFinPost = "cn_fin_post" // filter postrouting 110: jump cn_fin
	chainFin     = "cn_fin"      // session limits, ct timeouts of new cloudnat flows
)

// Sets and maps of cloudnat's table (per family f = 4 or 6).
//
//	cn_tx<f>   map    zone . l4proto . addr . port       -> class id (lbClass.id)
//	cn_rec<f>_<0..63>  set  zone . l4proto . addr . port, with the translation's comment (read back)
//	cn_cls     vmap   class id -> goto cn_lb<f>[w]_<n>_<hash fields> (0: drop, no backend)
//	cn_bp<f>   map    zone . l4proto . addr . port . idx -> mark . backend addr . backend port
//	cn_ba<f>   map    zone . l4proto . addr . port . idx -> mark . backend addr (port kept)
//	cn_sra<f>  map    mark -> source address (backend source rewrite)
//	cn_srp<f>  map    mark -> source address . source port
//	cn_sro<f>  map    mark -> source port
//	cn_vip<f>  set    zone . addr (VIPs: other ports dropped)
//	cn_if      vmap   iifname . nfproto -> goto cn_snat<f>_<vrf>
//	cn_pool<f>_<vrf>        map  mark -> pool address
//	cn_x<f>_<vrf>_<bits>    set  excluded destination prefixes of one length
//
// famNames are the per-family set names, computed once (they are used
// for every element of a bulk write).
type famNames struct {
	tx, bp, ba, sra, srp, sro, vip string
	rec                            [recShards]string
}

var setNames = func() map[model.Family]*famNames {
	m := map[model.Family]*famNames{}
	for _, f := range []model.Family{model.IPv4, model.IPv6} {
		n := &famNames{tx: fmt.Sprintf("cn_tx%d", f), bp: fmt.Sprintf("cn_bp%d", f), ba: fmt.Sprintf("cn_ba%d", f),
			sra: fmt.Sprintf("cn_sra%d", f), srp: fmt.Sprintf("cn_srp%d", f), sro: fmt.Sprintf("cn_sro%d", f),
			vip: fmt.Sprintf("cn_vip%d", f)}
		for i := range n.rec {
			n.rec[i] = fmt.Sprintf("cn_rec%d_%d", f, i)
		}
		m[f] = n
	}
	return m
}()

func names(f model.Family) *famNames {
	if f == model.IPv4 {
		return setNames[model.IPv4]
	}
	return setNames[model.IPv6]
}

func setTx(f model.Family) string             { return names(f).tx }
func setBP(f model.Family) string             { return names(f).bp }
func setBA(f model.Family) string             { return names(f).ba }
func setSRA(f model.Family) string            { return names(f).sra }
func setSRP(f model.Family) string            { return names(f).srp }
func setSRO(f model.Family) string            { return names(f).sro }
func setVIP(f model.Family) string            { return names(f).vip }
func setRec(f model.Family, shard int) string { return names(f).rec[shard] }
func snatChain(p poolKey) string              { return fmt.Sprintf("cn_snat%d_%d", p.f, p.vrf) }
func setPool(p poolKey) string                { return fmt.Sprintf("cn_pool%d_%d", p.f, p.vrf) }
func setExcl(p poolKey, bits int) string {
	return fmt.Sprintf("cn_x%d_%d_%d", p.f, p.vrf, bits)
}

const (
	setIf  = "cn_if"
	setCls = "cn_cls" // class id -> goto cn_lb... (0: drop)
)

var families4and6 = []model.Family{model.IPv4, model.IPv6}

// poolKey names the source NAT state of one VRF and family.
type poolKey struct {
	f   model.Family
	vrf uint32
}

func parsePoolSet(name, prefix string) (poolKey, []string, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || len(rest) < 3 || rest[1] != '_' {
		return poolKey{}, nil, false
	}
	f, err := strconv.ParseUint(rest[:1], 10, 8)
	parts := strings.Split(rest[2:], "_")
	if err != nil || (f != 4 && f != 6) {
		return poolKey{}, nil, false
	}
	vrf, err := strconv.ParseUint(parts[0], 10, 32)
	if err != nil {
		return poolKey{}, nil, false
	}
	return poolKey{model.Family(f), uint32(vrf)}, parts[1:], true
}

// parseExclSet decodes cn_x<f>_<vrf>_<bits>.
func parseExclSet(name string) (poolKey, int, bool) {
	p, rest, ok := parsePoolSet(name, "cn_x")
	if !ok || len(rest) != 1 {
		return poolKey{}, 0, false
	}
	bits, err := strconv.Atoi(rest[0])
	if err != nil || bits < 0 || bits > addrLen(p.f)*8 {
		return poolKey{}, 0, false
	}
	return p, bits, true
}

// parsePoolName decodes cn_pool<f>_<vrf>.
func parsePoolName(name string) (poolKey, bool) {
	p, rest, ok := parsePoolSet(name, "cn_pool")
	return p, ok && len(rest) == 0
}

func addrLen(f model.Family) int {
	if f == model.IPv4 {
		return 4
	}
	return 16
}

func addrType(f model.Family) nftables.SetDatatype {
	if f == model.IPv4 {
		return nftables.TypeIPAddr
	}
	return nftables.TypeIP6Addr
}

// lbClass is what a translation's load-balancing chain depends on: the
// family, whether the key port is 0 (ICMP or all ports: the lookup key
// carries port 0), the backend count (jhash modulus) and the hash fields.
type lbClass struct {
	f    model.Family
	wild bool
	n    int
	hf   model.HashFields
}

// id is the class's key in cn_cls (0: no backend, drop). The translation
// maps carry class ids rather than verdicts: jumps in a set make the kernel
// re-validate the whole table on every change, ids do not.
func (c lbClass) id() uint32 {
	if c.n == 0 {
		return 0
	}
	id := uint32(c.n)<<8 | uint32(c.hf)
	if c.wild {
		id |= 1 << 23
	}
	if c.f == model.IPv6 {
		id |= 1 << 24
	}
	return id
}

func (c lbClass) chain() string {
	w := ""
	if c.wild {
		w = "w"
	}
	return fmt.Sprintf("cn_lb%d%s_%d_%d", c.f, w, c.n, c.hf)
}

// parseClass decodes a class chain name.
func parseClass(name string) (lbClass, bool) {
	rest, ok := strings.CutPrefix(name, "cn_lb")
	if !ok || len(rest) < 1 {
		return lbClass{}, false
	}
	var c lbClass
	switch rest[0] {
	case '4':
		c.f = model.IPv4
	case '6':
		c.f = model.IPv6
	default:
		return lbClass{}, false
	}
	rest = rest[1:]
	if r, ok := strings.CutPrefix(rest, "w"); ok {
		c.wild, rest = true, r
	}
	parts := strings.Split(strings.TrimPrefix(rest, "_"), "_")
	if len(parts) != 2 {
		return lbClass{}, false
	}
	n, err1 := strconv.Atoi(parts[0])
	hf, err2 := strconv.ParseUint(parts[1], 10, 8)
	if err1 != nil || err2 != nil || n < 1 {
		return lbClass{}, false
	}
	c.n, c.hf = n, model.HashFields(hf)
	return c, true
}

// effectiveHash is the hash fields a translation's class hashes on: all
// five when none were given, no ports for ICMP, the source address when
// nothing is left.
func effectiveHash(p model.Proto, hf model.HashFields) model.HashFields {
	if hf == 0 {
		hf = model.HashSrcAddr | model.HashDstAddr | model.HashSrcPort | model.HashDstPort | model.HashProto
	}
	if isICMP(p) {
		hf &^= model.HashSrcPort | model.HashDstPort
	}
	if hf == 0 {
		hf = model.HashSrcAddr
	}
	return hf
}

func classOf(t model.Translation) lbClass {
	return lbClass{f: familyOf(t.Key.VIP), wild: t.Key.Port == 0, n: len(t.Backends),
		hf: effectiveHash(t.Key.Proto, t.HashFields)}
}

// recShards is the number of record sets per family. A dump of one set
// costs the kernel time quadratic in its size (each dump step walks the
// set from its start), so the records a load reads are spread over many
// small sets.
const recShards = 64

// recShard is the record set of a translation key.
func recShard(key []byte) int {
	h := uint32(2166136261)
	for _, b := range key {
		h = (h ^ uint32(b)) * 16777619
	}
	return int(h % recShards)
}

// Key and data encodings. Each field of a concatenation takes whole 32-bit
// registers, as the kernel loads them: ct zone and meta l4proto zero-padded
// in host order, addresses as is, ports big-endian zero-padded, the jhash
// result (backend index) and marks in host order.
func u32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func zoneField(z uint32) []byte {
	b := make([]byte, 4)
	copy(b, binaryutil.NativeEndian.PutUint16(uint16(z)))
	return b
}

func portField(p uint16) []byte {
	b := make([]byte, 4)
	copy(b, binaryutil.BigEndian.PutUint16(p))
	return b
}

func txKey(k model.TranslationKey) []byte { return appendTxKey(make([]byte, 0, 28), k) }

// appendTxKey appends txKey(k) to b.
func appendTxKey(b []byte, k model.TranslationKey) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(k.VRF))
	b = append(b, 0, 0, byte(k.Proto), 0, 0, 0)
	b = appendAddr(b, k.VIP)
	return append(binary.BigEndian.AppendUint16(b, k.Port), 0, 0)
}

// appendAddr appends an address's bytes (4 or 16) without allocating.
func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return append(b, v[:]...)
	}
	v := a.As16()
	return append(b, v[:]...)
}

// appendBackendData appends backendData(mark, be) to b.
func appendBackendData(b []byte, mark uint32, be model.Backend) []byte {
	b = appendAddr(binary.NativeEndian.AppendUint32(b, mark), be.DstAddr)
	if be.DstPort != 0 {
		b = append(binary.BigEndian.AppendUint16(b, be.DstPort), 0, 0)
	}
	return b
}

func backendKey(k model.TranslationKey, idx int) []byte {
	return append(txKey(k), u32(uint32(idx))...)
}

func vipKey(vrf uint32, a netip.Addr) []byte {
	return append(zoneField(vrf), a.AsSlice()...)
}

func ifKey(i model.SNATInterface) []byte {
	return append(ifname(i.Interface), nfproto(i.Family), 0, 0, 0)
}

// decodeTxKey reverses txKey (and the first part of backendKey).
func decodeTxKey(f model.Family, b []byte) (model.TranslationKey, bool) {
	l := addrLen(f)
	if len(b) < 12+l {
		return model.TranslationKey{}, false
	}
	a, _ := netip.AddrFromSlice(b[8 : 8+l])
	return model.TranslationKey{
		VRF:   uint32(binaryutil.NativeEndian.Uint16(b[0:2])),
		Proto: model.Proto(b[4]),
		VIP:   a,
		Port:  binaryutil.BigEndian.Uint16(b[8+l : 10+l]),
	}, true
}

func decodeIfKey(b []byte) (model.SNATInterface, bool) {
	if len(b) != unix.IFNAMSIZ+4 {
		return model.SNATInterface{}, false
	}
	name := string(b[:unix.IFNAMSIZ])
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	f := model.IPv4
	if b[unix.IFNAMSIZ] == unix.NFPROTO_IPV6 {
		f = model.IPv6
	}
	return model.SNATInterface{Interface: name, Family: f}, true
}

// backendData is the cn_bp/cn_ba value of a backend: mark . addr [. port].
func backendData(mark uint32, b model.Backend) []byte {
	d := append(u32(mark), b.DstAddr.AsSlice()...)
	if b.DstPort != 0 {
		d = append(d, portField(b.DstPort)...)
	}
	return d
}

func decodeBackendData(f model.Family, withPort bool, d []byte) (uint32, model.Backend, bool) {
	l := addrLen(f)
	want := 4 + l
	if withPort {
		want += 4
	}
	if len(d) != want {
		return 0, model.Backend{}, false
	}
	var b model.Backend
	b.DstAddr, _ = netip.AddrFromSlice(d[4 : 4+l])
	if withPort {
		b.DstPort = binaryutil.BigEndian.Uint16(d[4+l : 6+l])
	}
	return binaryutil.NativeEndian.Uint32(d[:4]), b, true
}

// txComment is the userdata of a translation's cn_rec element: what the
// key does not say (id, kind, given hash fields, backend count) and, when
// they fit the 256 bytes of element userdata, the backends themselves
// ("dst,dport,src,sport" each, "-" for no address). Loading a table then
// reads the translation maps only: a dump of a large set costs the kernel
// time quadratic in its size (each dump step walks it from the start).
func txComment(id uint32, t model.Translation) string {
	b := make([]byte, 0, 32+24*len(t.Backends))
	b = append(b, "cn:t "...)
	b = strconv.AppendUint(b, uint64(id), 10)
	b = append(b, ' ')
	b = append(b, t.Kind.String()...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(t.HashFields), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(t.Backends)), 10)
	head := len(b)
	for _, be := range t.Backends {
		b = append(b, ' ')
		b = appendAddrField(b, be.DstAddr)
		b = append(b, ',')
		b = strconv.AppendUint(b, uint64(be.DstPort), 10)
		b = append(b, ',')
		b = appendAddrField(b, be.SrcAddr)
		b = append(b, ',')
		b = strconv.AppendUint(b, uint64(be.SrcPort), 10)
		if len(b) > maxComment {
			return string(b[:head])
		}
	}
	return string(b)
}

func appendAddrField(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, '-')
	}
	return a.AppendTo(b)
}

// maxComment keeps a comment (with its userdata header and NUL) within
// the kernel's 256-byte element userdata.
const maxComment = 250

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

// txInfo is a decoded cn_tx comment; backends is nil when the comment
// does not carry them.
type txInfo struct {
	id       uint32
	kind     model.Kind
	hf       model.HashFields
	n        int
	backends []model.Backend
}

func parseTxComment(s string) (txInfo, error) {
	f := strings.Fields(s)
	bad := fmt.Errorf("bad translation comment %q", s)
	if len(f) < 5 || f[0] != "cn:t" {
		return txInfo{}, bad
	}
	v, err1 := strconv.ParseUint(f[1], 10, 32)
	h, err2 := strconv.ParseUint(f[3], 10, 8)
	nb, err3 := strconv.Atoi(f[4])
	if err1 != nil || err2 != nil || err3 != nil || nb < 0 || nb > maxBackends || v == 0 || v > maxTranslationID {
		return txInfo{}, bad
	}
	ti := txInfo{id: uint32(v), hf: model.HashFields(h), n: nb}
	switch f[2] {
	case "vip":
		ti.kind = model.KindVIP
	case "real":
		ti.kind = model.KindReal
	default:
		return txInfo{}, bad
	}
	switch len(f) {
	case 5:
		return ti, nil
	case 5 + nb:
	default:
		return txInfo{}, bad
	}
	ti.backends = make([]model.Backend, nb)
	for i, x := range f[5:] {
		p := strings.Split(x, ",")
		if len(p) != 4 {
			return txInfo{}, bad
		}
		dst, e1 := parseAddrField(p[0])
		dp, e2 := strconv.ParseUint(p[1], 10, 16)
		src, e3 := parseAddrField(p[2])
		sp, e4 := strconv.ParseUint(p[3], 10, 16)
		if e1 != nil || e2 != nil || e3 != nil || e4 != nil || !dst.IsValid() {
			return txInfo{}, bad
		}
		ti.backends[i] = model.Backend{DstAddr: dst, DstPort: uint16(dp), SrcAddr: src, SrcPort: uint16(sp)}
	}
	return ti, nil
}

func limitComment(l model.SessionLimit) string {
	return fmt.Sprintf("cn:l %d %d", l.VRF, l.Max)
}

func parseLimitComment(s string) (model.SessionLimit, bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "cn:l" {
		return model.SessionLimit{}, false
	}
	v, err1 := strconv.ParseUint(f[1], 10, 32)
	m, err2 := strconv.ParseUint(f[2], 10, 32)
	if err1 != nil || err2 != nil {
		return model.SessionLimit{}, false
	}
	return model.SessionLimit{VRF: uint32(v), Max: uint32(m)}, true
}

// Rule comments of the drop rules whose counters Stats reads.
const (
	commentVIPDrop = "cn:d"
	commentLimit   = "cn:l"
)

func nativeU32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binaryutil.NativeEndian.Uint32(b[:4])
}

func nativeU16(b []byte) uint16 { return binaryutil.NativeEndian.Uint16(b[:2]) }

func bigU16(b []byte) uint16 { return binaryutil.BigEndian.Uint16(b[:2]) }
