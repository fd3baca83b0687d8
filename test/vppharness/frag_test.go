package vppharness

import (
	"bytes"
	"fmt"
	"testing"
)

// TestFragmentReassembleRoundTrip: fragments of TCP, UDP and ICMP echo
// packets of both families (IPv6 also with a destination options header
// before and after the fragment header), in any order and with
// duplicates, reassemble to the original packet with valid checksums.
func TestFragmentReassembleRoundTrip(t *testing.T) {
	payload := make([]byte, 1000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, v6 := range []bool{false, true} {
		src, dst := a4, b4
		if v6 {
			src, dst = a6, b6
		}
		dos := []int{NoDestOpts}
		if v6 {
			dos = append(dos, DestOptsBeforeFrag, DestOptsAfterFrag)
		}
		for _, pr := range []Proto{TCP, UDP, ICMP} {
			for _, do := range dos {
				t.Run(fmt.Sprintf("v6=%v/%s/destopts=%d", v6, pr, do), func(t *testing.T) {
					p := Pkt{Src: src, Dst: dst, Proto: pr, SrcPort: 1234, DstPort: 80, TCPFlags: SYN, IPID: 77, Payload: payload}
					orig := p.MustIP()
					fs, err := p.Fragment(FragOptions{Size: 256, DestOpts: do})
					if err != nil {
						t.Fatal(err)
					}
					if len(fs) < 4 {
						t.Fatalf("%d fragments", len(fs))
					}
					var raws [][]byte
					for i := len(fs) - 1; i >= 0; i-- {
						raws = append(raws, fs[i].Raw)
						fi, ok := FragmentInfo(fs[i].Raw)
						if !ok || fi.More != (i < len(fs)-1) {
							t.Fatalf("fragment %d: %+v %v", i, fi, ok)
						}
						if errs := IPChecksumErrors(fs[i].Raw); len(errs) > 0 {
							t.Errorf("fragment %d: %v", i, errs)
						}
						if _, err := fs[i].Frame(); err != nil {
							t.Fatal(err)
						}
					}
					raws = append(raws, fs[1].Raw, fs[0].Raw) // duplicates
					whole, err := Reassemble(raws)
					if err != nil {
						t.Fatal(err)
					}
					if errs := IPChecksumErrors(whole); len(errs) > 0 {
						t.Errorf("reassembled: %v", errs)
					}
					if do == NoDestOpts && !bytes.Equal(whole, orig) {
						t.Errorf("reassembled differs from the original (%d and %d bytes)", len(whole), len(orig))
					}
					if do != NoDestOpts && len(whole) != len(orig)+8 {
						t.Errorf("reassembled with a destination options header: %d bytes, original %d", len(whole), len(orig))
					}
					got, err := ParseIP(whole)
					if err != nil {
						t.Fatal(err)
					}
					if got.Proto != pr || got.Src != src || got.Dst != dst || !bytes.Equal(got.Payload, payload) {
						t.Errorf("reassembled parses as %s, payload %d bytes", got, len(got.Payload))
					}
					if pr != ICMP && (got.SrcPort != 1234 || got.DstPort != 80) {
						t.Errorf("ports %d %d", got.SrcPort, got.DstPort)
					}
					first, err := ParseIP(fs[0].Raw)
					if err != nil || first.Frag == nil || first.Frag.Offset != 0 || first.Proto != pr {
						t.Errorf("first fragment parses as %s (%v)", first, err)
					}
					later, err := ParseIP(fs[2].Raw)
					if err != nil || later.Frag == nil || later.Frag.Offset == 0 || later.SrcPort != 0 {
						t.Errorf("later fragment parses as %s (%v)", later, err)
					}
					// a hole is refused
					if _, err := Reassemble([][]byte{fs[0].Raw, fs[2].Raw, fs[len(fs)-1].Raw}); err == nil {
						t.Error("fragments with a hole reassembled")
					}
				})
			}
		}
	}
}

// TestFragmentSizes: explicit sizes (a tiny first fragment) and refusals.
func TestFragmentSizes(t *testing.T) {
	p := Pkt{Src: a4, Dst: b4, Proto: TCP, SrcPort: 1, DstPort: 2, Payload: make([]byte, 100)}
	fs, err := p.Fragment(FragOptions{Sizes: []int{8}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || len(fs[0].Raw) != 28 || len(fs[1].Raw) != 20+112 {
		t.Fatalf("sizes %d and %d", len(fs[0].Raw), len(fs[1].Raw))
	}
	if _, err := p.Fragment(FragOptions{Sizes: []int{12, 8}}); err == nil {
		t.Error("a first fragment of 12 bytes accepted")
	}
	if _, err := p.Fragment(FragOptions{Size: 4096}); err == nil {
		t.Error("one fragment accepted")
	}
}
