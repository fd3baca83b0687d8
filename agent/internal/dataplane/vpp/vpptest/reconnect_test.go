package vpptest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/vpp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	agenttest "github.com/cloudnat/cloudnat/test/agent"
)

// TestReconnect: VPP is killed and restarted; the dataplane reports
// Disconnected, calls fail with ErrNotConnected meanwhile, then it
// reconnects by itself, reports Connected and works again.
func TestReconnect(t *testing.T) {
	r := agenttest.NewRig(t, nil)
	d := openDP(t, r)
	ctx := agenttest.Context(t)
	if err := d.PutTranslation(ctx, translations(1, 2)[0]); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		r.Kill()
		waitEvent(t, d.Events(), dataplane.Disconnected, 10*time.Second)
		t.Logf("disconnect seen %v after the kill", time.Since(r.KilledAt).Round(time.Millisecond))
		if _, err := d.ListTranslations(ctx); err == nil {
			t.Error("ListTranslations succeeded with VPP dead")
		}
		r.Start()
		waitEvent(t, d.Events(), dataplane.Connected, 10*time.Second)
		t.Logf("reconnected %v after the new VPP answered", time.Since(r.UpAt).Round(time.Millisecond))
		if !d.Info(ctx).Connected {
			t.Error("Info not connected after Connected")
		}
		got, err := d.ListTranslations(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("new VPP: %v, %v (want empty)", got, err)
		}
		if err := d.PutTranslation(ctx, translations(1, 2)[0]); err != nil {
			t.Fatalf("PutTranslation after reconnect: %v", err)
		}
	}
}

// setUpProgramBenchmark opens the dataplane of a new rig and makes the
// 10,000 translations of 8 backends to program, and their keys.
func setUpProgramBenchmark(b *testing.B) (*vpp.Dataplane, context.Context, []model.Translation, []model.TranslationKey) {
	b.Helper()
	r := agenttest.NewRig(b, nil)
	d := openDP(b, r)
	ctx := agenttest.Context(b)
	ts := translations(10000, 8)
	keys := make([]model.TranslationKey, len(ts))
	for i := range ts {
		keys[i] = ts[i].Key
	}
	return d, ctx, ts, keys
}

// BenchmarkProgram10kTranslations8Backends: time to program 10,000
// translations of 8 backends each into an empty VPP through the
// dataplane's pipelined batch call (goal: under 1 s). Each iteration starts
// from empty; the removal between iterations is not timed.
func BenchmarkProgram10kTranslations8Backends(b *testing.B) {
	d, ctx, ts, keys := setUpProgramBenchmark(b)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for j, err := range d.PutTranslations(ctx, ts) {
			if err != nil {
				b.Fatalf("translation %d: %v", j, err)
			}
		}
		total += time.Since(start)
		b.StopTimer()
		got, err := d.ListTranslations(ctx)
		if err != nil || len(got) != len(ts) {
			b.Fatalf("VPP holds %d translations (%v), want %d", len(got), err, len(ts))
		}
		for j, err := range d.DeleteTranslations(ctx, keys) {
			if err != nil {
				b.Fatalf("delete %d: %v", j, err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/10k")
	b.ReportMetric(float64(len(ts)*b.N)/total.Seconds(), "translations/s")
}

// BenchmarkProgram10kTranslations8BackendsSerial is the same with one
// PutTranslation call at a time (what a reconciler without the batch call
// does): each waits for its reply, through the same pipe.
func BenchmarkProgram10kTranslations8BackendsSerial(b *testing.B) {
	d, ctx, ts, keys := setUpProgramBenchmark(b)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for j := range ts {
			if err := d.PutTranslation(ctx, ts[j]); err != nil {
				b.Fatalf("translation %d: %v", j, err)
			}
		}
		total += time.Since(start)
		b.StopTimer()
		for j, err := range d.DeleteTranslations(ctx, keys) {
			if err != nil {
				b.Fatalf("delete %d: %v", j, err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/10k")
}
