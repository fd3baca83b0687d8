package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/validate"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

// checkingDP is a fake dataplane with a dataplane.Checker that refuses
// VRFs above 65535 (unsupported) and interface names longer than 15 bytes
// (invalid), as the kernel dataplane does.
type checkingDP struct {
	*fakedp.DP
	checks int
}

func (c *checkingDP) CheckTranslation(_ context.Context, t model.Translation) error {
	c.checks++
	// As the kernel dataplane: keys come normalized (ICMPv6 for IPv6).
	if (t.Key.Proto == model.ProtoICMP && t.Key.VIP.Is6()) || (t.Key.Proto == model.ProtoICMPv6 && t.Key.VIP.Is4()) {
		return fmt.Errorf("translation %s: %s with the wrong family", t.Key, t.Key.Proto)
	}
	if t.Key.VRF > 65535 {
		return fmt.Errorf("VRF %d does not fit a conntrack zone: %w", t.Key.VRF, dataplane.ErrUnsupported)
	}
	return nil
}

func (c *checkingDP) CheckInterfaceName(name string) error {
	c.checks++
	if len(name) > 15 {
		return fmt.Errorf("%s is longer than 15 bytes", validate.Quote(name))
	}
	return nil
}

func withChecker(c **checkingDP) envOpt {
	return func(cfg *envConfig) {
		cfg.wrap = func(dp *fakedp.DP) dataplane.Dataplane {
			*c = &checkingDP{DP: dp}
			return *c
		}
	}
}

// TestCheckerGetsNormalizedKeys: an API ICMP translation with an IPv6 VIP
// reaches the Checker as ICMPv6, as the reconciler later puts it.
func TestCheckerGetsNormalizedKeys(t *testing.T) {
	var c *checkingDP
	e := newEnv(t, withChecker(&c))
	for _, vip := range []string{"30.0.0.9", "fd00::9"} {
		tr := &pb.Translation{Vip: vip, Proto: pb.Protocol_PROTOCOL_ICMP, Lb: pb.LBMethod_LB_METHOD_HASH,
			Backends: []*pb.Backend{{DstAddr: strings.Replace(vip, "9", "1", 1)}}}
		if _, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: tr}); err != nil {
			t.Errorf("icmp translation of %s: %v", vip, err)
		}
	}
}

// TestCheckerRefusesBeforeStore: what the dataplane's Checker refuses is
// never stored and never reaches the dataplane.
func TestCheckerRefusesBeforeStore(t *testing.T) {
	var c *checkingDP
	e := newEnv(t, withChecker(&c))
	tr := web()
	tr.Lb = pb.LBMethod_LB_METHOD_HASH
	tr.Vrf = 70000
	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"vrf 70000", func() error {
			_, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: tr})
			return err
		}, codes.FailedPrecondition, "conntrack zone"},
		{"update vrf 70000", func() error {
			_, err := e.tr.UpdateTranslation(ctx(), &pb.UpdateTranslationRequest{Translation: tr, AllowMissing: true})
			return err
		}, codes.FailedPrecondition, "conntrack zone"},
		{"interface 20 bytes", func() error {
			_, err := e.snat.EnableSNATInterface(ctx(), &pb.SNATInterfaceRequest{Interface: strings.Repeat("i", 20)})
			return err
		}, codes.InvalidArgument, "interface: \"iiiiiiiiiiiiiiiiiiii\" is longer than 15 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := e.dp.Calls(fakedp.OpPutTranslation) + e.dp.Calls(fakedp.OpPutSNATInterface)
			wantCode(t, tc.call(), tc.code, tc.msg)
			if d := e.st.Get(); len(d.Translations)+len(d.SNATInterfaces) != 0 {
				t.Errorf("stored: %+v", d)
			}
			if n := e.dp.Calls(fakedp.OpPutTranslation) + e.dp.Calls(fakedp.OpPutSNATInterface); n != calls {
				t.Errorf("the dataplane was called")
			}
		})
	}
	// Disabling is not checked: a name stored before must stay removable.
	if _, err := e.snat.DisableSNATInterface(ctx(), &pb.SNATInterfaceRequest{Interface: strings.Repeat("i", 20)}); err != nil {
		t.Errorf("disable: %v", err)
	}
	if c.checks != 3 {
		t.Errorf("checker called %d times, want 3", c.checks)
	}
}

// TestLimitsAndShortErrors: requests beyond the limits are INVALID_ARGUMENT
// (or RESOURCE_EXHAUSTED past the message size), and no error quotes more
// than a short prefix of the input.
func TestLimitsAndShortErrors(t *testing.T) {
	e := newEnv(t)
	huge := strings.Repeat("1", 900<<10)
	tr := web()
	tr.Vip = huge
	_, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: tr})
	wantCode(t, err, codes.InvalidArgument, "…(921600 bytes) is longer than 64 bytes")
	if n := len(status.Convert(err).Message()); n > 200 {
		t.Errorf("error of %d bytes for a huge VIP", n)
	}

	addrs := make([]string, validate.MaxSNATAddresses+1)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255+0)
	}
	addrs[0] = "10.255.255.1"
	_, err = e.snat.SetSNATAddresses(ctx(), &pb.SetSNATAddressesRequest{Addrs: addrs})
	wantCode(t, err, codes.InvalidArgument, "addrs: 16385 addresses, at most 16384 in one pool")

	_, err = e.snat.EnableSNATInterface(ctx(), &pb.SNATInterfaceRequest{Interface: strings.Repeat("x", 100<<10)})
	wantCode(t, err, codes.InvalidArgument, "…(102400 bytes) is longer than 63 bytes")

	_, err = e.snat.AddSNATExclusion(ctx(), &pb.AddSNATExclusionRequest{Prefix: strings.Repeat("f", 3<<20)})
	wantCode(t, err, codes.ResourceExhausted, "larger than max")

	if d := e.st.Get(); len(d.Translations)+len(d.SNATAddresses)+len(d.SNATInterfaces)+len(d.SNATExclusions) != 0 {
		t.Errorf("stored: %+v", d)
	}
}

// TestCancelledWriteNotStored: a write whose request has ended before the
// commit is not stored and says so; a stored write survives its client
// going away.
func TestCancelledWriteNotStored(t *testing.T) {
	e := newEnv(t)
	srv := New(Config{Store: e.st, Reconciler: e.rec, Dataplane: e.dp})
	cctx, cancel := context.WithCancel(ctx())
	cancel()
	_, err := srv.CreateTranslation(cctx, &pb.CreateTranslationRequest{Translation: web()})
	wantCode(t, err, codes.Canceled, "not stored")
	dctx, dcancel := context.WithDeadline(ctx(), time.Now().Add(-time.Second))
	defer dcancel()
	_, err = srv.CreateTranslation(dctx, &pb.CreateTranslationRequest{Translation: web()})
	wantCode(t, err, codes.DeadlineExceeded, "not stored")
	if d := e.st.Get(); len(d.Translations) != 0 {
		t.Fatalf("a cancelled write was stored: %+v", d.Translations)
	}
	if data, _ := os.ReadFile(e.path); strings.Contains(string(data), "30.0.0.2") {
		t.Fatal("a cancelled write reached the state file")
	}

	// A writer waiting for another gives up with its client.
	srv.writeSem <- struct{}{}
	wctx, wcancel := context.WithTimeout(ctx(), 50*time.Millisecond)
	defer wcancel()
	_, err = srv.CreateTranslation(wctx, &pb.CreateTranslationRequest{Translation: web()})
	<-srv.writeSem
	wantCode(t, err, codes.DeadlineExceeded, "not stored")

	// Committed, then the client goes: the dataplane gets it all the same.
	e.dp.SetFail(func(op string, _ any) error {
		if op == fakedp.OpPutTranslation {
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	sctx, scancel := context.WithCancel(ctx())
	go func() { time.Sleep(30 * time.Millisecond); scancel() }()
	if _, err := srv.CreateTranslation(sctx, &pb.CreateTranslationRequest{Translation: web()}); err != nil {
		t.Fatal(err)
	}
	if got := e.dp.Snapshot().Translations; len(got) != 1 {
		t.Fatalf("dataplane holds %d translations, want the committed one", len(got))
	}
}

// TestWriteNotBlockedByLongSync: while another sync holds the dataplane
// longer than SyncTimeout, a write is stored and answered PENDING in about
// SyncTimeout, instead of waiting for it.
func TestWriteNotBlockedByLongSync(t *testing.T) {
	e := newEnv(t)
	srv := New(Config{Store: e.st, Reconciler: e.rec, Dataplane: e.dp, SyncTimeout: 100 * time.Millisecond})
	release := make(chan struct{})
	e.dp.SetFail(func(op string, _ any) error {
		if op == fakedp.OpListTranslations {
			<-release
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- e.rec.SyncAll(ctx()) }()
	time.Sleep(20 * time.Millisecond) // the full sync holds the dataplane
	start := time.Now()
	resp, err := srv.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: web()})
	took := time.Since(start)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if took > 3*time.Second || resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_PENDING ||
		!strings.Contains(resp.GetSync().GetError(), "dataplane busy") {
		t.Fatalf("took %v, sync %v; want PENDING (dataplane busy) in about 100ms", took, resp.GetSync())
	}
	if len(e.st.Get().Translations) != 1 {
		t.Fatal("acknowledged but not stored")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStatusShowsRetries: a failing object is an item with its error,
// attempts and next attempt; the others are synced.
func TestStatusShowsRetries(t *testing.T) {
	e := newEnv(t)
	e.dp.SetFail(func(op string, arg any) error {
		if op == fakedp.OpPutTranslation && arg.(model.Translation).Key.VIP.String() == "30.0.0.9" {
			return fmt.Errorf("netlink: message too long")
		}
		return nil
	})
	bad := web()
	bad.Vip = "30.0.0.9"
	resp, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: bad})
	if err != nil || resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_FAILED {
		t.Fatalf("create: %v %v", resp, err)
	}
	if resp, err := e.tr.CreateTranslation(ctx(), &pb.CreateTranslationRequest{Translation: web()}); err != nil ||
		resp.GetSync().GetState() != pb.SyncState_SYNC_STATE_SYNCED {
		t.Fatalf("a failing object blocked another: %v %v", resp, err)
	}
	st, err := e.stat.GetStatus(ctx(), &pb.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetItems()) != 1 {
		t.Fatalf("items %v", st.GetItems())
	}
	it := st.GetItems()[0]
	if it.GetAttempts() != 1 || it.GetNextAttempt() == nil || !strings.Contains(it.GetError(), "message too long") ||
		it.GetState() != pb.SyncState_SYNC_STATE_FAILED {
		t.Fatalf("item %v", it)
	}
}
