package kernel

import (
	"net/netip"
	"testing"

	mnl "github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// BenchmarkBuild10kx8: the Go side of programming 10,000 translations x 8
// backends in bulk (cache edits, batch building, coalescing, chunking).
func BenchmarkBuild10kx8(b *testing.B) {
	ts := make([]model.Translation, 10000)
	for i := range ts {
		bs := make([]model.Backend, 8)
		for j := range bs {
			bs[j] = model.Backend{DstAddr: netip.AddrFrom4([4]byte{10, 20, byte(j), 2}), DstPort: 8000}
		}
		ts[i] = model.Translation{Key: model.TranslationKey{VIP: netip.AddrFrom4([4]byte{10, 100, byte(i >> 8), byte(i)}), Port: 80,
			Proto: model.ProtoTCP}, LB: model.LBHash, Backends: bs}
	}
	for i := 0; i < b.N; i++ {
		c := newCache()
		bt := &batch{}
		for _, t := range ts {
			c.putTranslation(bt, t)
		}
		n := 0
		for _, a := range bt.acts {
			n += len(chunks(a.elems))
		}
		if n == 0 {
			b.Fatal("nothing")
		}
	}
}

// BenchmarkWriteAll100kx4: the Go side of rewriting a table of 100,000
// translations x 4 backends (what the repair of a deleted table does),
// up to the netlink messages, sent to a fake kernel that acknowledges all.
func BenchmarkWriteAll100kx4(b *testing.B) {
	c := newCache()
	bt := &batch{}
	for i := 0; i < 100000; i++ {
		bs := make([]model.Backend, 4)
		for j := range bs {
			bs[j] = model.Backend{DstAddr: netip.AddrFrom4([4]byte{10, 20, byte(j), 2}), DstPort: 8000}
		}
		c.putTranslation(bt, model.Translation{Key: model.TranslationKey{VIP: netip.AddrFrom4([4]byte{10, byte(100 + i>>16), byte(i >> 8), byte(i)}),
			Port: 80, Proto: model.ProtoTCP}, LB: model.LBHash, Backends: bs})
	}
	conn := nltest.Dial(func(req []mnl.Message) ([]mnl.Message, error) {
		acks := make([]mnl.Message, 0, len(req))
		for _, m := range req {
			acks = append(acks, mnl.Message{Header: mnl.Header{Type: mnl.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
				Data: make([]byte, 4)})
		}
		return acks, nil
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, bb := range c.writeAll("cloudnat", maxTxnWeight) {
			if err := apply(conn, "cloudnat", bb); err != nil {
				b.Fatal(err)
			}
		}
	}
}
