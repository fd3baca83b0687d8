package kernel

import (
	"net/netip"
	"testing"

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
		for _, a := range coalesce(bt.acts) {
			n += len(chunks(a.elems))
		}
		if n == 0 {
			b.Fatal("nothing")
		}
	}
}
