package kernel

import (
	"errors"
	"fmt"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftMu serializes every use of github.com/google/nftables in this
// process: v0.3.0's ct timeout (un)marshalling writes into package-level
// default maps, so concurrent use (two dataplanes, e.g. in tests) would race.
var nftMu sync.Mutex

const (
	// sockBuf is the send and receive buffer of cloudnat's nf_tables
	// socket: a transaction is one sendmsg (the kernel applies a batch
	// whole or not at all), and the kernel acknowledges every message of
	// it, so both directions need room (SO_*BUFFORCE, as root).
	sockBuf = 64 << 20
	// maxMsgElems bounds the encoded size of one message's element list:
	// it is one netlink attribute, whose length is 16 bits.
	maxMsgElems = 48 << 10
	// maxTxnWeight bounds a bulk write's transactions (elements + rules).
	maxTxnWeight = 60000
)

// setBuffers raises a netlink socket's buffers (forced beyond rmem_max
// where allowed, else as far as the limits let).
func setBuffers(c *mnl.Conn, size int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], size); e != nil {
				if e2 := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], size); e2 != nil {
					serr = e2
				}
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// portID returns a netlink socket's port id (the sender the kernel names
// in the notifications a change causes).
func portID(c *mnl.Conn) (uint32, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var pid uint32
	var serr error
	err = rc.Control(func(fd uintptr) {
		sa, e := unix.Getsockname(int(fd))
		if e != nil {
			serr = e
			return
		}
		if nl, ok := sa.(*unix.SockaddrNetlink); ok {
			pid = nl.Pid
		}
	})
	if err != nil {
		return 0, err
	}
	return pid, serr
}

// apply sends one batch as one nf_tables transaction on conn (the
// dataplane's socket). The caller holds nftMu.
func apply(conn *mnl.Conn, table string, b *batch) error {
	msgs, err := encode(table, b)
	if err != nil {
		return err
	}
	if err := transact(conn, msgs); err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			return fmt.Errorf("write table inet %s: the kernel's acknowledgements overflowed the socket buffer (the transaction may have been applied): %w", table, err)
		}
		return fmt.Errorf("write table inet %s: %w", table, err)
	}
	return nil
}

// encode turns a batch into the messages of one transaction, in order.
func encode(table string, b *batch) ([]mnl.Message, error) {
	cp, err := newCapture()
	if err != nil {
		return nil, err
	}
	c := cp.conn
	var out []mnl.Message
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyINet}
	chains := map[string]*nftables.Chain{}
	chainOf := func(cp *chainPlan) *nftables.Chain {
		if ch, ok := chains[cp.name]; ok {
			return ch
		}
		ch := &nftables.Chain{Name: cp.name, Table: t}
		chains[cp.name] = ch
		return ch
	}
	for _, a := range b.acts {
		switch a.op {
		case actAddTable:
			c.AddTable(t)
		case actAddTimeouts:
			for _, o := range timeoutObjects {
				c.AddObj(&nftables.NamedObj{Table: t, Name: o.name, Type: nftables.ObjTypeCtTimeout,
					Obj: &expr.CtTimeout{L3Proto: o.l3, L4Proto: uint8(o.proto), Policy: timeoutPolicy(o.proto, a.timeouts)}})
			}
		case actDelTimeouts:
			for _, o := range timeoutObjects {
				c.DeleteObject(&nftables.NamedObj{Table: t, Name: o.name, Type: nftables.ObjTypeCtTimeout})
			}
		case actAddSet:
			if err := c.AddSet(a.set.nft(t), nil); err != nil {
				return nil, fmt.Errorf("set %s: %w", a.set.name, err)
			}
		case actAddChain:
			ch := &nftables.Chain{Name: a.chain.name, Table: t}
			if h := a.chain.hook; h != nil {
				prio := h.prio
				accept := nftables.ChainPolicyAccept
				ch.Type, ch.Hooknum, ch.Priority, ch.Policy = h.typ, h.hook, &prio, &accept
			}
			chains[a.chain.name] = c.AddChain(ch)
		case actFlushChain:
			c.FlushChain(chainOf(a.chain))
		case actAddRules:
			ch := chainOf(a.chain)
			for _, r := range a.chain.rules {
				nr := &nftables.Rule{Table: t, Chain: ch, Exprs: r.exprs}
				if r.comment != "" {
					nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.comment)
				}
				c.AddRule(nr)
			}
		case actFlushSet:
			c.FlushSet(a.set.nft(t))
		case actRawElems:
			lib, err := cp.take()
			if err != nil {
				return nil, err
			}
			out = append(append(out, lib...), a.raw...)
		case actAddElems, actDelElems:
			if encodable(a.elems) {
				// Keep the order: what the library holds goes first.
				lib, err := cp.take()
				if err != nil {
					return nil, err
				}
				out = append(out, lib...)
				out = elemMsgs(out, table, a.set.name, a.op == actDelElems, a.elems)
				continue
			}
			s := a.set.nft(t)
			for _, chunk := range chunks(a.elems) {
				var err error
				if a.op == actAddElems {
					err = c.SetAddElements(s, chunk)
				} else {
					err = c.SetDeleteElements(s, chunk)
				}
				if err != nil {
					return nil, fmt.Errorf("elements of %s: %w", a.set.name, err)
				}
			}
		}
	}
	lib, err := cp.take()
	if err != nil {
		return nil, err
	}
	return append(out, lib...), nil
}

// elemSize is an upper bound of one element's encoded size.
func elemSize(e nftables.SetElement) int {
	n := 64 + len(e.Key) + len(e.Val) + len(e.Comment)
	if e.VerdictData != nil {
		n += 32 + len(e.VerdictData.Chain)
	}
	return n
}

// chunks splits elements into message-sized lists.
func chunks(es []nftables.SetElement) [][]nftables.SetElement {
	var out [][]nftables.SetElement
	start, size := 0, 0
	for i, e := range es {
		if n := elemSize(e); size+n > maxMsgElems && i > start {
			out = append(out, es[start:i])
			start, size = i, 0
		}
		size += elemSize(e)
	}
	if start < len(es) {
		out = append(out, es[start:])
	}
	return out
}
