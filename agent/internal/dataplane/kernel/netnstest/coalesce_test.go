package netnstest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
)

// intent is an in-memory reconcile.Source.
type intent struct {
	mu sync.RWMutex
	d  model.Desired
}

func (s *intent) View(fn func(*model.Desired)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(&s.d)
}

func (s *intent) add(t model.Translation) {
	s.mu.Lock()
	s.d.Translations = append(s.d.Translations, t)
	s.mu.Unlock()
}

// BenchmarkKernelConcurrentCreates: 10,000 translations x 8 backends
// created one by one by 16 concurrent clients through the reconciler
// (each: add to intent, Sync its id, as an API write does), on the kernel
// dataplane. "serial": each write's Sync runs alone (the server's write
// lock held across it, as before writes were coalesced); "coalesced":
// the writes' Syncs overlap and the reconciler applies the waiting ones
// together (group commit, one bulk transaction).
func BenchmarkKernelConcurrentCreates(b *testing.B) {
	n := 10000 / benchScale()
	for _, mode := range []string{"serial", "coalesced"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				_, d := benchLab(b)
				src := &intent{}
				r := reconcile.New(d, src, reconcile.Options{Interval: time.Hour})
				ctx := context.Background()
				if err := r.SyncAll(ctx); err != nil {
					b.Fatal(err)
				}
				ts := scaleTranslations(n, 8)
				var serial sync.Mutex
				var wg sync.WaitGroup
				next := make(chan model.Translation)
				failed := 0
				var fmu sync.Mutex
				start, cpu := time.Now(), cpuTime()
				for c := 0; c < 16; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for t := range next {
							if mode == "serial" {
								serial.Lock()
							}
							src.add(t)
							res := r.Sync(ctx, reconcile.TranslationID(t.Key))
							if mode == "serial" {
								serial.Unlock()
							}
							if res.State != reconcile.Synced {
								fmu.Lock()
								failed++
								fmu.Unlock()
							}
						}
					}()
				}
				for _, t := range ts {
					next <- t
				}
				close(next)
				wg.Wait()
				b.ReportMetric(time.Since(start).Seconds(), "s/10k-x8")
				b.ReportMetric((cpuTime() - cpu).Seconds(), "cpu-s/10k-x8")
				if failed > 0 {
					b.Fatalf("%d writes not synced", failed)
				}
				if got, err := d.ListTranslations(ctx); err != nil || len(got) != n {
					b.Fatalf("dataplane holds %d translations (%v), want %d", len(got), err, n)
				}
			}
		})
	}
}

// BenchmarkKernelInitialSync: the reconciler's first full sync (agent
// start) of 100,000 translations x 4 backends into an empty table.
func BenchmarkKernelInitialSync(b *testing.B) {
	n := 100000 / benchScale()
	for i := 0; i < b.N; i++ {
		_, d := benchLab(b)
		src := &intent{d: model.Desired{Translations: scaleTranslations(n, 4)}}
		r := reconcile.New(d, src, reconcile.Options{Interval: time.Hour})
		ctx := context.Background()
		start, cpu := time.Now(), cpuTime()
		if err := r.SyncAll(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/initial-sync-100k")
		b.ReportMetric((cpuTime() - cpu).Seconds(), "cpu-s/initial-sync-100k")
		if got, err := d.ListTranslations(ctx); err != nil || len(got) != n {
			b.Fatalf("dataplane holds %d translations (%v), want %d", len(got), err, n)
		}
	}
}
