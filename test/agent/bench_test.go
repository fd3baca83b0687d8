package agenttest_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	agenttest "github.com/cloudnat/cloudnat/test/agent"
)

// BenchmarkResyncAfterRestart: a cloudnat-agent process holds n
// translations of 8 backends; VPP is killed and restarted empty; timed is
// the span from the new VPP answering its API to all n translations being
// back in it, read by an independent API client (goal for 1,000: under
// 2 s). Run with: go test -run '^$' -bench Resync -benchtime 3x ./test/agent/
func BenchmarkResyncAfterRestart(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := agenttest.NewRig(b, nil)
			state := filepath.Join(r.Dir, "state.json")
			if err := agenttest.SeedState(state, n, 8); err != nil {
				b.Fatal(err)
			}
			a := agenttest.StartAgent(b, r, state)
			a.WaitConnected(2 * time.Minute)
			ctx := agenttest.Context(b)
			if _, err := r.WaitTranslations(ctx, n, 2*time.Minute); err != nil {
				b.Fatalf("initial sync: %v", err)
			}
			var total, fromKill time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				r.Restart()
				b.StartTimer()
				seen, err := r.WaitTranslations(ctx, n, 2*time.Minute)
				if err != nil {
					b.Fatalf("after restart: %v", err)
				}
				total += seen.Sub(r.UpAt)
				fromKill += seen.Sub(r.KilledAt)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/resync")
			b.ReportMetric(fromKill.Seconds()/float64(b.N), "s/kill-to-resynced")
		})
	}
}
