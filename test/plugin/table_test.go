package plugin

import (
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	"github.com/cloudnat/cloudnat/binapi/ip_types"
	vh "github.com/cloudnat/cloudnat/test/vppharness"
)

// The session table does not grow (startup.conf session-buckets): a table
// that is too small drops new flows with a counter, keeps the sessions it
// has, and says how full it is.

// tableLine matches the ip4 line of "cnat show session".
var tableLine = regexp.MustCompile(`ip4 session table: (\d+) buckets \(\d+ MB\), (\d+) entries = ([\d.]+)% of slots`)

// TestSessionTableFull: the smallest table (1024 buckets, 10 slots each,
// 32 spare: at most 5,280 sessions) takes 7,000 new flows. Every flow that
// got a session is translated, every other one is dropped and counted as
// "session table full", nothing else is lost, and earlier flows still work.
func TestSessionTableFull(t *testing.T) {
	t.Parallel()
	tp := newTopoWith(t, vh.Options{ExtraStartup: "cloudnat { session-buckets 1024 }"})
	f := families[0]
	tp.cli(t, "cnat translation add proto UDP vip 30.0.0.2 80 to ->20.0.0.1 8080")
	first := flow(tp.client(0, f), f.vip(), vh.UDP, 1000, 80)
	tp.one(t, tp.pg0, first, tp.pg1)

	const n = 7000
	pkts := make([]vh.Pkt, 0, n)
	for i := 0; i < n; i++ {
		// 3 clients x ports: 7,000 distinct flows
		pkts = append(pkts, flow(tp.client(i%3, f), f.vip(), vh.UDP, uint16(2000+i/3), 80))
	}
	before := cnatErrors(t, tp.v, "session table full")
	c := tp.v.Send(t, tp.pg0, vh.Frames(t, pkts...))
	out := len(c[tp.pg1])
	full := int(cnatErrors(t, tp.v, "session table full") - before)
	sessions := nSessions(t, tp.v, "")
	t.Logf("7000 new flows into a 1024-bucket table: %d translated, %d dropped as table full, %d sessions", out, full, sessions)
	if out+full != n {
		t.Errorf("%d translated + %d counted as table full = %d, want every one of the %d flows accounted for:\n%s",
			out, full, out+full, n, tp.cli(t, "show errors"))
	}
	if full == 0 || out < 4000 {
		t.Errorf("a table of 10,560 slots took %d of 7,000 flows (%d dropped): want it to fill (more than 4,000) and then drop", out, full)
	}
	if sessions != out+1 {
		t.Errorf("cnat show session counts %d sessions, want %d (the first flow + every translated one)", sessions, out+1)
	}
	sum := tp.cli(t, "cnat show session")
	m := tableLine.FindStringSubmatch(sum)
	if m == nil {
		t.Fatalf("cnat show session has no ip4 session table line:\n%s", sum)
	}
	if m[1] != "1024" {
		t.Errorf("table line says %s buckets, want 1024: %s", m[1], m[0])
	}
	if e, _ := strconv.Atoi(m[2]); e != 2*sessions {
		t.Errorf("table line says %d entries, want 2 per session = %d: %s", e, 2*sessions, m[0])
	}
	// the binary API says the same
	tables := apiSessionTables(t, tp.v)
	if len(tables) != 2 {
		t.Errorf("cloudnat_session_table_dump: %d details, want 2 (ip4, ip6): %+v", len(tables), tables)
	}
	for _, d := range tables {
		if d.Af != ip_types.ADDRESS_IP4 {
			continue
		}
		if d.NBuckets != 1024 || d.NSlots != (1024+32)*10 || d.NEntries != uint64(2*sessions) || d.Bytes != (1024+32)*64 {
			t.Errorf("cloudnat_session_table_details for ip4: %+v, want 1024 buckets, 10560 slots, %d entries, 67584 bytes", d, 2*sessions)
		}
	}
	// the sessions it has still translate
	tp.one(t, tp.pg0, first, tp.pg1)
	tp.one(t, tp.pg0, pkts[0], tp.pg1)
	// and a purge makes room again
	tp.cli(t, "cnat session purge")
	tp.one(t, tp.pg0, pkts[n-1], tp.pg1)
}

// TestSessionBucketsOutOfRange: a session-buckets value VPP cannot use stops
// VPP at start with a line that names the setting and its range.
func TestSessionBucketsOutOfRange(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := vh.StartProcess(ctx, vh.Options{ExtraStartup: "cloudnat { session-buckets 10 }", StartTimeout: 15 * time.Second})
	if v == nil {
		t.Fatalf("VPP did not start at all: %v", err)
	}
	defer func() {
		if !t.Failed() {
			_ = os.RemoveAll(v.Dir)
		} else {
			t.Logf("VPP run directory kept: %s", v.Dir)
		}
	}()
	if err == nil {
		_ = v.Stop()
		t.Fatalf("VPP started with cloudnat { session-buckets 10 }; want it to refuse")
	}
	if !errors.Is(err, vh.ErrExited) {
		t.Logf("start error: %v", err)
	}
	log := v.Log()
	if !strings.Contains(log, "session-buckets 10 out of range") {
		t.Errorf("no line saying 'session-buckets 10 out of range'; VPP output:\n%s", log)
	}
}

// apiSessionTables is the binary API's cloudnat_session_table_dump.
func apiSessionTables(t *testing.T, v *vh.VPP) []*cloudnat.CloudnatSessionTableDetails {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := cloudnat.NewServiceClient(v.Conn()).CloudnatSessionTableDump(ctx, &cloudnat.CloudnatSessionTableDump{})
	if err != nil {
		t.Fatalf("cloudnat_session_table_dump: %v", err)
	}
	var out []*cloudnat.CloudnatSessionTableDetails
	for {
		d, err := stream.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("cloudnat_session_table_dump: %v", err)
		}
		out = append(out, d)
	}
}
