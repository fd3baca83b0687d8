package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The wire format of a transaction. Chains, rules, sets and objects are
// encoded by github.com/google/nftables (captured from a connection that
// sends nothing); set elements, which are nearly all of a bulk write, are
// encoded here straight into the message bodies, without the library's
// per-element attribute lists (a third of the Go cost of rewriting
// 100,000 translations). The whole transaction then goes out in one
// sendmsg on the dataplane's socket, and every message's acknowledgement
// is read back.

// maxElemBytes bounds one message's element list: it is one netlink
// attribute, whose length is 16 bits.
const maxElemBytes = 60000

// nlAttr appends a netlink attribute header for a payload of n bytes.
func nlAttr(b []byte, typ uint16, n int) []byte {
	return binary.NativeEndian.AppendUint16(binary.NativeEndian.AppendUint16(b, uint16(4+n)), typ)
}

func align4(n int) int { return (n + 3) &^ 3 }

// pad4 pads b to the netlink alignment.
func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func nlBytes(b []byte, typ uint16, v []byte) []byte {
	return pad4(append(nlAttr(b, typ, len(v)), v...))
}

func nlString(b []byte, typ uint16, s string) []byte {
	b = nlAttr(b, typ, len(s)+1)
	return pad4(append(append(b, s...), 0))
}

// appendElem appends one element (a nested list entry) as the kernel
// reads it: key, map data, comment.
func appendElem(b []byte, e nftables.SetElement) []byte {
	return appendElemParts(b, e.Key, e.Val, e.Comment)
}

func appendElemParts(b, key, val []byte, comment string) []byte {
	start := len(b)
	b = nlAttr(b, unix.NFTA_LIST_ELEM|unix.NLA_F_NESTED, 0)
	b = nlAttr(b, unix.NFTA_SET_ELEM_KEY|unix.NLA_F_NESTED, align4(4+len(key)))
	b = nlBytes(b, unix.NFTA_DATA_VALUE, key)
	if len(val) > 0 {
		b = nlAttr(b, unix.NFTA_SET_ELEM_DATA|unix.NLA_F_NESTED, align4(4+len(val)))
		b = nlBytes(b, unix.NFTA_DATA_VALUE, val)
	}
	if comment != "" {
		n := 2 + len(comment) + 1
		b = nlAttr(b, unix.NFTA_SET_ELEM_USERDATA, n)
		b = append(b, byte(userdata.NFTNL_UDATA_SET_ELEM_COMMENT), byte(len(comment)+1))
		b = pad4(append(append(b, comment...), 0))
	}
	binary.NativeEndian.PutUint16(b[start:], uint16(len(b)-start))
	return b
}

// encodable says whether appendElem can encode es (verdict elements and
// intervals go through the library).
func encodable(es []nftables.SetElement) bool {
	for _, e := range es {
		if e.VerdictData != nil || e.IntervalEnd || len(e.KeyEnd) > 0 || e.Timeout != 0 {
			return false
		}
	}
	return true
}

// elemMsg starts the body of an element message of table's set.
func elemMsg(table, set string) []byte {
	b := make([]byte, 0, maxElemBytes+1024)
	b = append(b, unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0)
	b = nlString(b, unix.NFTA_SET_ELEM_LIST_TABLE, table)
	b = nlString(b, unix.NFTA_SET_ELEM_LIST_SET, set)
	return nlAttr(b, unix.NFTA_SET_ELEM_LIST_ELEMENTS|unix.NLA_F_NESTED, 0)
}

// closeElemMsg fixes the element list's length; list is where it starts.
func closeElemMsg(b []byte, list int, del bool) mnl.Message {
	binary.NativeEndian.PutUint16(b[list:], uint16(len(b)-list))
	typ := unix.NFT_MSG_NEWSETELEM
	if del {
		typ = unix.NFT_MSG_DELSETELEM
	}
	return mnl.Message{
		Header: mnl.Header{Type: mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ),
			Flags: mnl.Request | mnl.Acknowledge | mnl.Create},
		Data: b,
	}
}

// elemMsgs encodes element adds or deletes of one set as messages whose
// element lists stay under maxElemBytes.
func elemMsgs(out []mnl.Message, table, set string, del bool, es []nftables.SetElement) []mnl.Message {
	for len(es) > 0 {
		b := elemMsg(table, set)
		list := len(b) - 4
		n := 0
		for n < len(es) && (n == 0 || len(b)-list < maxElemBytes-elemSize(es[n])) {
			b = appendElem(b, es[n])
			n++
		}
		out = append(out, closeElemMsg(b, list, del))
		es = es[n:]
	}
	return out
}

// elemWriter encodes element adds to many sets straight into messages
// (a bulk write of translations: no SetElement, no per-element slices).
type elemWriter struct {
	table string
	open  map[string][]byte // per set, the message being filled
	msgs  []mnl.Message
	n     int // elements written
}

func newElemWriter(table string) *elemWriter {
	return &elemWriter{table: table, open: map[string][]byte{}}
}

// elemListAt is where the element list starts in a message of set.
func (w *elemWriter) elemListAt(set string) int {
	return 4 + align4(4+len(w.table)+1) + align4(4+len(set)+1)
}

func (w *elemWriter) add(set string, key, val []byte, comment string) {
	b, ok := w.open[set]
	if !ok {
		b = elemMsg(w.table, set)
	}
	list := w.elemListAt(set)
	if len(b)-list > maxElemBytes-(64+len(key)+len(val)+len(comment)) {
		w.msgs = append(w.msgs, closeElemMsg(b, list, false))
		b = elemMsg(w.table, set)
	}
	w.open[set] = appendElemParts(b, key, val, comment)
	w.n++
}

// finish closes the open messages and returns all.
func (w *elemWriter) finish() []mnl.Message {
	for set, b := range w.open {
		w.msgs = append(w.msgs, closeElemMsg(b, w.elemListAt(set), false))
	}
	w.open = map[string][]byte{}
	m := w.msgs
	w.msgs = nil
	return m
}

// capture is an nftables connection that sends nothing: what its Flush
// would send is kept, to be sent as part of a larger transaction.
type capture struct {
	conn *nftables.Conn
	msgs []mnl.Message
}

func newCapture() (*capture, error) {
	cp := &capture{}
	c, err := nftables.New(nftables.WithTestDial(func(req []mnl.Message) ([]mnl.Message, error) {
		acks := make([]mnl.Message, 0, len(req))
		for _, m := range req {
			t := m.Header.Type
			if t == mnl.HeaderType(unix.NFNL_MSG_BATCH_BEGIN) || t == mnl.HeaderType(unix.NFNL_MSG_BATCH_END) {
				continue
			}
			m.Header.Sequence, m.Header.PID, m.Header.Length = 0, 0, 0
			cp.msgs = append(cp.msgs, m)
			acks = append(acks, mnl.Message{Header: mnl.Header{Type: mnl.Error, Sequence: m.Header.Sequence},
				Data: make([]byte, 4)})
		}
		return acks, nil
	}))
	if err != nil {
		return nil, err
	}
	cp.conn = c
	return cp, nil
}

// take returns the messages captured so far.
func (cp *capture) take() ([]mnl.Message, error) {
	if err := cp.conn.Flush(); err != nil {
		return nil, err
	}
	m := cp.msgs
	cp.msgs = nil
	return m, nil
}

// batchMsg is the begin or end marker of a transaction.
func batchMsg(typ int) mnl.Message {
	return mnl.Message{Header: mnl.Header{Type: mnl.HeaderType(typ), Flags: mnl.Request},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}}
}

// transact sends msgs as one nf_tables transaction on conn and reads an
// acknowledgement (or error) for each. The kernel applies all of it or
// nothing.
func transact(conn *mnl.Conn, msgs []mnl.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	all := make([]mnl.Message, 0, len(msgs)+2)
	all = append(all, batchMsg(unix.NFNL_MSG_BATCH_BEGIN))
	all = append(all, msgs...)
	all = append(all, batchMsg(unix.NFNL_MSG_BATCH_END))
	if _, err := conn.SendMessages(all); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	// One acknowledgement (or error) per message; some messages (rules)
	// are also echoed back first.
	var errs error
	for got := 0; got < len(msgs); {
		replies, err := conn.Receive()
		if err != nil {
			if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOBUFS) {
				drain(conn) // what is left would pass for the next request's answers
				return err
			}
			if errs == nil {
				errs = err
			}
			got++
			continue
		}
		if len(replies) == 0 {
			break // nothing more to read (not seen from a kernel)
		}
		for _, r := range replies {
			if r.Header.Type == mnl.Error {
				got++
			}
		}
	}
	return errs
}

// drain reads and drops what the kernel still has queued on conn (until
// nothing came for 50 ms).
func drain(conn *mnl.Conn) {
	for i := 0; i < 1<<20; i++ {
		if err := conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			return
		}
		if _, err := conn.Receive(); errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
}
