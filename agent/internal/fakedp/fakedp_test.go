package fakedp

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func TestRules(t *testing.T) {
	ctx := context.Background()
	d := New()
	k := model.TranslationKey{VIP: netip.MustParseAddr("30.0.0.2"), Port: 80, Proto: model.ProtoTCP}
	t1 := model.Translation{Key: k, Backends: []model.Backend{{DstAddr: netip.MustParseAddr("20.0.0.1")}}}
	t2 := model.Translation{Key: k, Backends: []model.Backend{{DstAddr: netip.MustParseAddr("20.0.0.2")}}}
	if err := d.PutTranslation(ctx, t1); err != nil {
		t.Fatal(err)
	}
	if err := d.PutTranslation(ctx, t2); err != nil { // replaces
		t.Fatal(err)
	}
	if ts, _ := d.ListTranslations(ctx); len(ts) != 1 || ts[0].Backends[0].DstAddr != t2.Backends[0].DstAddr {
		t.Fatalf("translations %+v", ts)
	}
	if err := d.DeleteTranslation(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteTranslation(ctx, k); err != nil {
		t.Fatal("delete of absent:", err)
	}
	if d.Calls(OpDeleteTranslation) != 2 {
		t.Fatal("calls not counted")
	}

	boom := errors.New("boom")
	d.SetFail(func(op string, _ any) error {
		if op == OpPutSNATAddress {
			return boom
		}
		return nil
	})
	if err := d.PutSNATAddress(ctx, model.SNATAddress{Addr: netip.MustParseAddr("1.1.1.1")}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	d.SetFail(nil)

	d.PutTranslation(ctx, t1)
	d.Disconnect()
	if ev := <-d.Events(); ev != dataplane.Disconnected {
		t.Fatalf("event %v", ev)
	}
	if _, err := d.ListTranslations(ctx); !errors.Is(err, dataplane.ErrNotConnected) {
		t.Fatalf("err %v", err)
	}
	d.Connect()
	<-d.Events()
	if ts, _ := d.ListTranslations(ctx); len(ts) != 1 {
		t.Fatal("state lost on reconnect")
	}
	d.Restart()
	if ev1, ev2 := <-d.Events(), <-d.Events(); ev1 != dataplane.Disconnected || ev2 != dataplane.Connected {
		t.Fatalf("restart events %v %v", ev1, ev2)
	}
	if ts, _ := d.ListTranslations(ctx); len(ts) != 0 {
		t.Fatal("state kept across restart")
	}
	if to, _ := d.GetTimeouts(ctx); to != model.DefaultTimeouts {
		t.Fatalf("timeouts after restart %+v", to)
	}
	d.Close()
	if _, ok := <-d.Events(); ok {
		t.Fatal("events not closed")
	}
}
