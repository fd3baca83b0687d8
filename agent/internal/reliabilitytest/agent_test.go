package reliabilitytest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
	"github.com/cloudnat/cloudnat/test/agentproc"
)

func tr(vip string) *pb.Translation {
	return &pb.Translation{Vip: vip, Port: 80, Proto: pb.Protocol_PROTOCOL_TCP,
		Backends: []*pb.Backend{{DstAddr: "10.99.0.1", DstPort: 8080}}}
}

func create(t *testing.T, p *agentproc.Proc, vip string) {
	t.Helper()
	if _, err := p.Tr.CreateTranslation(ctx(t), &pb.CreateTranslationRequest{Translation: tr(vip)}); err != nil {
		t.Fatalf("create %s: %v", vip, err)
	}
}

func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Fatalf("got %v %.300q, want %v containing %q", st.Code(), st.Message(), code, msg)
	}
}

// TestOneAgentPerTable: a second agent on the same table (another state
// file) is refused with a clear error; the first goes on.
func TestOneAgentPerTable(t *testing.T) {
	r := newRig(t)
	a := r.start(r.opts("a.json"))
	code, out := agentproc.Run(r.opts("b.json"), 20*time.Second)
	if code != 1 || !strings.Contains(out, "only one agent may drive it") || !strings.Contains(out, "a.json") {
		t.Fatalf("second agent: exit %d, output:\n%s", code, out)
	}
	create(t, a, "10.98.0.1")
}

// TestLostIntentRefused: with the state file lost (or "desired": null, or
// a mistyped path), the agent refuses to start and leaves the table as it
// is; --init starts it empty, and the table follows.
func TestLostIntentRefused(t *testing.T) {
	r := newRig(t)
	o := r.opts("state.json")
	a := r.start(o)
	create(t, a, "10.98.0.1")
	a.Stop()
	if !strings.Contains(r.nft(), "10.98.0.1") {
		t.Fatalf("translation not in the table:\n%s", r.nft())
	}
	for _, tc := range []struct {
		name, content string
		path          string
		want          string
	}{
		{"state file lost", "", o.State, "marker"},
		{"desired null", `{"version": 1, "desired": null}`, o.State, `"desired": null`},
		{"mistyped path", "", o.State + ".typo/state.json", "already holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved, err := os.ReadFile(o.State)
			if err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(o.State, saved, 0o600)
			if tc.path == o.State {
				os.Remove(o.State)
				if tc.content != "" {
					os.WriteFile(o.State, []byte(tc.content), 0o600)
				}
			}
			to := o
			to.State = tc.path
			code, out := agentproc.Run(to, 30*time.Second)
			if code != 1 || !strings.Contains(out, "refusing to start") || !strings.Contains(out, tc.want) || !strings.Contains(out, "--init") {
				t.Fatalf("exit %d, output:\n%s", code, out)
			}
			if !strings.Contains(r.nft(), "10.98.0.1") {
				t.Fatal("a refused start changed the table")
			}
		})
	}
	// Starting over on purpose.
	os.Remove(o.State)
	init := o
	init.Args = []string{"--init"}
	a = r.start(init)
	waitFor(t, 15*time.Second, "the table to be emptied", func() bool { return !strings.Contains(r.nft(), "10.98.0.1") })
	if _, err := os.Stat(o.State); err != nil {
		t.Fatalf("no state file after --init: %v", err)
	}
}

// TestLimitsOnTheWire: huge inputs give short errors and leave the
// connection and the agent working; its log does not repeat them.
func TestLimitsOnTheWire(t *testing.T) {
	r := newRig(t)
	a := r.start(r.opts("state.json"))
	big := tr(strings.Repeat("1", 900<<10))
	_, err := a.Tr.CreateTranslation(ctx(t), &pb.CreateTranslationRequest{Translation: big})
	wantCode(t, err, codes.InvalidArgument, "…(921600 bytes) is longer than 64 bytes")
	if n := len(status.Convert(err).Message()); n > 200 {
		t.Errorf("a %d-byte error for a 900 KiB VIP", n)
	}
	huge := tr(strings.Repeat("1", 3<<20))
	_, err = a.Tr.CreateTranslation(ctx(t), &pb.CreateTranslationRequest{Translation: huge})
	wantCode(t, err, codes.ResourceExhausted, "larger than max")
	addrs := make([]string, 16385)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.%d.%d.1", i>>8, i&255)
	}
	_, err = a.SNAT.SetSNATAddresses(ctx(t), &pb.SetSNATAddressesRequest{Addrs: addrs})
	wantCode(t, err, codes.InvalidArgument, "at most 16384")
	create(t, a, "10.98.0.1") // the connection still works
	if out := a.Output(); len(out) > 256<<10 || strings.Contains(out, strings.Repeat("1", 200)) {
		t.Errorf("the log repeats the huge input (%d bytes)", len(out))
	}
}

// TestRefusedBeforeStore: intent the kernel cannot express is refused at
// the API and never stored.
func TestRefusedBeforeStore(t *testing.T) {
	r := newRig(t)
	o := r.opts("state.json")
	a := r.start(o)
	v := tr("10.98.0.2")
	v.Vrf = 70000
	_, err := a.Tr.CreateTranslation(ctx(t), &pb.CreateTranslationRequest{Translation: v})
	wantCode(t, err, codes.FailedPrecondition, "70000")
	if _, ok := any(&kernel.Dataplane{}).(dataplane.Checker); ok {
		_, err = a.SNAT.EnableSNATInterface(ctx(t), &pb.SNATInterfaceRequest{Interface: strings.Repeat("i", 20)})
		wantCode(t, err, codes.InvalidArgument, "interface")
		_, err = a.SNAT.EnableSNATInterface(ctx(t), &pb.SNATInterfaceRequest{Interface: "../x"})
		wantCode(t, err, codes.InvalidArgument, "interface")
	} else {
		t.Log("the kernel dataplane has no dataplane.Checker yet: interface names not checked here")
	}
	data, _ := os.ReadFile(o.State)
	if strings.Contains(string(data), "10.98.0.2") || strings.Contains(string(data), "iiii") || strings.Contains(string(data), "../x") {
		t.Fatalf("refused intent stored:\n%s", data)
	}
	st, err := a.Status.GetStatus(ctx(t), &pb.GetStatusRequest{})
	if err != nil || len(st.GetItems()) != 0 {
		t.Fatalf("status items %v, %v", st.GetItems(), err)
	}
}

// TestAcknowledgedSurvivesKill: writers run while the agent is SIGKILLed;
// after a restart every acknowledged create is in the store and the table.
func TestAcknowledgedSurvivesKill(t *testing.T) {
	r := newRig(t)
	o := r.opts("state.json")
	a := r.start(o)
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				vip := fmt.Sprintf("10.97.%d.%d", w, i+1)
				if _, err := a.Tr.CreateTranslation(ctx(t), &pb.CreateTranslationRequest{Translation: tr(vip)}); err == nil {
					mu.Lock()
					acked = append(acked, vip)
					mu.Unlock()
				} else {
					return // the agent is gone
				}
			}
		})
	}
	time.Sleep(700 * time.Millisecond)
	a.Kill()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write acknowledged before the kill")
	}
	a = r.start(o)
	lr, err := a.Tr.ListTranslations(ctx(t), &pb.ListTranslationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, x := range lr.GetTranslations() {
		stored[x.GetTranslation().GetVip()] = true
	}
	for _, vip := range acked {
		if !stored[vip] {
			t.Errorf("acknowledged %s lost", vip)
		}
	}
	waitFor(t, 20*time.Second, "every stored translation in the table", func() bool {
		table := r.nft()
		for vip := range stored {
			if !strings.Contains(table, vip+" ") && !strings.Contains(table, vip+"\n") && !strings.Contains(table, vip+",") {
				return false
			}
		}
		return true
	})
	t.Logf("%d acknowledged before the SIGKILL, %d stored, all in the table after the restart", len(acked), len(stored))
}

// TestDeletedTableRepaired: `nft delete table inet cloudnat` is repaired
// by the agent (by the periodic reconcile at the latest).
func TestDeletedTableRepaired(t *testing.T) {
	r := newRig(t)
	a := r.start(r.opts("state.json", "--reconcile.interval", "2s"))
	create(t, a, "10.98.0.1")
	if err := agentproc.DeleteTable(r.ns, "cloudnat"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 15*time.Second, "the table back", func() bool { return strings.Contains(r.nft(), "10.98.0.1") })
	t.Logf("table repaired %v after its deletion", time.Since(start).Round(10*time.Millisecond))
}
