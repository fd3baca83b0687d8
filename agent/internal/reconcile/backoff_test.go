package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// TestFailingItemsNeverBlockOthers: one translation that always fails and
// one the dataplane refuses as unsupported: every other change still goes
// in at once, the failing one is retried with a growing, bounded backoff
// (no hot loop), and the unsupported one is not retried on a timer at all.
func TestFailingItemsNeverBlockOthers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dp := fakedp.New()
	bad, refused := key("30.0.0.66", 80), key("30.0.0.77", 80)
	var mu sync.Mutex
	calls := map[model.TranslationKey]int{}
	dp.SetFail(func(op string, arg any) error {
		if op != fakedp.OpPutTranslation {
			return nil
		}
		k := arg.(model.Translation).Key
		mu.Lock()
		defer mu.Unlock()
		calls[k]++
		switch k {
		case bad:
			return errors.New("message too long")
		case refused:
			return fmt.Errorf("vrf: %w", dataplane.ErrUnsupported)
		}
		return nil
	})
	src := &memSource{d: model.Desired{Translations: []model.Translation{
		tr("30.0.0.66", 80, "20.0.0.1:80"), tr("30.0.0.77", 80, "20.0.0.1:80"),
	}}}
	r := New(dp, src, Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, Interval: time.Hour})
	go r.Run(ctx)
	waitFor(t, func() bool { return len(r.Status().Items) == 2 })

	// New intent goes in at once although two items fail.
	for i := range 20 {
		vip := fmt.Sprintf("30.0.1.%d", i+1)
		src.set(func(d *model.Desired) { d.Translations = append(d.Translations, tr(vip, 80, "20.0.0.1:80")) })
		if res := r.Sync(ctx, TranslationID(key(vip, 80))); res.State != Synced {
			t.Fatalf("%s: %+v", vip, res)
		}
	}
	time.Sleep(600 * time.Millisecond)
	mu.Lock()
	nBad, nRefused := calls[bad], calls[refused]
	mu.Unlock()
	// 10, 20, 40, 80, 80, ... ms (±20%): about 10 attempts in 600 ms.
	if nBad < 2 || nBad > 16 {
		t.Errorf("the failing item was tried %d times in 600 ms, want a bounded backoff (2..16)", nBad)
	}
	if nRefused != 1 {
		t.Errorf("the unsupported item was tried %d times, want 1 (no timer retries)", nRefused)
	}
	st := r.Status()
	if len(st.Items) != 2 {
		t.Fatalf("items %+v", st.Items)
	}
	for _, it := range st.Items {
		switch it.ID.Translation {
		case bad:
			if it.State != Failed || it.Attempts < 2 || it.Next.IsZero() || !errorsContains(it.Err, "message too long") {
				t.Errorf("failing item %+v", it)
			}
		case refused:
			if it.State != Failed || it.Attempts != 1 || !it.Next.IsZero() {
				t.Errorf("unsupported item %+v", it)
			}
		}
	}
	if got := len(dp.Snapshot().Translations); got != 20 {
		t.Errorf("dataplane holds %d translations, want 20", got)
	}
}

func TestItemBackoffGrowsToMax(t *testing.T) {
	r := New(fakedp.New(), &memSource{}, Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	id := TranslationID(key("30.0.0.2", 80))
	var last time.Duration
	for i := range 10 {
		before := time.Now()
		r.record(id, "put", errors.New("boom"))
		it := r.items[id]
		d := it.Next.Sub(before) // the jittered delay, plus any scheduling delay
		want := min(100*time.Millisecond<<i, time.Second)
		if d < want*79/100 || d > want*121/100+50*time.Millisecond {
			t.Fatalf("attempt %d: next in %v, want about %v", i+1, d, want)
		}
		last = d
	}
	if last > 1250*time.Millisecond+50*time.Millisecond {
		t.Errorf("backoff %v beyond the cap", last)
	}
	r.record(id, "delete", errors.New("boom"))
	if it := r.items[id]; it.Attempts != 1 {
		t.Errorf("a new op kept %d attempts", it.Attempts)
	}
}
