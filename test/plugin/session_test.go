package plugin

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// dnatFlow is one client flow to the VIP's backend 0, for session tests.
type dnatFlow struct {
	tp  *topo
	f   family
	pr  vh.Proto
	fwd vh.Pkt // client -> VIP
	got *vh.Parsed
}

// startFlow adds (once) a translation vip:80 -> backend0:8080 for the
// protocol and sends the flow's first packet (SYN for TCP).
func startFlow(t *testing.T, tp *topo, f family, pr vh.Proto, sport uint16) *dnatFlow {
	t.Helper()
	b := tp.pg1.Hosts[0].IP(f.v6)
	key := name(f.name, pr)
	if !tp.vips[key] {
		addVIPToBackend0(t, tp, f, pr)
		tp.vips[key] = true
	}
	d := &dnatFlow{tp: tp, f: f, pr: pr, fwd: flow(tp.client(0, f), f.vip(), pr, sport, 80)}
	d.got = tp.one(t, tp.pg0, d.fwd, tp.pg1)
	want(t, "first packet", d.got, d.fwd.Src, sport, b, map[bool]uint16{true: 0, false: 8080}[pr == vh.ICMP])
	return d
}

// client sends a packet of the flow with TCP flags.
func (d *dnatFlow) client(t *testing.T, flags uint8) *vh.Parsed {
	t.Helper()
	p := d.fwd
	p.TCPFlags = flags
	return d.tp.one(t, d.tp.pg0, p, d.tp.pg1)
}

// backend sends a reply with TCP flags and returns what reaches the client.
func (d *dnatFlow) backend(t *testing.T, flags uint8) *vh.Parsed {
	t.Helper()
	return d.tp.one(t, d.tp.pg1, replyTo(d.tp.pg1, d.got, flags), d.tp.pg0)
}

// alive: a reply is translated (and refreshes the session).
func (d *dnatFlow) alive(t *testing.T, when string, flags uint8) {
	t.Helper()
	back := d.backend(t, flags)
	if back.Src != d.f.vip() {
		t.Errorf("%s: session gone too early: reply reached the client as %s (want source %s)", when, back, d.f.vip())
	}
}

// gone: a reply passes untouched (no session).
func (d *dnatFlow) gone(t *testing.T, when string, flags uint8) {
	t.Helper()
	back := d.backend(t, flags)
	if back.Src == d.f.vip() {
		t.Errorf("%s: session still alive: reply translated to %s", when, back)
	}
}

var stateRe = regexp.MustCompile(`state (\S+)`)

// wantState checks the TCP state "cnat show session verbose" shows for the
// flow.
func (d *dnatFlow) wantState(t *testing.T, state string) {
	t.Helper()
	out := d.tp.cli(t, "cnat show session verbose proto tcp")
	key := netip.AddrPortFrom(d.fwd.Src, d.fwd.SrcPort).String() + " ->"
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, key) {
			if m := stateRe.FindStringSubmatch(l); m == nil || m[1] != state {
				t.Errorf("session %s: want state %s:\n%s", key, state, l)
			}
			return
		}
	}
	t.Errorf("no session %s in:\n%s", key, out)
}

// TestTimeoutsDefault: UDP 300 s, ICMP 60 s, TCP SYN 240 s, established
// 7440 s, FIN 240 s, RST 240 s; the plugin's clock is advanced, never slept.
func TestTimeoutsDefault(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	out := tp.cli(t, "cnat show timeouts")
	for _, n := range []string{"udp 300s", "tcp-established 7440s", "tcp-transitory 240s", "icmp 60s"} {
		if !strings.Contains(out, n) {
			t.Errorf("cnat show timeouts: no default %s:\n%s", n, out)
		}
	}
	for _, f := range families {
		t.Run(name(f.name, "udp"), func(t *testing.T) {
			d := startFlow(t, tp, f, vh.UDP, 1001)
			clock(t, tp.v, 299)
			d.alive(t, "udp idle 299 s", 0)
			clock(t, tp.v, 301)
			d.gone(t, "udp idle 301 s", 0)
		})
		t.Run(name(f.name, "icmp"), func(t *testing.T) {
			d := startFlow(t, tp, f, vh.ICMP, 1002)
			clock(t, tp.v, 59)
			d.alive(t, "icmp idle 59 s", 0)
			clock(t, tp.v, 61)
			d.gone(t, "icmp idle 61 s", 0)
		})
		t.Run(name(f.name, "tcp-syn"), func(t *testing.T) {
			d := startFlow(t, tp, f, vh.TCP, 1003)
			d.wantState(t, "syn-sent")
			clock(t, tp.v, 239)
			d.alive(t, "tcp after SYN, idle 239 s", vh.SYN|vh.ACK)
			clock(t, tp.v, 241)
			d.gone(t, "tcp after SYN/SYN-ACK, idle 241 s", vh.SYN|vh.ACK)
		})
		t.Run(name(f.name, "tcp-established"), func(t *testing.T) {
			d := startFlow(t, tp, f, vh.TCP, 1004)
			d.backend(t, vh.SYN|vh.ACK)
			d.client(t, vh.ACK)
			d.wantState(t, "established")
			clock(t, tp.v, 7439)
			d.alive(t, "tcp established, idle 7439 s", vh.ACK)
			clock(t, tp.v, 7441)
			d.gone(t, "tcp established, idle 7441 s", vh.ACK)
		})
		t.Run(name(f.name, "tcp-fin"), func(t *testing.T) {
			d := startFlow(t, tp, f, vh.TCP, 1005)
			d.backend(t, vh.SYN|vh.ACK)
			d.client(t, vh.ACK)
			d.client(t, vh.FIN|vh.ACK)
			d.wantState(t, "fin-wait")
			clock(t, tp.v, 239)
			d.alive(t, "tcp after FIN, idle 239 s", vh.FIN|vh.ACK)
			d.client(t, vh.ACK)
			clock(t, tp.v, 241)
			d.gone(t, "tcp after both FINs, idle 241 s", vh.ACK)
		})
		t.Run(name(f.name, "tcp-half-closed-is-transitory"), func(t *testing.T) {
			d := startFlow(t, tp, f, vh.TCP, 1006)
			d.backend(t, vh.SYN|vh.ACK)
			d.client(t, vh.ACK)
			d.client(t, vh.FIN|vh.ACK)
			clock(t, tp.v, 241)
			d.gone(t, "tcp after one FIN, idle 241 s", vh.ACK)
		})
		t.Run(name(f.name, "tcp-rst"), func(t *testing.T) {
			d := startFlow(t, tp, f, vh.TCP, 1007)
			d.backend(t, vh.SYN|vh.ACK)
			d.client(t, vh.ACK)
			d.client(t, vh.RST)
			d.wantState(t, "closed")
			clock(t, tp.v, 200)
			d.alive(t, "tcp after RST, 200 s (RFC 7857: state kept 4 min)", vh.RST)
			clock(t, tp.v, 241)
			d.gone(t, "tcp after RST, idle 241 s", vh.RST)
		})
	}
}

// TestTimeoutsConfigurable: "cnat timeouts" changes them at run time.
func TestTimeoutsConfigurable(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.cli(t, "cnat timeouts udp 10 tcp-established 100 tcp-transitory 20 icmp 5")
	out := tp.cli(t, "cnat show timeouts")
	for _, n := range []string{"udp 10s", "tcp-established 100s", "tcp-transitory 20s", "icmp 5s"} {
		if !strings.Contains(out, n) {
			t.Errorf("cnat show timeouts: no %s:\n%s", n, out)
		}
	}
	for _, f := range families {
		for _, c := range []struct {
			pr    vh.Proto
			est   bool
			limit int
		}{{vh.UDP, false, 10}, {vh.ICMP, false, 5}, {vh.TCP, false, 20}, {vh.TCP, true, 100}} {
			t.Run(name(f.name, c.pr, fmt.Sprintf("established=%v", c.est)), func(t *testing.T) {
				d := startFlow(t, tp, f, c.pr, uint16(2000+c.limit))
				flags := uint8(0)
				if c.pr == vh.TCP {
					flags = vh.SYN | vh.ACK
					if c.est {
						d.backend(t, vh.SYN|vh.ACK)
						d.client(t, vh.ACK)
						flags = vh.ACK
					}
				}
				clock(t, tp.v, c.limit-1)
				d.alive(t, fmt.Sprintf("idle %d s of %d", c.limit-1, c.limit), flags)
				clock(t, tp.v, c.limit+1)
				d.gone(t, fmt.Sprintf("idle %d s of %d", c.limit+1, c.limit), flags)
			})
		}
	}
}

// TestSessionLimitGlobal: over the global cap a new flow is dropped and
// counted; existing flows keep working; raising the cap lets it through.
func TestSessionLimitGlobal(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.cli(t, "cnat session limit 2")
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			tp.cli(t, "cnat session purge")
			d1 := startFlow(t, tp, f, vh.UDP, 3001)
			startFlow(t, tp, f, vh.UDP, 3002)
			before := cnatErrors(t, tp.v, "session limit")
			tp.v.SendAndExpectNone(t, tp.pg0, []vh.Pkt{flow(tp.client(1, f), f.vip(), vh.UDP, 3003, 80)})
			if d := cnatErrors(t, tp.v, "session limit") - before; d != 1 {
				t.Errorf("flow over the session limit: cloudnat's 'session limit' drop counter grew by %d, want 1:\n%s", d, tp.cli(t, "show errors"))
			}
			wantSessions(t, tp.v, "", 2)
			d1.alive(t, "existing flow at the limit", 0)
			tp.cli(t, "cnat session limit 0")
			startFlow(t, tp, f, vh.UDP, 3003)
			tp.cli(t, "cnat session limit 2")
		})
	}
}

// TestSessionListFilterDeletePurge: list with filters, delete one, purge
// (purge never deletes translations).
func TestSessionListFilterDeletePurge(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			tp.cli(t, "cnat session purge")
			u := startFlow(t, tp, f, vh.UDP, 4001)
			startFlow(t, tp, f, vh.TCP, 4002)
			startFlow(t, tp, f, vh.ICMP, 4003)
			// A flow of another client.
			p := flow(tp.client(1, f), f.vip(), vh.UDP, 4004, 80)
			tp.one(t, tp.pg0, p, tp.pg1)

			wantSessions(t, tp.v, "", 4)
			wantSessions(t, tp.v, "proto udp", 2)
			wantSessions(t, tp.v, "proto tcp", 1)
			bits := 32
			if f.v6 {
				bits = 128
			}
			wantSessions(t, tp.v, fmt.Sprintf("addr %s/%d", tp.pg0.Hosts[1].IP(f.v6), bits), 1)
			wantSessions(t, tp.v, "table 0", 4)
			tp.v.Table(t, 7) // exists, empty
			wantSessions(t, tp.v, "table 7", 0)
			if v := tp.cli(t, "cnat show session verbose"); !strings.Contains(v, tp.pg0.Hosts[0].IP(f.v6).String()) {
				t.Errorf("cnat show session verbose does not show client %s:\n%s", tp.pg0.Hosts[0].IP(f.v6), v)
			}

			// Delete one, by its forward 5-tuple.
			tp.cli(t, "cnat session delete proto udp %s 4001 %s 80", u.fwd.Src, f.vip())
			wantSessions(t, tp.v, "", 3)
			u.gone(t, "udp session after cnat session delete", 0)
			// Deleting an absent session is not an error.
			if _, err := tp.v.CLI(fmt.Sprintf("cnat session delete proto udp %s 4001 %s 80", u.fwd.Src, f.vip())); err != nil {
				t.Errorf("deleting an absent session: %v", err)
			}

			// Purge: sessions go, translations stay and still work.
			trBefore := tp.cli(t, "cnat show translation")
			tp.cli(t, "cnat session purge")
			wantSessions(t, tp.v, "", 0)
			if trAfter := tp.cli(t, "cnat show translation"); len(ipRe.FindAllString(trAfter, -1)) != len(ipRe.FindAllString(trBefore, -1)) {
				t.Errorf("purge changed the translations:\nbefore:\n%s\nafter:\n%s", trBefore, trAfter)
			}
			startFlow(t, tp, f, vh.UDP, 4005)
			tp.cli(t, "cnat session purge")
			for _, pr := range protos {
				tp.cli(t, "cnat translation del proto %s vip %s%s", pr, f.vip(), pa(pr, 80))
				delete(tp.vips, name(f.name, pr))
			}
		})
	}
}
