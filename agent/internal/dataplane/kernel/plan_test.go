package kernel

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

var sampleHost = hostView{vrfOf: map[string]uint32{"in7": 7, "out7": 7, "big": 70000}}

func sampleTranslations() []model.Translation {
	return []model.Translation{
		{Key: model.TranslationKey{VIP: ip("10.99.0.10"), Port: 80, Proto: model.ProtoTCP}, LB: model.LBHash,
			Backends: []model.Backend{{DstAddr: ip("10.0.0.1"), DstPort: 8080}, {DstAddr: ip("10.0.0.2"), SrcAddr: ip("10.0.0.254"), SrcPort: 1234}}},
		{Key: model.TranslationKey{VRF: 7, VIP: ip("fd00::9"), Port: 53, Proto: model.ProtoUDP}, LB: model.LBHash,
			Kind: model.KindReal, HashFields: model.HashSrcAddr | model.HashSrcPort,
			Backends: []model.Backend{{DstAddr: ip("fd00::1")}, {DstAddr: ip("fd00::2"), SrcPort: 9}, {DstAddr: ip("fd00::3"), DstPort: 5353, SrcAddr: ip("fd00::ff")}}},
		{Key: model.TranslationKey{VIP: ip("10.99.0.10"), Proto: model.ProtoICMP}, LB: model.LBHash,
			Backends: []model.Backend{{DstAddr: ip("10.0.0.1")}}},
		{Key: model.TranslationKey{VIP: ip("10.99.0.11"), Port: 1, Proto: model.ProtoTCP}, LB: model.LBHash},
	}
}

// populate puts the sample objects one by one, applying each batch to sim.
func populate(t *testing.T, c *cache, sim *simTable) {
	t.Helper()
	step := func(what string, f func(b *batch)) {
		t.Helper()
		b := &batch{}
		f(b)
		if err := sim.apply(b); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for _, tr := range sampleTranslations() {
		step("put "+tr.Key.String(), func(b *batch) { c.putTranslation(b, tr) })
	}
	for _, a := range []model.SNATAddress{{VRF: 7, Addr: ip("192.0.2.1")}, {VRF: 7, Addr: ip("192.0.2.2")}, {VRF: 7, Addr: ip("192.0.2.3")}, {Addr: ip("2001:db8::1")}} {
		step("put address", func(b *batch) { c.putAddress(b, a) })
	}
	for _, e := range []model.SNATExclusion{{VRF: 7, Prefix: netip.MustParsePrefix("10.0.0.0/8")}, {VRF: 7, Prefix: netip.MustParsePrefix("10.1.0.0/16")},
		{VRF: 7, Prefix: netip.MustParsePrefix("10.2.0.0/16")}, {Prefix: netip.MustParsePrefix("2001:db8:ee::/48")}} {
		step("put exclusion", func(b *batch) { c.putExclusion(b, e) })
	}
	for _, i := range []model.SNATInterface{{Interface: "in7", Family: model.IPv4}, {Interface: "eth0", Family: model.IPv6}} {
		step("put interface", func(b *batch) { c.putInterface(b, i) })
	}
	step("limit", func(b *batch) { c.setLimit(b, model.SessionLimit{VRF: 7, Max: 100}) })
	step("limit all", func(b *batch) { c.setLimit(b, model.SessionLimit{VRF: model.AllVRFs, Max: 1000}) })
	to := model.DefaultTimeouts
	to.UDP = 33 * time.Second
	step("timeouts", func(b *batch) { c.setTimeouts(b, to) })
	for _, p := range samplePools() {
		step("pool", func(b *batch) { c.putPool(b, p) })
	}
	for _, bd := range sampleBindings() {
		step("binding", func(b *batch) { c.putBinding(b, bd) })
	}
	for _, blk := range sampleBlocks() {
		step("block", func(b *batch) { c.putBlock(b, blk) })
	}
	for _, s := range sampleStatics() {
		step("static", func(b *batch) { c.putStatic(b, s) })
	}
}

func samplePools() []model.Pool {
	var many []model.AddrRange
	for i := 0; i < 30; i++ { // a record of several parts
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)})
		many = append(many, model.AddrRange{First: a, Last: a})
	}
	return []model.Pool{
		{Name: "many", Ranges: many, StaticBlocksOnly: true},
		{Name: "gw4", Ranges: []model.AddrRange{{First: ip("198.51.100.1"), Last: ip("198.51.100.2")}}, PortMin: 1024, PortMax: 65535,
			BlockSize: 64, MaxBlocksPerSubscriber: 1, ReuseDelay: 2 * time.Minute, StaticBlocksOnly: true},
		{Name: "gw 6", OutsideVRF: 7, Ranges: []model.AddrRange{{First: ip("2001:db8:1::1"), Last: ip("2001:db8:1::1")}},
			BlockSize: 1024, StaticBlocksOnly: true},
	}
}

func sampleBindings() []model.PoolBinding {
	return []model.PoolBinding{
		{VRF: 7, Prefix: netip.MustParsePrefix("100.64.0.0/24"), Pool: "gw4"},
		{VRF: 0, Prefix: netip.MustParsePrefix("100.65.0.1/32"), Pool: "gw4"},
		{VRF: 7, Prefix: netip.MustParsePrefix("fd00:7::/64"), Pool: "gw 6"},
	}
}

func sampleBlocks() []model.StaticBlock {
	return []model.StaticBlock{
		{Pool: "gw4", VRF: 7, InsideAddr: ip("100.64.0.1"), OutsideAddr: ip("198.51.100.1"), PortStart: 1024},
		{Pool: "gw4", VRF: 7, InsideAddr: ip("100.64.0.2"), OutsideAddr: ip("198.51.100.1"), PortStart: 1088},
		{Pool: "gw4", VRF: 0, InsideAddr: ip("100.65.0.1"), OutsideAddr: ip("198.51.100.2"), PortStart: 1024},
		{Pool: "gw 6", VRF: 7, InsideAddr: ip("fd00:7::1"), OutsideAddr: ip("2001:db8:1::1"), PortStart: 2048},
	}
}

func sampleStatics() []model.StaticNAT {
	return []model.StaticNAT{
		{InsideVRF: 7, Inside: netip.MustParsePrefix("10.7.0.0/30"), Outside: netip.MustParsePrefix("198.51.100.8/30")},
		{InsideVRF: 7, Inside: netip.MustParsePrefix("10.7.1.1/32"), OutsideVRF: 7, Outside: netip.MustParsePrefix("10.77.0.1/32")},
		{Inside: netip.MustParsePrefix("fd00::5/128"), Outside: netip.MustParsePrefix("2001:db8::5/128")},
		{InsideVRF: 7, Inside: netip.MustParsePrefix("10.7.2.1/32"), Outside: netip.MustParsePrefix("198.51.100.20/32"),
			Proto: model.ProtoTCP, InsidePort: 80, OutsidePort: 8080},
		{InsideVRF: 7, Inside: netip.MustParsePrefix("10.7.2.1/32"), Outside: netip.MustParsePrefix("198.51.100.20/32"),
			Proto: model.ProtoUDP, InsidePort: 53, OutsidePort: 53},
		{Inside: netip.MustParsePrefix("fd00::6/128"), OutsideVRF: 0, Outside: netip.MustParsePrefix("2001:db8::6/128"),
			Proto: model.ProtoTCP, InsidePort: 22, OutsidePort: 2222},
	}
}

type listed struct {
	T  []model.Translation
	A  []model.SNATAddress
	X  []model.SNATExclusion
	I  []model.SNATInterface
	L  []model.SessionLimit
	TO model.Timeouts
	P  []model.PoolStatus
	B  []model.PoolBinding
	K  []model.StaticBlock
	S  []model.StaticNAT
	R  map[routeKey]int
}

func lists(c *cache) listed {
	return listed{c.translations(), c.addresses(), c.exclusions(), c.interfaces(), c.limitList(), c.timeouts,
		c.poolList(), c.bindingList(), c.blockList(), c.staticList(), c.cg.routes}
}

// checkDecode decodes sim and compares with c; the decoded table needs no repair.
func checkDecode(t *testing.T, c *cache, sim *simTable) {
	t.Helper()
	checkDecodeKT(t, c, sim.dump())
}

func checkDecodeKT(t *testing.T, c *cache, kt *kernelTable) {
	t.Helper()
	got, repair, rebuild := decode(kt, sampleHost)
	if rebuild || !repair.empty() {
		t.Fatalf("decode wants rebuild %v, repair %+v", rebuild, repair.acts)
	}
	if g, w := lists(got), lists(c); !reflect.DeepEqual(g, w) {
		t.Fatalf("decoded:\n%+v\nwant:\n%+v", g, w)
	}
}

func TestIncrementalRoundTrip(t *testing.T) {
	c, sim := newCache(), newSim()
	c.host = sampleHost
	populate(t, c, sim)
	checkDecode(t, c, sim)
	if len(c.translations()) != 4 || len(c.addresses()) != 4 || len(c.exclusions()) != 4 {
		t.Fatalf("lists %+v", lists(c))
	}

	ts := sampleTranslations()
	edits := []struct {
		name string
		f    func(b *batch)
	}{
		{"replace: backends changed, kind changed", func(b *batch) {
			tr := ts[0]
			tr.Kind = model.KindReal
			tr.Backends = []model.Backend{{DstAddr: ip("10.0.0.3")}, tr.Backends[1], {DstAddr: ip("10.0.0.4"), DstPort: 1}}
			c.putTranslation(b, tr)
		}},
		{"replace: same", func(b *batch) { c.putTranslation(b, c.trans[ts[1].Key].t) }},
		{"delete translation", func(b *batch) { c.deleteTranslation(b, ts[2].Key) }},
		{"delete absent translation", func(b *batch) { c.deleteTranslation(b, ts[2].Key) }},
		{"delete first pool address", func(b *batch) { c.deleteAddress(b, model.SNATAddress{VRF: 7, Addr: ip("192.0.2.1")}) }},
		{"delete last pool address", func(b *batch) { c.deleteAddress(b, model.SNATAddress{Addr: ip("2001:db8::1")}) }},
		{"delete exclusion, length still used", func(b *batch) {
			c.deleteExclusion(b, model.SNATExclusion{VRF: 7, Prefix: netip.MustParsePrefix("10.1.0.0/16")})
		}},
		{"delete interface", func(b *batch) { c.deleteInterface(b, model.SNATInterface{Interface: "eth0", Family: model.IPv6}) }},
		{"clear limit", func(b *batch) { c.setLimit(b, model.SessionLimit{VRF: 7}) }},
		{"host: in7 leaves its VRF", func(b *batch) { c.setHost(b, hostView{vrfOf: map[string]uint32{"out7": 7}}) }},
		{"host back", func(b *batch) { c.setHost(b, sampleHost) }},
		{"static replaced", func(b *batch) {
			s := sampleStatics()[0]
			s.Outside = netip.MustParsePrefix("198.51.100.12/30")
			c.putStatic(b, s)
		}},
		{"static deleted", func(b *batch) { c.deleteStatic(b, sampleStatics()[2].Key()) }},
		{"block moved", func(b *batch) {
			blk := sampleBlocks()[1]
			c.deleteBlock(b, blk)
			blk.PortStart = 1152
			c.putBlock(b, blk)
		}},
		{"block size changed", func(b *batch) {
			p := samplePools()[0]
			p.BlockSize = 32
			c.putPool(b, p)
		}},
		{"binding deleted", func(b *batch) { c.deleteBinding(b, sampleBindings()[1].Key()) }},
	}
	for _, e := range edits {
		b := &batch{}
		e.f(b)
		if err := sim.apply(b); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if c.host.vrfOf["in7"] == 7 {
			checkDecode(t, c, sim)
		}
	}
	if a := c.addresses(); len(a) != 2 || a[0].Addr != ip("192.0.2.2") || a[1].Addr != ip("192.0.2.3") {
		t.Fatalf("addresses %+v", a)
	}
}

// TestDecodeFromComments: the backend maps are not read when the
// translation comments carry the backends.
func TestDecodeFromComments(t *testing.T) {
	c, sim := newCache(), newSim()
	c.host = sampleHost
	populate(t, c, sim)
	kt := sim.dump()
	kt.backendsInComments = true
	for name := range kt.sets {
		if isDataSet(name) {
			kt.sets[name] = nil
		}
	}
	checkDecodeKT(t, c, kt)
}

func TestWriteAllRoundTrip(t *testing.T) {
	c, sim := newCache(), newSim()
	c.host = sampleHost
	populate(t, c, sim)
	want := lists(c)
	sim2 := newSim()
	batches := c.writeAll("cloudnat", 5)
	if len(batches) < 2 {
		t.Fatalf("%d batches, want a split", len(batches))
	}
	for _, b := range batches {
		if err := sim2.apply(b); err != nil {
			t.Fatal(err)
		}
	}
	if got := lists(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("writeAll changed the cache:\n%+v\n%+v", got, want)
	}
	checkDecode(t, c, sim2)
}

func TestWriteAllSplit(t *testing.T) {
	c, sim := newCache(), newSim()
	b := &batch{}
	for i := 0; i < 3000; i++ {
		c.putTranslation(b, model.Translation{Key: model.TranslationKey{VIP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Proto: model.ProtoTCP},
			Backends: []model.Backend{{DstAddr: ip("10.0.0.1"), DstPort: 1}, {DstAddr: ip("10.0.0.2")}}})
	}
	if err := sim.apply(b); err != nil {
		t.Fatal(err)
	}
	batches := c.writeAll("cloudnat", 1000)
	sim2 := newSim()
	for _, b := range batches {
		if b.weight > 1000+20 {
			t.Fatalf("batch of weight %d", b.weight)
		}
		if err := sim2.apply(b); err != nil {
			t.Fatal(err)
		}
	}
	if len(batches) < 9 {
		t.Fatalf("%d batches", len(batches))
	}
	if len(sim2.sets[setBP(model.IPv4)]) != 3000 || len(sim2.sets[setBA(model.IPv4)]) != 3000 || len(sim2.sets[setTx(model.IPv4)]) != 3000 {
		t.Fatal("elements missing")
	}
}

func TestDecodeDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(s *simTable)
		absent model.TranslationKey
	}{
		{"backend element deleted", func(s *simTable) {
			for k := range s.sets[setBA(model.IPv6)] {
				delete(s.sets[setBA(model.IPv6)], k)
				break
			}
		}, sampleTranslations()[1].Key},
		{"translation element deleted", func(s *simTable) {
			delete(s.sets[setTx(model.IPv4)], string(txKey(sampleTranslations()[0].Key)))
		}, sampleTranslations()[0].Key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, sim := newCache(), newSim()
			c.host = sampleHost
			populate(t, c, sim)
			tc.damage(sim)
			got, repair, rebuild := decode(sim.dump(), sampleHost)
			if rebuild || repair.empty() {
				t.Fatalf("rebuild %v, repair %+v", rebuild, repair.acts)
			}
			if got.trans[tc.absent] != nil {
				t.Fatal("damaged translation listed")
			}
			if err := sim.apply(repair); err != nil {
				t.Fatal(err)
			}
			checkDecode(t, got, sim)
			// The reconciler puts it back.
			b := &batch{}
			for _, tr := range sampleTranslations() {
				if tr.Key == tc.absent {
					got.putTranslation(b, tr)
				}
			}
			if err := sim.apply(b); err != nil {
				t.Fatal(err)
			}
			checkDecode(t, got, sim)
		})
	}
	sim := newSim()
	c := newCache()
	populate(t, c, sim)
	delete(sim.chains, chainPre)
	if _, _, rebuild := decode(sim.dump(), hostView{}); !rebuild {
		t.Fatal("a missing base chain does not ask for a rebuild")
	}
}

func TestNames(t *testing.T) {
	var names []string
	for _, ch := range staticChains() {
		names = append(names, ch.name)
	}
	cl := lbClass{f: model.IPv6, wild: true, n: 3, hf: model.HashSrcAddr | model.HashProto}
	names = append(names, chainZone, chainFin, cl.chain(), snatChain(poolKey{model.IPv4, 7}))
	for _, n := range names {
		if !strings.HasPrefix(n, "cn_") {
			t.Errorf("chain %s: not cn_", n)
		}
	}
	if got, ok := parseClass(cl.chain()); !ok || got != cl {
		t.Fatalf("parseClass(%s) = %+v", cl.chain(), got)
	}
	if p, bits, ok := parseExclSet(setExcl(poolKey{model.IPv6, 65535}, 48)); !ok || p != (poolKey{model.IPv6, 65535}) || bits != 48 {
		t.Fatal("parseExclSet")
	}
	if p, ok := parsePoolName(setPool(poolKey{model.IPv4, 12})); !ok || p != (poolKey{model.IPv4, 12}) {
		t.Fatal("parsePoolName")
	}
	for _, bad := range []string{"cn_pool", "cn_pool4", "cn_pool5_1", "cn_pool4_x", "cn_pool4_1_2"} {
		if _, ok := parsePoolName(bad); ok {
			t.Errorf("parsePoolName(%s) ok", bad)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, k := range []model.TranslationKey{
		{VRF: 65535, VIP: ip("10.1.2.3"), Port: 443, Proto: model.ProtoTCP},
		{VRF: 7, VIP: ip("fd00::1"), Proto: model.ProtoICMPv6},
	} {
		got, ok := decodeTxKey(familyOf(k.VIP), backendKey(k, 5))
		if !ok || got != k {
			t.Fatalf("decodeTxKey = %+v", got)
		}
		if l := len(txKey(k)); l != 12+addrLen(familyOf(k.VIP)) {
			t.Fatalf("key length %d", l)
		}
	}
	b := model.Backend{DstAddr: ip("fd00::2"), DstPort: 8080}
	m, got, ok := decodeBackendData(model.IPv6, true, backendData(backendMark(131071, 8191), b))
	if !ok || got != b || markTranslationID(m) != 131071 || m&markIdxMask != 8191 {
		t.Fatalf("backend data %v %+v %#x", ok, got, m)
	}
	i := model.SNATInterface{Interface: "eth0.100", Family: model.IPv6}
	if got, ok := decodeIfKey(ifKey(i)); !ok || got != i {
		t.Fatalf("if key %+v", got)
	}
	for _, tr := range append(sampleTranslations(), model.Translation{Kind: model.KindReal, HashFields: 5,
		Backends: make([]model.Backend, 8)}) {
		for i := range tr.Backends {
			if !tr.Backends[i].DstAddr.IsValid() {
				tr.Backends[i] = model.Backend{DstAddr: ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff1"), DstPort: 65535,
					SrcAddr: ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff2"), SrcPort: 65535}
			}
		}
		cm := txComment(77, tr)
		ti, err := parseTxComment(cm)
		if err != nil || ti.id != 77 || ti.kind != tr.Kind || ti.hf != tr.HashFields || ti.n != len(tr.Backends) || len(cm) > maxComment {
			t.Fatalf("tx comment %q: %+v %v", cm, ti, err)
		}
		if ti.backends != nil && !reflect.DeepEqual(ti.backends, tr.Backends) && len(tr.Backends) > 0 {
			t.Fatalf("tx comment %q: backends %+v", cm, ti.backends)
		}
		if len(tr.Backends) == 8 && ti.backends != nil {
			t.Fatalf("8 IPv6 backends fit in %q", cm)
		}
	}
	for _, bad := range []string{"cn:t 1 vip 0 2 10.0.0.1,1,-,0", "cn:t 0 vip 0 0", "cn:t 1 vap 0 0", "cn:t 1 vip 0 1 x,1,-,0"} {
		if _, err := parseTxComment(bad); err == nil {
			t.Errorf("parseTxComment(%q) accepted", bad)
		}
	}
}

func TestHashFieldsOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fam   model.Family
		proto model.Proto
		hf    model.HashFields
		bytes uint32
	}{
		{"v4 tcp all", model.IPv4, model.ProtoTCP, 0, 4 + 4 + 2 + 2 + 1},
		{"v6 udp all", model.IPv6, model.ProtoUDP, 0, 16 + 16 + 2 + 2 + 1},
		{"v4 icmp all drops ports", model.IPv4, model.ProtoICMP, 0, 4 + 4 + 1},
		{"v4 src only", model.IPv4, model.ProtoTCP, model.HashSrcAddr, 4},
		{"v6 dport+proto", model.IPv6, model.ProtoTCP, model.HashDstPort | model.HashProto, 2 + 1},
		{"icmp ports only: source address", model.IPv4, model.ProtoICMP, model.HashSrcPort, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n uint32
			fields := hashFieldsOf(tc.fam, effectiveHash(tc.proto, tc.hf))
			for _, f := range fields {
				n += f.length
			}
			if n != tc.bytes {
				t.Fatalf("hash input %d bytes, want %d", n, tc.bytes)
			}
			ch := classChain(lbClass{f: tc.fam, n: 2, hf: effectiveHash(tc.proto, tc.hf)})
			for _, r := range ch.rules {
				for _, x := range r.exprs {
					if p, ok := x.(*expr.Payload); ok && p.DestRegister+(p.Len+3)/4-1 > reg32Last {
						t.Fatalf("payload past the last register: %+v", p)
					}
					if l, ok := x.(*expr.Lookup); ok && l.DestRegister == regData && regData+(4+uint32(addrLen(tc.fam))+4)/4-1 > reg32Last {
						t.Fatalf("lookup value past the last register")
					}
				}
			}
		})
	}
}

func TestNormalizeTranslation(t *testing.T) {
	key := model.TranslationKey{VIP: ip("10.0.0.1"), Port: 80, Proto: model.ProtoTCP}
	be := []model.Backend{{DstAddr: ip("10.1.0.1")}}
	for _, tc := range []struct {
		name        string
		t           model.Translation
		unsupported bool
		bad         bool
	}{
		{"ok", model.Translation{Key: key, Backends: be}, false, false},
		{"maglev", model.Translation{Key: key, LB: model.LBMaglev, Backends: be}, true, false},
		{"vrf over 16 bits", model.Translation{Key: model.TranslationKey{VRF: 70000, VIP: key.VIP, Port: 80, Proto: model.ProtoTCP}, Backends: be}, true, false},
		{"family mix", model.Translation{Key: key, Backends: []model.Backend{{DstAddr: ip("fd00::1")}}}, true, false},
		{"icmp id rewrite", model.Translation{Key: model.TranslationKey{VIP: key.VIP, Proto: model.ProtoICMP},
			Backends: []model.Backend{{DstAddr: ip("10.1.0.1"), DstPort: 9}}}, true, false},
		{"icmp keyed by id", model.Translation{Key: model.TranslationKey{VIP: key.VIP, Port: 5, Proto: model.ProtoICMP}, Backends: be}, true, false},
		{"icmpv6 on v4", model.Translation{Key: model.TranslationKey{VIP: key.VIP, Proto: model.ProtoICMPv6}, Backends: be}, false, true},
		{"sctp", model.Translation{Key: model.TranslationKey{VIP: key.VIP, Port: 1, Proto: 132}, Backends: be}, true, false},
		{"no dst", model.Translation{Key: key, Backends: []model.Backend{{DstPort: 1}}}, false, true},
		{"no vip", model.Translation{Key: model.TranslationKey{Port: 1, Proto: model.ProtoTCP}, Backends: be}, false, true},
		{"too many backends", model.Translation{Key: key, Backends: make([]model.Backend, maxBackends+1)}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := normalizeTranslation(tc.t)
			switch {
			case tc.unsupported && !errors.Is(err, dataplane.ErrUnsupported):
				t.Fatalf("err %v, want ErrUnsupported", err)
			case tc.bad && (err == nil || errors.Is(err, dataplane.ErrUnsupported)):
				t.Fatalf("err %v, want a validation error", err)
			case !tc.unsupported && !tc.bad && err != nil:
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestCheckIfName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"eth0", true}, {"a", true}, {"123456789012345", true}, {"eth0.100", true}, {"br-x_y", true},
		{"", false}, {"1234567890123456", false}, {"../x", false}, {"a/b", false}, {".", false}, {"..", false},
		{"a b", false}, {"a\tb", false}, {"eth0:1", false}, {"a\x00", false},
	} {
		if err := checkIfName(tc.name); (err == nil) != tc.ok {
			t.Errorf("checkIfName(%q) = %v", tc.name, err)
		}
	}
	long := strings.Repeat("x", 1<<20)
	if err := checkIfName(long); err == nil || len(err.Error()) > 200 {
		t.Errorf("1 MiB name: error of %d bytes", len(err.Error()))
	}
}

func TestCheckVIPAddr(t *testing.T) {
	local := map[netip.Addr]string{ip("192.0.2.1"): "eth0", ip("2001:db8::1"): "eth0"}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"10.99.0.10", true}, {"2001:db8::2", true},
		{"192.0.2.1", false}, {"2001:db8::1", false}, {"127.0.0.1", false}, {"127.1.2.3", false}, {"::1", false},
		{"169.254.1.1", false}, {"fe80::1", false}, {"0.0.0.0", false},
	} {
		err := checkVIPAddr(model.TranslationKey{VIP: ip(tc.addr), Port: 22, Proto: model.ProtoTCP}, local)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.addr, err)
		}
		if err != nil && (!errors.Is(err, dataplane.ErrUnsupported) || !strings.Contains(err.Error(), "real")) {
			t.Errorf("%s: %v: want ErrUnsupported suggesting real", tc.addr, err)
		}
	}
}

func TestClassify(t *testing.T) {
	msg := func(typ uint16, pid uint32, fam byte, table string) mnl.Message {
		attrs, _ := mnl.MarshalAttributes([]mnl.Attribute{{Type: 1, Data: append([]byte(table), 0)}})
		return mnl.Message{Header: mnl.Header{Type: mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), PID: pid},
			Data: append([]byte{fam, 0, 0, 0}, attrs...)}
	}
	for _, tc := range []struct {
		name string
		m    mnl.Message
		want notice
	}{
		{"own change", msg(unix.NFT_MSG_DELSETELEM, 42, unix.NFPROTO_INET, "cloudnat"), noticeNone},
		{"foreign element delete", msg(unix.NFT_MSG_DELSETELEM, 7, unix.NFPROTO_INET, "cloudnat"), noticeEdit},
		{"foreign rule", msg(unix.NFT_MSG_NEWRULE, 0, unix.NFPROTO_INET, "cloudnat"), noticeEdit},
		{"table deleted", msg(unix.NFT_MSG_DELTABLE, 0, unix.NFPROTO_INET, "cloudnat"), noticeDelete},
		{"other table", msg(unix.NFT_MSG_DELTABLE, 0, unix.NFPROTO_INET, "filter"), noticeNone},
		{"other family", msg(unix.NFT_MSG_DELTABLE, 0, unix.NFPROTO_IPV4, "cloudnat"), noticeNone},
		{"generation", msg(unix.NFT_MSG_NEWGEN, 0, unix.NFPROTO_INET, "cloudnat"), noticeNone},
	} {
		if got, _ := classify(tc.m, "cloudnat", 42); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMergeTimeouts(t *testing.T) {
	got, err := mergeTimeouts(model.DefaultTimeouts, model.Timeouts{UDP: time.Minute})
	if err != nil || got.UDP != time.Minute || got.TCPEstablished != model.DefaultTimeouts.TCPEstablished {
		t.Fatalf("merge %+v %v", got, err)
	}
	for _, bad := range []model.Timeouts{{UDP: 500 * time.Millisecond}, {ICMP: 1500 * time.Millisecond}, {TCPEstablished: 400 * 24 * time.Hour}} {
		if _, err := mergeTimeouts(model.DefaultTimeouts, bad); !errors.Is(err, dataplane.ErrUnsupported) {
			t.Errorf("merge %+v: %v, want ErrUnsupported", bad, err)
		}
	}
	pol := timeoutPolicy(model.ProtoTCP, model.DefaultTimeouts)
	if pol[expr.CtStateTCPESTABLISHED] != 7440 || pol[expr.CtStateTCPSYNSENT] != 240 || pol[expr.CtStateTCPFINWAIT] != 240 {
		t.Fatalf("tcp policy %v", pol)
	}
}

func TestSessionOf(t *testing.T) {
	flow := &netlink.ConntrackFlow{
		Forward: netlink.IPTuple{Protocol: 6, SrcIP: net.ParseIP("10.10.0.2"), SrcPort: 40000, DstIP: net.ParseIP("10.99.0.10"), DstPort: 80},
		Reverse: netlink.IPTuple{Protocol: 6, SrcIP: net.ParseIP("10.20.1.2"), SrcPort: 8000, DstIP: net.ParseIP("10.10.0.2"), DstPort: 40000},
		Mark:    backendMark(100000, 1), Zone: 7, TimeOut: 100, ProtoInfo: &netlink.ProtoInfoTCP{State: 3},
	}
	s, ok := sessionOf(flow)
	want := model.Session{VRF: 7, Proto: model.ProtoTCP, Src: netip.MustParseAddrPort("10.10.0.2:40000"),
		Dst: netip.MustParseAddrPort("10.99.0.10:80"), NewSrc: netip.MustParseAddrPort("10.10.0.2:40000"),
		NewDst: netip.MustParseAddrPort("10.20.1.2:8000"), TCPState: model.TCPEstablished, TranslationID: 100000,
		ExpiresIn: 100 * time.Second}
	if !ok || s != want {
		t.Fatalf("sessionOf = %+v, want %+v", s, want)
	}
	if !matchKey(s, model.SessionKey{VRF: 7, Proto: model.ProtoTCP, Src: s.NewDst, Dst: s.NewSrc}) ||
		matchKey(s, model.SessionKey{VRF: 8, Proto: model.ProtoTCP, Src: s.Src, Dst: s.Dst}) {
		t.Fatal("matchKey")
	}
	for _, tc := range []struct {
		f    model.SessionFilter
		want bool
	}{
		{model.SessionFilter{VRF: model.AllVRFs}, true},
		{model.SessionFilter{VRF: 7, Proto: model.ProtoTCP, Port: 80}, true},
		{model.SessionFilter{VRF: 0}, false},
		{model.SessionFilter{VRF: model.AllVRFs, Addr: netip.MustParsePrefix("10.99.0.0/24")}, true},
		{model.SessionFilter{VRF: model.AllVRFs, Addr: netip.MustParsePrefix("10.20.0.0/16")}, false},
		{model.SessionFilter{VRF: model.AllVRFs, Proto: model.ProtoUDP}, false},
	} {
		if got := matchFilter(s, tc.f); got != tc.want {
			t.Errorf("matchFilter(%+v) = %v", tc.f, got)
		}
	}
	flow.Mark = 0x1234
	if _, ok := sessionOf(flow); ok {
		t.Fatal("a flow without cloudnat's mark bit is a session")
	}
	flow.Mark = snatMark() + 1
	if s, _ := sessionOf(flow); !s.SNAT || s.TranslationID != 0 {
		t.Fatalf("snat flow %+v", s)
	}
}

func TestAllocID(t *testing.T) {
	c := newCache()
	k := model.TranslationKey{VIP: ip("10.0.0.1"), Port: 1, Proto: model.ProtoTCP}
	b := &batch{}
	c.putTranslation(b, model.Translation{Key: k})
	c.putTranslation(b, model.Translation{Key: k, Kind: model.KindReal})
	if c.trans[k].id != 1 || len(c.ids) != 1 {
		t.Fatalf("replace took a new id: %+v", c.trans[k])
	}
	c.nextID = maxTranslationID
	k2 := model.TranslationKey{VIP: ip("10.0.0.2"), Port: 1, Proto: model.ProtoTCP}
	k3 := model.TranslationKey{VIP: ip("10.0.0.3"), Port: 1, Proto: model.ProtoTCP}
	c.putTranslation(b, model.Translation{Key: k2})
	c.putTranslation(b, model.Translation{Key: k3})
	if c.trans[k2].id != maxTranslationID || c.trans[k3].id != 2 {
		t.Fatalf("ids %d %d", c.trans[k2].id, c.trans[k3].id)
	}
}

func TestMerge(t *testing.T) {
	c := newCache()
	b := &batch{}
	for i := 0; i < 100; i++ {
		c.putTranslation(b, model.Translation{Key: model.TranslationKey{VIP: netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), Port: 80, Proto: model.ProtoTCP},
			Backends: []model.Backend{{DstAddr: ip("10.0.0.1"), DstPort: 1}, {DstAddr: ip("10.0.0.2")}}})
	}
	n := 0
	for _, a := range b.acts {
		if a.op == actAddElems || a.op == actDelElems {
			n++
		}
	}
	if n > 8+recShards { // one per set: tx, bp, ba, vip, cls and the record shards
		t.Fatalf("%d element actions for 100 translations: not merged", n)
	}
}

func TestCoalesce(t *testing.T) {
	c, sim := newCache(), newSim()
	c.host = sampleHost
	b := &batch{}
	ts := sampleTranslations()
	for _, tr := range ts {
		c.putTranslation(b, tr)
	}
	// Replace one and delete another in the same batch.
	x := ts[0]
	x.Backends = x.Backends[:1]
	c.putTranslation(b, x)
	c.deleteTranslation(b, ts[1].Key)
	c.putTranslation(b, ts[1])
	if err := sim.apply(b); err != nil {
		t.Fatal(err)
	}
	checkDecode(t, c, sim)
}

func TestUndo(t *testing.T) {
	c, sim := newCache(), newSim()
	c.host = sampleHost
	populate(t, c, sim)
	tr := sampleTranslations()[1]
	bkey := backendKey(tr.Key, 0)
	foreignKey := txKey(model.TranslationKey{VIP: ip("10.1.1.1"), Port: 1, Proto: model.ProtoTCP})
	// Someone deletes a backend element and a pool element, adds an
	// element of their own, and flushes cn_dnat.
	delete(sim.sets[setBA(model.IPv6)], string(bkey))
	poolKey0 := string(u32(snatMark()))
	delete(sim.sets[setPool(poolKey{model.IPv4, 7})], poolKey0)
	sim.sets[setTx(model.IPv4)][string(foreignKey)] = txElem(model.Translation{})
	sim.chains[chainDNAT] = 0
	changes := []change{
		{typ: unix.NFT_MSG_DELSETELEM, name: setBA(model.IPv6), keys: [][]byte{bkey}},
		{typ: unix.NFT_MSG_DELSETELEM, name: setPool(poolKey{model.IPv4, 7}), keys: [][]byte{[]byte(poolKey0)}},
		{typ: unix.NFT_MSG_NEWSETELEM, name: setTx(model.IPv4), keys: [][]byte{foreignKey}},
		{typ: unix.NFT_MSG_DELRULE, name: chainDNAT},
	}
	b, ok := c.undo(changes)
	if !ok {
		t.Fatal("undo refused")
	}
	if err := sim.apply(b); err != nil {
		t.Fatal(err)
	}
	checkDecode(t, c, sim)
	if _, ok := c.undo([]change{{typ: unix.NFT_MSG_DELCHAIN, name: "cn_pre"}}); ok {
		t.Fatal("a deleted chain is undone element-wise")
	}
}

func TestChunks(t *testing.T) {
	var es []nftables.SetElement
	tr := model.Translation{Key: model.TranslationKey{VIP: ip("fd00::1"), Port: 1, Proto: model.ProtoTCP}}
	for i := 0; i < 8; i++ {
		tr.Backends = append(tr.Backends, model.Backend{DstAddr: ip("10.20.1.2"), DstPort: 8000})
	}
	for i := 0; i < 1000; i++ {
		es = append(es, recElem(uint32(i+1), tr))
	}
	total := 0
	for _, c := range chunks(es) {
		s := &nftables.Set{Name: "cn_rec6_0", Table: &nftables.Table{Name: "cloudnat"}}
		b, err := mnl.MarshalAttributes(mustElemList(t, s, c))
		if err != nil || len(b) > 65535 {
			t.Fatalf("chunk of %d elements: %d bytes, %v", len(c), len(b), err)
		}
		total += len(c)
	}
	if total != len(es) {
		t.Fatalf("%d elements in chunks, want %d", total, len(es))
	}
}
