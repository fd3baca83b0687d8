package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// The elements encoded by wire.go read back (as the kernel parses them)
// exactly as those the library encodes, and split under the size limit.
func TestElemMsgsMatchLibrary(t *testing.T) {
	var es []nftables.SetElement
	for i := 0; i < 3000; i++ {
		k := model.TranslationKey{VIP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: uint16(i), Proto: model.ProtoUDP, VRF: uint32(i % 3)}
		e := nftables.SetElement{Key: txKey(k)}
		if i%2 == 0 {
			e.Val = u32(uint32(i))
		}
		if i%3 == 0 {
			e.Comment = fmt.Sprintf("cn:t %d vip 0 %d", i, i%7)
		}
		es = append(es, e)
	}
	msgs := elemMsgs(nil, "cloudnat", "cn_tx4", false, es)
	if len(msgs) < 2 {
		t.Fatalf("%d messages, want a split", len(msgs))
	}
	var got []nftables.SetElement
	for _, m := range msgs {
		if len(m.Data) > 65535 {
			t.Fatalf("message of %d bytes", len(m.Data))
		}
		set, part, err := decodeElemMsg(m)
		if err != nil || set != "cn_tx4" {
			t.Fatalf("%q %v", set, err)
		}
		got = append(got, part...)
	}
	cp, err := newCapture()
	if err != nil {
		t.Fatal(err)
	}
	s := &nftables.Set{Table: &nftables.Table{Name: "cloudnat", Family: nftables.TableFamilyINet}, Name: "cn_tx4"}
	for _, chunk := range chunks(es) {
		if err := cp.conn.SetAddElements(s, chunk); err != nil {
			t.Fatal(err)
		}
	}
	lib, err := cp.take()
	if err != nil {
		t.Fatal(err)
	}
	var want []nftables.SetElement
	for _, m := range lib {
		_, part, err := decodeElemMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, part...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d elements, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Val, want[i].Val) || got[i].Comment != want[i].Comment {
			t.Fatalf("element %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A transaction is sent between batch markers, and every message's error
// is reported (the kernel answers each).
func TestTransact(t *testing.T) {
	var sent []mnl.Message
	conn := nltest.Dial(func(req []mnl.Message) ([]mnl.Message, error) {
		if len(req) == 0 {
			return nil, nil
		}
		sent = req
		var out []mnl.Message
		for i, m := range req[1 : len(req)-1] {
			code := int32(0)
			if i == 1 {
				code = -int32(unix.EEXIST)
			}
			d := make([]byte, 20)
			binary.NativeEndian.PutUint32(d, uint32(code))
			out = append(out, mnl.Message{Header: mnl.Header{Type: mnl.Error, Sequence: m.Header.Sequence}, Data: d})
		}
		return out, nil
	})
	msgs := elemMsgs(nil, "cloudnat", "cn_vip4", false, []nftables.SetElement{{Key: []byte{1, 2, 3, 4}}})
	msgs = elemMsgs(msgs, "cloudnat", "cn_vip4", true, []nftables.SetElement{{Key: []byte{1, 2, 3, 4}}})
	err := transact(conn, msgs)
	if err == nil {
		t.Fatal("no error")
	}
	if len(sent) != 4 || sent[0].Header.Type != unix.NFNL_MSG_BATCH_BEGIN || sent[3].Header.Type != unix.NFNL_MSG_BATCH_END {
		t.Fatalf("sent %+v", sent)
	}
	if sent[2].Header.Type != mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_DELSETELEM) {
		t.Fatalf("second message %v", sent[2].Header.Type)
	}
}
