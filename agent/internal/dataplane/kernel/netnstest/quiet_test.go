package netnstest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
)

// TestForeignChangeDuringBulkWrite: while the dataplane writes in bulk it
// does not listen to notifications; a foreign transaction in that window
// is still noticed (the nf_tables generation moved more than its own
// transactions): the reconciler gets a Connected event, and the table
// reads back whole.
func TestForeignChangeDuringBulkWrite(t *testing.T) {
	lab := natLab(t)
	d := openIn(t, lab, "r")
	<-d.Events()
	// Alone: no event.
	must(t, d.PutTranslations(ctx(t), scaleTranslations(30000, 1)[20000:]))
	select {
	case ev := <-d.Events():
		t.Fatalf("event %v after a bulk write with no foreign change", ev)
	case <-time.After(300 * time.Millisecond):
	}
	nc := nftConn(t, lab, "r")
	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // foreign commits, one every millisecond
		defer close(done)
		for !stop.Load() {
			tb := nc.AddTable(&nftables.Table{Name: "foreign", Family: nftables.TableFamilyINet})
			_ = nc.Flush()
			nc.DelTable(tb)
			_ = nc.Flush()
			time.Sleep(time.Millisecond)
		}
	}()
	ts := scaleTranslations(20000, 4)
	err := d.PutTranslations(ctx(t), ts)
	stop.Store(true)
	<-done
	must(t, err)
	select {
	case ev := <-d.Events():
		if ev != dataplane.Connected {
			t.Fatalf("event %v, want Connected", ev)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a foreign transaction during the bulk write went unnoticed")
	}
	got, err := d.ListTranslations(ctx(t))
	must(t, err)
	if len(got) != len(ts)+10000 {
		t.Fatalf("%d translations after the reload, want %d", len(got), len(ts)+10000)
	}
}
