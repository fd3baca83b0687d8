package plugin

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.fd.io/govpp/api"

	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/interface_types"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// fuzzAPIState is everything the plugin shows of its configuration: the CLI
// dumps (they cover translations, source NAT, timeouts, limits, pools,
// bindings, subscribers and fragment settings; no traffic runs, so no
// session or timer moves between two reads).
func fuzzAPIState(t *testing.T, v *vh.VPP) string {
	t.Helper()
	var b strings.Builder
	for _, cmd := range []string{"cnat show translation", "cnat show snat", "cnat show timeouts",
		"cnat show session", "cnat show pool", "cnat show subscribers", "cnat show fragments"} {
		out, err := v.CLI(cmd)
		if err != nil {
			out = "error: " + err.Error()
		}
		fmt.Fprintf(&b, "== %s\n%s\n", cmd, out)
	}
	return b.String()
}

// fuzzAPISetup gives the plugin some state to keep intact.
func fuzzAPISetup(t *testing.T) *topo {
	tp := newTopo(t)
	for _, cmd := range []string{
		"cnat translation add proto tcp vip 30.0.0.2 80 to ->20.0.0.1 8080",
		"cnat translation add proto udp vip 30::2 53 to ->20::1 5353",
		"cnat snat with 30.0.0.1",
		"cnat snat exclude 20.0.0.0/24",
		"set interface feature pg0 ip4-cnat-snat arc ip4-unicast",
		"cnat session limit 1000",
		"cnat pool add cg4 range 30.0.0.10-30.0.0.11 block-size 512 max-blocks 4",
		"cnat pool bind cg4 table 0 10.0.0.128/25",
	} {
		if _, err := tp.v.CLI(cmd); err != nil {
			t.Logf("setup %q: %v", cmd, err)
		}
	}
	return tp
}

// fuzzAPIAddr is an API address of either family.
func fuzzAPIAddr(s string) ip_types.Address {
	a, err := ip_types.ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

// fuzzRetval of a reply message (its Retval field).
func fuzzRetval(m api.Message) int32 {
	v := reflect.ValueOf(m).Elem().FieldByName("Retval")
	if !v.IsValid() {
		return 0
	}
	return int32(v.Int())
}

// TestFuzzAPI sends every request message of the cloudnat binary API with
// out-of-range and inconsistent fields: first a table of known-invalid
// requests, each of which must answer with a non-zero retval and leave the
// configuration as it was; then, for every request message the bindings
// know (binapi/cloudnat), random boundary values in every field (seeded by
// FUZZ_SEED): VPP must stay up, and every request it refuses must leave the
// configuration unchanged.
func TestFuzzAPI(t *testing.T) {
	tp := fuzzAPISetup(t)
	v := tp.v
	conn := v.Conn()
	if conn == nil {
		t.Fatal("no API connection")
	}
	ctx := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return c
	}
	badAF := ip_types.Address{Af: 7}
	v4 := fuzzAPIAddr("30.0.0.99")
	v6 := fuzzAPIAddr("30::99")
	be := func(a ip_types.Address, p uint16) cloudnat.CloudnatBackend {
		return cloudnat.CloudnatBackend{DstAddr: a, DstPort: p}
	}
	tr := func(mod func(*cloudnat.CloudnatTranslation)) *cloudnat.CloudnatTranslationAddUpdate {
		x := cloudnat.CloudnatTranslation{Vip: v4, Port: 80, Proto: ip_types.IP_API_PROTO_TCP,
			Backends: []cloudnat.CloudnatBackend{be(fuzzAPIAddr("20.0.0.2"), 80)}}
		x.NBackends = uint8(len(x.Backends))
		mod(&x)
		return &cloudnat.CloudnatTranslationAddUpdate{Translation: x}
	}
	pfx := func(a ip_types.Address, l uint8) ip_types.Prefix { return ip_types.Prefix{Address: a, Len: l} }
	pool := func(mod func(*cloudnat.CloudnatPool)) *cloudnat.CloudnatPoolAddUpdate {
		p := cloudnat.CloudnatPool{Name: "fz", PortMin: 1024, PortMax: 65535, BlockSize: 512, MaxBlocksPerSubscriber: 4,
			ReuseDelay: 120, SwIfIndex: interface_types.InterfaceIndex(^uint32(0)), Af: ip_types.ADDRESS_IP4,
			Ranges: []cloudnat.CloudnatAddressRange{{First: fuzzAPIAddr("30.0.0.50"), Last: fuzzAPIAddr("30.0.0.51")}}}
		mod(&p)
		p.NRanges = uint32(len(p.Ranges))
		return &cloudnat.CloudnatPoolAddUpdate{Pool: p}
	}
	cases := []struct {
		name  string
		req   api.Message
		reply api.Message
	}{
		{"translation: protocol 99", tr(func(x *cloudnat.CloudnatTranslation) { x.Proto = 99 }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation: VIP of address family 7", tr(func(x *cloudnat.CloudnatTranslation) { x.Vip = badAF }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation: IPv4 VIP, IPv6 backend", tr(func(x *cloudnat.CloudnatTranslation) { x.Backends[0] = be(v6, 80) }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation: zero VIP", tr(func(x *cloudnat.CloudnatTranslation) { x.Vip = ip_types.Address{} }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation: kind 200", tr(func(x *cloudnat.CloudnatTranslation) { x.Kind = 200 }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation: lb method 200", tr(func(x *cloudnat.CloudnatTranslation) { x.LbMethod = 200 }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation: maglev length 2^32-1", tr(func(x *cloudnat.CloudnatTranslation) { x.LbMethod = 1; x.MaglevLen = ^uint32(0) }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation: table 4000000", tr(func(x *cloudnat.CloudnatTranslation) { x.TableID = 4000000 }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation: backend of address family 7", tr(func(x *cloudnat.CloudnatTranslation) { x.Backends[0] = be(badAF, 1) }), &cloudnat.CloudnatTranslationAddUpdateReply{}},
		{"translation del: none such (idempotent)", &cloudnat.CloudnatTranslationDel{Vip: v4, Port: 81, Proto: ip_types.IP_API_PROTO_TCP}, &cloudnat.CloudnatTranslationDelReply{}},
		{"translation del: protocol 99", &cloudnat.CloudnatTranslationDel{Vip: fuzzAPIAddr("30.0.0.2"), Port: 80, Proto: 99}, &cloudnat.CloudnatTranslationDelReply{}},
		{"session del: none such (idempotent)", &cloudnat.CloudnatSessionDel{Proto: ip_types.IP_API_PROTO_UDP, SrcAddr: v4, SrcPort: 1, DstAddr: v4, DstPort: 2}, &cloudnat.CloudnatSessionDelReply{}},
		{"session del: mixed families", &cloudnat.CloudnatSessionDel{Proto: ip_types.IP_API_PROTO_UDP, SrcAddr: v4, DstAddr: v6}, &cloudnat.CloudnatSessionDelReply{}},
		{"session purge: table 4000000", &cloudnat.CloudnatSessionPurge{TableID: 4000000}, &cloudnat.CloudnatSessionPurgeReply{}},
		{"snat address: family 7", &cloudnat.CloudnatSnatAddressAddDel{IsAdd: true, Addr: badAF}, &cloudnat.CloudnatSnatAddressAddDelReply{}},
		{"snat address: zero", &cloudnat.CloudnatSnatAddressAddDel{IsAdd: true, Addr: ip_types.Address{}}, &cloudnat.CloudnatSnatAddressAddDelReply{}},
		{"snat address: multicast", &cloudnat.CloudnatSnatAddressAddDel{IsAdd: true, Addr: fuzzAPIAddr("224.0.0.1")}, &cloudnat.CloudnatSnatAddressAddDelReply{}},
		{"snat address: table 4000000", &cloudnat.CloudnatSnatAddressAddDel{IsAdd: true, TableID: 4000000, Addr: v4}, &cloudnat.CloudnatSnatAddressAddDelReply{}},
		{"snat address del: none such (idempotent)", &cloudnat.CloudnatSnatAddressAddDel{IsAdd: false, Addr: v4}, &cloudnat.CloudnatSnatAddressAddDelReply{}},
		{"snat exclude: IPv4 /33", &cloudnat.CloudnatSnatExcludeAddDel{IsAdd: true, Prefix: pfx(v4, 33)}, &cloudnat.CloudnatSnatExcludeAddDelReply{}},
		{"snat exclude: IPv6 /129", &cloudnat.CloudnatSnatExcludeAddDel{IsAdd: true, Prefix: pfx(v6, 129)}, &cloudnat.CloudnatSnatExcludeAddDelReply{}},
		{"snat exclude: family 7", &cloudnat.CloudnatSnatExcludeAddDel{IsAdd: true, Prefix: pfx(badAF, 8)}, &cloudnat.CloudnatSnatExcludeAddDelReply{}},
		{"snat exclude: table 4000000", &cloudnat.CloudnatSnatExcludeAddDel{IsAdd: true, TableID: 4000000, Prefix: pfx(v4, 24)}, &cloudnat.CloudnatSnatExcludeAddDelReply{}},
		{"snat exclude del: none such (idempotent)", &cloudnat.CloudnatSnatExcludeAddDel{IsAdd: false, Prefix: pfx(fuzzAPIAddr("99.0.0.0"), 8)}, &cloudnat.CloudnatSnatExcludeAddDelReply{}},
		{"snat interface: sw_if_index 9999", &cloudnat.CloudnatSnatInterfaceEnableDisable{Enable: true, SwIfIndex: 9999}, &cloudnat.CloudnatSnatInterfaceEnableDisableReply{}},
		{"snat interface: sw_if_index ~0", &cloudnat.CloudnatSnatInterfaceEnableDisable{Enable: true, SwIfIndex: interface_types.InterfaceIndex(^uint32(0))}, &cloudnat.CloudnatSnatInterfaceEnableDisableReply{}},
		{"timeouts: udp 2^32-1", &cloudnat.CloudnatTimeoutsSet{UDP: ^uint32(0)}, &cloudnat.CloudnatTimeoutsSetReply{}},
		{"timeouts: tcp-established 2^32-1, udp valid", &cloudnat.CloudnatTimeoutsSet{UDP: 100, TCPEstablished: ^uint32(0)}, &cloudnat.CloudnatTimeoutsSetReply{}},
		{"session limit: table 4000000", &cloudnat.CloudnatSessionLimitSet{TableID: 4000000, MaxSessions: 10}, &cloudnat.CloudnatSessionLimitSetReply{}},
		{"pool: name with a space", pool(func(p *cloudnat.CloudnatPool) { p.Name = "bad name" }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: empty name", pool(func(p *cloudnat.CloudnatPool) { p.Name = "" }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: ports 2000-1000", pool(func(p *cloudnat.CloudnatPool) { p.PortMin, p.PortMax = 2000, 1000 }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: block size 300 (not a power of two)", pool(func(p *cloudnat.CloudnatPool) { p.BlockSize = 300 }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: block size above the port range", pool(func(p *cloudnat.CloudnatPool) { p.PortMin, p.PortMax, p.BlockSize = 1024, 1151, 256 }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: max blocks 65535", pool(func(p *cloudnat.CloudnatPool) { p.MaxBlocksPerSubscriber = 65535 }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: reuse delay 2^32-1", pool(func(p *cloudnat.CloudnatPool) { p.ReuseDelay = ^uint32(0) }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: filtering 9", pool(func(p *cloudnat.CloudnatPool) { p.Filtering = 9 }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: IPv6 range in an IPv4 pool", pool(func(p *cloudnat.CloudnatPool) { p.Ranges[0].First, p.Ranges[0].Last = v6, v6 }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: range last before first", pool(func(p *cloudnat.CloudnatPool) {
			p.Ranges[0].First, p.Ranges[0].Last = fuzzAPIAddr("30.0.0.60"), fuzzAPIAddr("30.0.0.50")
		}), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: multicast range", pool(func(p *cloudnat.CloudnatPool) {
			p.Ranges[0].First, p.Ranges[0].Last = fuzzAPIAddr("224.0.0.1"), fuzzAPIAddr("224.0.0.1")
		}), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool: outside table 4000000", pool(func(p *cloudnat.CloudnatPool) { p.OutsideTableID = 4000000 }), &cloudnat.CloudnatPoolAddUpdateReply{}},
		{"pool del: still bound", &cloudnat.CloudnatPoolDel{Name: "cg4"}, &cloudnat.CloudnatPoolDelReply{}},
		{"pool bind: no such pool", &cloudnat.CloudnatPoolBindAddDel{IsAdd: true, Pool: "nope", Prefix: pfx(fuzzAPIAddr("10.0.0.0"), 25)}, &cloudnat.CloudnatPoolBindAddDelReply{}},
		{"pool bind: overlapping binding", &cloudnat.CloudnatPoolBindAddDel{IsAdd: true, Pool: "cg4", Prefix: pfx(fuzzAPIAddr("10.0.0.0"), 24)}, &cloudnat.CloudnatPoolBindAddDelReply{}},
		{"pool bind: /200", &cloudnat.CloudnatPoolBindAddDel{IsAdd: true, Pool: "cg4", Prefix: pfx(fuzzAPIAddr("10.0.0.0"), 200)}, &cloudnat.CloudnatPoolBindAddDelReply{}},
		{"pool bind: IPv6 prefix to an IPv4 pool", &cloudnat.CloudnatPoolBindAddDel{IsAdd: true, Pool: "cg4", Prefix: pfx(v6, 64)}, &cloudnat.CloudnatPoolBindAddDelReply{}},
		{"pool bind: table 4000000", &cloudnat.CloudnatPoolBindAddDel{IsAdd: true, Pool: "cg4", TableID: 4000000, Prefix: pfx(fuzzAPIAddr("10.9.0.0"), 24)}, &cloudnat.CloudnatPoolBindAddDelReply{}},
		{"static block: no such pool", &cloudnat.CloudnatSubscriberBlockAddDel{IsAdd: true, Pool: "nope", InsideAddr: fuzzAPIAddr("10.0.0.130"), OutsideAddr: fuzzAPIAddr("30.0.0.10"), PortStart: 1024}, &cloudnat.CloudnatSubscriberBlockAddDelReply{}},
		{"static block: outside address not in the pool", &cloudnat.CloudnatSubscriberBlockAddDel{IsAdd: true, Pool: "cg4", InsideAddr: fuzzAPIAddr("10.0.0.130"), OutsideAddr: fuzzAPIAddr("30.0.0.99"), PortStart: 1024}, &cloudnat.CloudnatSubscriberBlockAddDelReply{}},
		{"static block: port not at a block start", &cloudnat.CloudnatSubscriberBlockAddDel{IsAdd: true, Pool: "cg4", InsideAddr: fuzzAPIAddr("10.0.0.130"), OutsideAddr: fuzzAPIAddr("30.0.0.10"), PortStart: 1025}, &cloudnat.CloudnatSubscriberBlockAddDelReply{}},
		{"fragments: max in flight 2^32-1", &cloudnat.CloudnatFragmentsSet{TimeoutMs: 2000, MaxInFlight: ^uint32(0), MaxPerDatagram: 64, MaxHeld: 1024}, &cloudnat.CloudnatFragmentsSetReply{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := fuzzAPIState(t, v)
			err := conn.Invoke(ctx(), c.req, c.reply)
			if err != nil && !strings.Contains(err.Error(), "retval") && !strings.Contains(err.Error(), "VPPApiError") {
				if v.Exited() {
					t.Fatalf("VPP exited on %s: %v\n%s", c.req.GetMessageName(), err, v.LogTail(40))
				}
			}
			rv := fuzzRetval(c.reply)
			if strings.HasSuffix(c.name, "(idempotent)") {
				// deleting what is not there succeeds by design (the
				// agent's reconciler relies on it); it must change nothing
				t.Logf("%s: retval %d, err %v", c.req.GetMessageName(), rv, err)
			} else if err == nil && rv == 0 {
				t.Errorf("%s %+v: accepted (retval 0), want an error code", c.req.GetMessageName(), c.req)
			}
			if after := fuzzAPIState(t, v); after != before {
				t.Errorf("%s (retval %d, err %v) changed the configuration:\n%s", c.req.GetMessageName(), rv, err, fuzzDiffLines(before, after))
			}
		})
	}

	t.Run("random", func(t *testing.T) {
		seed := fuzzEnvInt(t, "FUZZ_SEED", 1)
		iters := fuzzEnvInt(t, "FUZZ_API_ITERATIONS", 50)
		r := rand.New(rand.NewPCG(uint64(seed), 0x617069))
		msgs := fuzzRequestMessages()
		stats := map[string][2]int{} // refused, accepted
		state := fuzzAPIState(t, v)
		for i := 0; i < iters; i++ {
			for _, m := range msgs {
				if m.req == "cloudnat_test_clock_advance" {
					continue // moves the test clock, not configuration
				}
				req := reflect.New(m.reqType).Interface().(api.Message)
				fuzzFill(r, reflect.ValueOf(req).Elem())
				var err error
				rv := int32(0)
				if m.replyType != nil {
					reply := reflect.New(m.replyType).Interface().(api.Message)
					err = conn.Invoke(ctx(), req, reply)
					rv = fuzzRetval(reply)
				} else {
					err = fuzzDump(conn, req, m.detailsType)
				}
				if v.Exited() {
					t.Fatalf("FUZZ_SEED=%d: VPP exited on %s %+v\n%s", seed, m.req, req, v.LogTail(40))
				}
				s := stats[m.req]
				now := fuzzAPIState(t, v)
				if err != nil || rv != 0 {
					s[0]++
					if now != state {
						t.Errorf("FUZZ_SEED=%d: refused %s %+v (retval %d, %v) changed the configuration:\n%s",
							seed, m.req, req, rv, err, fuzzDiffLines(state, now))
					}
				} else {
					s[1]++
				}
				stats[m.req] = s
				state = now
			}
		}
		var names []string
		for n := range stats {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "  %-45s refused %4d accepted %4d\n", n, stats[n][0], stats[n][1])
		}
		t.Logf("random API requests (seed %d, %d rounds over %d messages):\n%s", seed, iters, len(msgs), b.String())
	})
}

type fuzzAPIMsg struct {
	req                             string
	reqType, replyType, detailsType reflect.Type
}

// fuzzRequestMessages pairs every request of binapi/cloudnat with its reply
// (or details, for dumps).
func fuzzRequestMessages() []fuzzAPIMsg {
	byName := map[string]reflect.Type{}
	for _, m := range cloudnat.AllMessages() {
		byName[m.GetMessageName()] = reflect.TypeOf(m).Elem()
	}
	var out []fuzzAPIMsg
	for name, typ := range byName {
		if strings.HasSuffix(name, "_reply") || strings.HasSuffix(name, "_details") || strings.HasSuffix(name, "_event") {
			continue
		}
		m := fuzzAPIMsg{req: name, reqType: typ}
		if r, ok := byName[name+"_reply"]; ok {
			m.replyType = r
		} else if d, ok := byName[strings.TrimSuffix(name, "_dump")+"_details"]; ok && strings.HasSuffix(name, "_dump") {
			m.detailsType = d
		} else {
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].req < out[j].req })
	return out
}

// fuzzDump runs a dump request and reads its details.
func fuzzDump(conn api.Connection, req api.Message, details reflect.Type) error {
	ch, err := conn.(interface {
		NewAPIChannel() (api.Channel, error)
	}).NewAPIChannel()
	if err != nil {
		return err
	}
	defer ch.Close()
	ctx := ch.SendMultiRequest(req)
	for {
		d := reflect.New(details).Interface().(api.Message)
		last, err := ctx.ReceiveReply(d)
		if err != nil || last {
			return err
		}
	}
}

// fuzzFill sets every field to a boundary or random value.
func fuzzFill(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := v.Type().Bits()
		max := uint64(1)<<bits - 1
		if bits == 64 {
			max = ^uint64(0)
		}
		choices := []uint64{0, 1, 2, 6, 17, 58, 24, 32, 33, 128, 129, 255, max, max - 1, r.Uint64() & max, 4000000 & max}
		v.SetUint(choices[r.IntN(len(choices))])
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		choices := []int64{0, 1, -1, 127, -128, r.Int64()}
		v.SetInt(choices[r.IntN(len(choices))] >> (64 - v.Type().Bits()))
	case reflect.String:
		n := []int{0, 1, 8, 31, 32, 64, 300}[r.IntN(7)]
		b := make([]byte, n)
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.Uint32())
			} else {
				b[i] = "abcxyz._-09"[r.IntN(11)]
			}
		}
		v.SetString(string(b))
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fuzzFill(r, v.Index(i))
		}
		if v.Type().Elem().Kind() == reflect.Uint8 && r.IntN(2) == 0 {
			// plausible addresses half of the time
			for i := 0; i < v.Len(); i++ {
				v.Index(i).SetUint(0)
			}
			v.Index(0).SetUint([]uint64{10, 20, 30, 224, 255, 0}[r.IntN(6)])
			if v.Len() > 3 {
				v.Index(3).SetUint(uint64(r.IntN(256)))
			}
		}
	case reflect.Slice:
		n := r.IntN(4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fuzzFill(r, s.Index(i))
		}
		v.Set(s)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fuzzFill(r, v.Field(i))
			}
		}
		// counts follow their slices (govpp encodes len(slice) anyway)
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if strings.HasPrefix(f.Name, "N") && v.Field(i).CanSet() && v.Field(i).Kind() == reflect.Uint8 {
				if s := v.FieldByName(strings.TrimPrefix(f.Name, "N")); s.IsValid() && s.Kind() == reflect.Slice {
					v.Field(i).SetUint(uint64(s.Len()))
				}
			}
		}
	}
}

// fuzzDiffLines lists the lines that differ.
func fuzzDiffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := map[string]int{}
	for _, l := range al {
		in[l]++
	}
	var out []string
	for _, l := range bl {
		if in[l] > 0 {
			in[l]--
			continue
		}
		out = append(out, "+ "+l)
	}
	for l, n := range in {
		for ; n > 0; n-- {
			out = append(out, "- "+l)
		}
	}
	return strings.Join(out, "\n")
}
