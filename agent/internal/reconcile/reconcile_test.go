package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// memSource is an in-memory Source.
type memSource struct {
	mu sync.RWMutex
	d  model.Desired
}

func (m *memSource) View(fn func(*model.Desired)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	fn(&m.d)
}

func (m *memSource) set(fn func(*model.Desired)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(&m.d)
}

func fullDesired() model.Desired {
	return model.Desired{
		Translations: []model.Translation{
			tr("30.0.0.2", 80, "20.0.0.1:8080", "20.0.0.2:8080"),
			tr("30.0.0.3", 443, "20.0.0.1:8443"),
		},
		SNATAddresses:  []model.SNATAddress{{Addr: a("1.1.1.1")}, {Addr: a("2001:db8::1")}},
		SNATExclusions: []model.SNATExclusion{{Prefix: p("10.0.0.0/8")}},
		SNATInterfaces: []model.SNATInterface{{Interface: "tap0", Family: model.IPv4}},
		Timeouts:       model.Timeouts{UDP: 30 * time.Second},
		SessionLimits:  []model.SessionLimit{{VRF: model.AllVRFs, Max: 100}},
	}
}

// checkHolds fails unless dp holds exactly d (in its canonical form).
func checkHolds(t *testing.T, dp *fakedp.DP, d model.Desired) {
	t.Helper()
	if ops := Diff(IndexDesired(&d), indexSnapshot(dp)); len(ops) != 0 {
		t.Fatalf("dataplane differs from intent: %q", opStrings(ops))
	}
}

func indexSnapshot(dp *fakedp.DP) *State {
	s := dp.Snapshot()
	st := IndexDesired(&s)
	st.Timeouts = s.Timeouts
	return st
}

func TestSyncAllIdempotent(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	src := &memSource{d: fullDesired()}
	r := New(dp, src, Options{})
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, dp, src.d)
	dp.ResetCalls()
	for range 3 {
		if err := r.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, op := range []string{fakedp.OpPutTranslation, fakedp.OpDeleteTranslation, fakedp.OpPutSNATAddress,
		fakedp.OpDeleteSNATAddress, fakedp.OpPutSNATExclusion, fakedp.OpPutSNATInterface, fakedp.OpSetTimeouts, fakedp.OpSetSessionLimit} {
		if n := dp.Calls(op); n != 0 {
			t.Errorf("%s called %d times on an in-sync dataplane", op, n)
		}
	}
	if st := r.Status(); len(st.Items) != 0 || st.LastErr != nil || st.LastFullSync.IsZero() {
		t.Fatalf("status %+v", st)
	}
}

func TestSyncTargetedMinimal(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	src := &memSource{d: fullDesired()}
	r := New(dp, src, Options{})
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	dp.ResetCalls()
	// Change one translation, delete another, and sync them.
	k2, k3 := key("30.0.0.2", 80), key("30.0.0.3", 443)
	src.set(func(d *model.Desired) {
		d.Translations = []model.Translation{tr("30.0.0.2", 80, "20.0.0.9:8080")}
	})
	res := r.Sync(ctx, TranslationID(k2), TranslationID(k3))
	if res.State != Synced || res.Err != nil {
		t.Fatalf("result %+v", res)
	}
	if n := dp.Calls(fakedp.OpPutTranslation); n != 1 {
		t.Errorf("%d puts, want 1", n)
	}
	if n := dp.Calls(fakedp.OpDeleteTranslation); n != 1 {
		t.Errorf("%d deletes, want 1", n)
	}
	if n := dp.Calls(fakedp.OpListTranslations); n != 0 {
		t.Errorf("targeted sync dumped the dataplane (%d lists)", n)
	}
	checkHolds(t, dp, src.d)
	// The same again is a no-op.
	dp.ResetCalls()
	r.Sync(ctx, TranslationID(k2))
	if n := dp.Calls(fakedp.OpPutTranslation); n != 0 {
		t.Errorf("unchanged translation re-put")
	}
}

func TestRepairsDrift(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	src := &memSource{d: fullDesired()}
	r := New(dp, src, Options{})
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	// Someone deletes a translation and adds another behind our back.
	dp.DeleteTranslation(ctx, key("30.0.0.2", 80))
	dp.PutTranslation(ctx, tr("99.0.0.1", 1, "20.0.0.1:1"))
	dp.SetTimeouts(ctx, model.Timeouts{ICMP: time.Second})
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, dp, src.d)
}

func TestFailThenRecoverWithBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dp := fakedp.New()
	src := &memSource{d: fullDesired()}
	var mu sync.Mutex
	var attempts []time.Time
	failing := true
	dp.SetFail(func(op string, arg any) error {
		if op != fakedp.OpPutTranslation {
			return nil
		}
		if t, _ := arg.(model.Translation); t.Key != key("30.0.0.2", 80) {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Now())
		if failing {
			return errors.New("table full")
		}
		return nil
	})
	// Delays of 50, 100, 200 ms: their growth stands out from scheduling
	// noise on a loaded machine.
	r := New(dp, src, Options{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Interval: time.Hour})
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()

	// The failure shows in status as failed, with its error.
	waitFor(t, func() bool {
		st := r.Status()
		return len(st.Items) == 1 && st.Items[0].State == Failed
	})
	st := r.Status()
	it := st.Items[0]
	if it.ID != TranslationID(key("30.0.0.2", 80)) || it.Op != "put" || it.Err == nil || !errorsContains(it.Err, "table full") {
		t.Fatalf("item %+v", it)
	}
	// Everything else went in.
	if _, err := dp.ListTranslations(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(dp.Snapshot().Translations); got != 1 {
		t.Fatalf("dataplane has %d translations, want the 1 that did not fail", got)
	}
	// Retries happen with growing delays.
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(attempts) >= 4 })
	mu.Lock()
	gaps := []time.Duration{}
	for i := 1; i < len(attempts); i++ {
		gaps = append(gaps, attempts[i].Sub(attempts[i-1]))
	}
	failing = false
	mu.Unlock()
	if gaps[len(gaps)-1] < gaps[0] {
		t.Errorf("retry gaps %v do not grow", gaps)
	}
	// Recovery: the item goes, the dataplane holds everything.
	waitFor(t, func() bool { return len(r.Status().Items) == 0 })
	checkHolds(t, dp, src.d)
	if it := r.Status().Items; len(it) != 0 {
		t.Fatalf("items after recovery: %+v", it)
	}
	cancel()
	<-done
}

func TestPendingWhileDisconnected(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	src := &memSource{}
	r := New(dp, src, Options{})
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	dp.Disconnect()
	r.Invalidate()
	k := key("30.0.0.2", 80)
	src.set(func(d *model.Desired) { d.Translations = []model.Translation{tr("30.0.0.2", 80, "20.0.0.1:80")} })
	res := r.Sync(ctx, TranslationID(k))
	if res.State != Pending || !errors.Is(res.Err, dataplane.ErrNotConnected) {
		t.Fatalf("result %+v, want pending / not connected", res)
	}
	if st := r.Status(); len(st.Items) != 1 || st.Items[0].State != Pending || st.LastErr == nil {
		t.Fatalf("status %+v", st)
	}
	dp.Connect()
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, dp, src.d)
	if st := r.Status(); len(st.Items) != 0 || st.LastErr != nil {
		t.Fatalf("status after reconnect %+v", st)
	}
}

func TestResyncAfterRestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dp := fakedp.New()
	src := &memSource{d: fullDesired()}
	r := New(dp, src, Options{Interval: time.Hour, MinBackoff: 10 * time.Millisecond})
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	waitFor(t, func() bool { return len(Diff(IndexDesired(&src.d), indexSnapshot(dp))) == 0 })

	dp.Restart() // comes back empty
	waitFor(t, func() bool { return len(Diff(IndexDesired(&src.d), indexSnapshot(dp))) == 0 })
	checkHolds(t, dp, src.d)
	if got := dp.Snapshot(); len(got.Translations) != 2 || len(got.SNATAddresses) != 2 || got.Timeouts.UDP != 30*time.Second {
		t.Fatalf("after restart: %+v", got)
	}
	cancel()
	<-done
}

func TestDeleteOfAbsentIsNotAnError(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	r := New(dp, &memSource{}, Options{})
	res := r.Sync(ctx, TranslationID(key("30.0.0.2", 80)), SNATAddressID(model.SNATAddress{Addr: a("1.1.1.1")}))
	if res.State != Synced || res.Err != nil {
		t.Fatalf("result %+v", res)
	}
}

func TestFailedItemsDoNotBlockOthers(t *testing.T) {
	ctx := context.Background()
	dp := fakedp.New()
	dp.SetFail(func(op string, arg any) error {
		if op == fakedp.OpPutSNATInterface {
			return fmt.Errorf("no interface tap0: %w", dataplane.ErrUnsupported)
		}
		return nil
	})
	src := &memSource{d: fullDesired()}
	r := New(dp, src, Options{})
	err := r.SyncAll(ctx)
	if !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("err %v", err)
	}
	got := dp.Snapshot()
	if len(got.Translations) != 2 || len(got.SNATAddresses) != 2 || len(got.SNATInterfaces) != 0 {
		t.Fatalf("snapshot %+v", got)
	}
	res := r.ItemState(SNATInterfaceID(model.SNATInterface{Interface: "tap0", Family: model.IPv4}))
	if res.State != Failed {
		t.Fatalf("item state %+v", res)
	}
}

func errorsContains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkProgram10kTranslations programs 10,000 translations of 8
// backends each into an empty (fake) dataplane: dump, diff, 10,000 puts.
func BenchmarkProgram10kTranslations(b *testing.B) {
	const n, backends = 10000, 8
	d := model.Desired{Translations: make([]model.Translation, 0, n)}
	for i := range n {
		t := model.Translation{
			Key: model.TranslationKey{VIP: netip.AddrFrom4([4]byte{30, byte(i >> 16), byte(i >> 8), byte(i)}), Port: 80, Proto: model.ProtoTCP},
			LB:  model.LBMaglev,
		}
		for j := range backends {
			t.Backends = append(t.Backends, model.Backend{DstAddr: netip.AddrFrom4([4]byte{20, 0, byte(i), byte(j)}), DstPort: 8080})
		}
		d.Translations = append(d.Translations, t)
	}
	src := &memSource{d: d}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		dp := fakedp.New()
		r := New(dp, src, Options{})
		if err := r.SyncAll(ctx); err != nil {
			b.Fatal(err)
		}
		if got := dp.Calls(fakedp.OpPutTranslation); got != n {
			b.Fatalf("%d puts", got)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/translation")
}

// bulkDP is a fake dataplane with the kernel's bulk translation write.
type bulkDP struct {
	*fakedp.DP
	calls int
	fail  bool
}

func (b *bulkDP) PutTranslations(ctx context.Context, ts []model.Translation) error {
	b.calls++
	if b.fail {
		return fmt.Errorf("netlink: message too long")
	}
	for _, t := range ts {
		if err := b.DP.PutTranslation(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// A full sync writes the missing translations in one bulk call; when it
// fails, each is applied on its own (per-item status), nothing is lost.
func TestFullSyncUsesBulkWrite(t *testing.T) {
	for _, fail := range []bool{false, true} {
		st := &memSource{}
		for i := 0; i < 100; i++ {
			st.d.Translations = append(st.d.Translations, model.Translation{Key: model.TranslationKey{
				VIP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80, Proto: model.ProtoTCP},
				Backends: []model.Backend{{DstAddr: netip.MustParseAddr("10.1.0.1")}}})
		}
		dp := &bulkDP{DP: fakedp.New(), fail: fail}
		r := New(dp, st, Options{})
		if err := r.SyncAll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := len(dp.Snapshot().Translations); got != 100 || dp.calls != 1 {
			t.Fatalf("fail=%v: %d translations, %d bulk calls", fail, got, dp.calls)
		}
		if st := r.Status(); len(st.Items) != 0 {
			t.Fatalf("items %v", st.Items)
		}
	}
}

// Concurrent Syncs are coalesced: while one holds the dataplane, the
// others queue, and the next applies all of theirs in one bulk call; each
// caller gets its own objects' result after they were applied.
func TestSyncCoalesces(t *testing.T) {
	src := &memSource{}
	dp := &bulkDP{DP: fakedp.New()}
	r := New(dp, src, Options{})
	ctx := context.Background()
	if err := r.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var first sync.Once
	dp.SetFail(func(op string, _ any) error {
		if op == fakedp.OpPutTranslation {
			first.Do(func() { <-release })
		}
		return nil
	})
	add := func(i int) ID {
		tr := model.Translation{Key: model.TranslationKey{VIP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Port: 80, Proto: model.ProtoTCP},
			Backends: []model.Backend{{DstAddr: netip.MustParseAddr("10.1.0.1")}}}
		src.set(func(d *model.Desired) { d.Translations = append(d.Translations, tr) })
		return TranslationID(tr.Key)
	}
	results := make(chan Result, 11)
	go func() { results <- r.Sync(ctx, add(0)) }() // holds the dataplane
	time.Sleep(50 * time.Millisecond)
	for i := 1; i <= 10; i++ {
		id := add(i)
		go func() { results <- r.Sync(ctx, id) }()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	for range 11 {
		if res := <-results; res.State != Synced {
			t.Fatalf("result %v", res)
		}
	}
	if got := len(dp.Snapshot().Translations); got != 11 {
		t.Fatalf("%d translations", got)
	}
	if dp.calls != 1 {
		t.Fatalf("%d bulk calls, want the 10 waiting writes in one", dp.calls)
	}
}
