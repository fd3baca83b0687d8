package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
)

// Drift: the dataplane subscribes to nf_tables notifications
// (NFNLGRP_NFTABLES) in its namespace. Every change to cloudnat's table
// whose sender is not the dataplane's own socket is a change by someone
// else: the table deleted (it is rewritten from the cache at once), or
// edited (the cache is dropped and reloaded, which repairs damaged
// objects). Either is logged at WARN, counted (DriftRepairs) and reported
// as a Connected event, so the reconciler compares with intent at once
// instead of at its next interval.

// subscribe opens the notification socket.
func (d *Dataplane) subscribe() (*mnl.Conn, error) {
	cfg := &mnl.Config{Groups: 1 << (unix.NFNLGRP_NFTABLES - 1)}
	if d.ns >= 0 {
		cfg.NetNS = int(d.ns)
	}
	c, err := mnl.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, err
	}
	if err := setBuffers(c, sockBuf); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// notice is what one notification says about cloudnat's table.
type notice int

const (
	noticeNone notice = iota
	noticeEdit
	noticeDelete
)

// change is one foreign change to cloudnat's table: an element added or
// deleted (set, keys), a rule added or deleted (chain), or anything else.
type change struct {
	typ  uint16 // NFT_MSG_*
	name string // set or chain
	keys [][]byte
}

// classify decodes one notification: a change to table (inet) by a
// sender other than own.
func classify(m mnl.Message, table string, own uint32) (notice, change) {
	if uint16(m.Header.Type)>>8 != unix.NFNL_SUBSYS_NFTABLES || m.Header.PID == own || len(m.Data) < 4 {
		return noticeNone, change{}
	}
	ch := change{typ: uint16(m.Header.Type) & 0xff}
	if ch.typ == unix.NFT_MSG_NEWGEN || m.Data[0] != unix.NFPROTO_INET {
		return noticeNone, change{}
	}
	ad, err := mnl.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return noticeNone, change{}
	}
	name := ""
	for ad.Next() {
		switch ad.Type() {
		case 1: // NFTA_{TABLE_NAME,CHAIN_TABLE,RULE_TABLE,SET_TABLE,SET_ELEM_LIST_TABLE,OBJ_TABLE}
			name = strings.TrimRight(ad.String(), "\x00")
		case 2: // NFTA_RULE_CHAIN, NFTA_SET_ELEM_LIST_SET (NFTA_CHAIN_NAME is 3)
			ch.name = strings.TrimRight(ad.String(), "\x00")
		case unix.NFTA_SET_ELEM_LIST_ELEMENTS:
			if ch.typ == unix.NFT_MSG_NEWSETELEM || ch.typ == unix.NFT_MSG_DELSETELEM {
				ch.keys = elementKeys(ad.Bytes())
			}
		}
	}
	if name != table {
		return noticeNone, change{}
	}
	if ch.typ == unix.NFT_MSG_DELTABLE {
		return noticeDelete, ch
	}
	return noticeEdit, ch
}

// elementKeys decodes the keys of a notification's element list.
func elementKeys(b []byte) [][]byte {
	var keys [][]byte
	ad, err := mnl.NewAttributeDecoder(b)
	if err != nil {
		return nil
	}
	for ad.Next() {
		el, err := mnl.NewAttributeDecoder(ad.Bytes())
		if err != nil {
			continue
		}
		for el.Next() {
			if el.Type() != unix.NFTA_SET_ELEM_KEY {
				continue
			}
			if v, err := mnl.NewAttributeDecoder(el.Bytes()); err == nil {
				for v.Next() {
					if v.Type() == unix.NFTA_DATA_VALUE {
						keys = append(keys, slices.Clone(v.Bytes()))
					}
				}
			}
		}
	}
	return keys
}

// monitor reads notifications until Close; a burst of foreign changes is
// handled once, settle after its first notification; a deleted table at
// once (the table's deletion is the last notification of its transaction,
// and its repair writes the table from the cache whatever came before).
func (d *Dataplane) monitor(c *mnl.Conn, settle time.Duration) {
	defer d.wg.Done()
	defer func() { _ = c.Close() }()
	pending := noticeNone
	var since time.Time
	var changes []change
	lost := false
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		_ = c.SetReadDeadline(time.Now().Add(settle))
		msgs, err := c.Receive()
		switch {
		case err == nil:
			for _, m := range msgs {
				n, ch := classify(m, d.table, d.pid)
				if n == noticeNone {
					continue
				}
				if pending == noticeNone {
					since = time.Now()
				}
				pending = max(pending, n)
				if len(changes) < maxChanges {
					changes = append(changes, ch)
				} else {
					changes = append(changes[:0], change{typ: unix.NFT_MSG_DELSET}) // too many: reload
				}
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
		case errors.Is(err, unix.ENOBUFS):
			lost = true // notifications were dropped: check what can be checked
		default:
			select {
			case <-d.stop:
				return
			case <-time.After(settle):
			}
		}
		if lost && pending == noticeNone {
			lost = false
			if !d.tableThere() {
				pending, since = noticeDelete, time.Now().Add(-settle)
			}
		}
		if pending == noticeDelete || (pending != noticeNone && time.Since(since) >= settle) {
			d.repairDrift(pending == noticeDelete, changes)
			pending, changes = noticeNone, nil
		}
	}
}

// tableThere says whether the table is there or was never written.
func (d *Dataplane) tableThere() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil || !d.c.exists {
		return true
	}
	nftMu.Lock()
	defer nftMu.Unlock()
	_, err := d.nft.ListTableOfFamily(d.table, nftables.TableFamilyINet)
	return !errors.Is(err, unix.ENOENT)
}

// maxChanges bounds the foreign changes repaired one by one; more are
// repaired by a reload.
const maxChanges = 100000

// repairDrift handles foreign changes: a deleted table is rewritten from
// the cache; element and rule changes are undone from the cache; anything
// else (or no cache) reloads the table, which repairs it.
func (d *Dataplane) repairDrift(deleted bool, changes []change) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.drift.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	defer d.notify()
	if deleted && d.c != nil && d.c.exists {
		nftMu.Lock()
		_, err := d.nft.ListTableOfFamily(d.table, nftables.TableFamilyINet)
		nftMu.Unlock()
		if errors.Is(err, unix.ENOENT) {
			n := len(d.c.trans)
			if err := d.rewrite(ctx, d.c, false); err != nil {
				d.log.Warn("kernel dataplane: table deleted by someone else; rewriting it failed", "table", d.table, "err", err)
			} else {
				d.log.Warn("kernel dataplane: table deleted by someone else; rewritten", "table", d.table,
					"translations", n, "took", time.Since(start).Round(time.Millisecond))
			}
			return
		}
	}
	if d.c != nil && !deleted {
		if b, ok := d.c.undo(changes); ok {
			err := d.send(b)
			if err == nil {
				d.log.Warn("kernel dataplane: table changed by someone else; changes undone", "table", d.table,
					"changes", len(changes), "took", time.Since(start).Round(time.Millisecond))
				return
			}
			d.log.Warn("kernel dataplane: undoing someone else's changes failed; reloading", "table", d.table, "err", err)
		}
	}
	d.c = nil
	_, err := d.state(ctx)
	d.log.Warn("kernel dataplane: table changed by someone else; reloaded and repaired", "table", d.table,
		"deleted", deleted, "err", err, "took", time.Since(start).Round(time.Millisecond))
}

// notify reports Connected (the reconciler then compares with intent).
// The caller holds d.mu.
func (d *Dataplane) notify() {
	if d.closed {
		return
	}
	select {
	case d.events <- dataplane.Connected:
	default: // one is already pending
	}
}

// quiet stops the kernel from sending notifications while the dataplane
// writes many elements itself (each element is one notification, which
// costs the kernel about a third of a bulk write): the group is left for
// the duration of f and joined again. A foreign change during f is not
// lost: nf_tables numbers every committed transaction (its generation), so
// when the generation moved by more than the dataplane's own transactions,
// someone else committed meanwhile (to this table or another): the cache
// is dropped, and the next call reloads the table, which repairs it, and
// the reconciler is told to compare (a Connected event). The caller holds
// d.mu.
func (d *Dataplane) quiet(f func() error) error {
	if d.mon == nil || d.mon.LeaveGroup(unix.NFNLGRP_NFTABLES) != nil {
		return f()
	}
	gen0, gerr := d.genID()
	txns0 := d.txns
	err := f()
	if jerr := d.mon.JoinGroup(unix.NFNLGRP_NFTABLES); jerr != nil {
		d.log.Warn("kernel dataplane: rejoining nf_tables notifications failed", "err", jerr)
	}
	if gerr != nil || d.c == nil {
		return err
	}
	if gen1, e := d.genID(); e != nil || gen1-gen0 != d.txns-txns0 {
		d.log.Warn("kernel dataplane: nf_tables changed by someone else during a bulk write; reloading the table to check",
			"table", d.table, "foreign_transactions", int64(gen1-gen0)-int64(d.txns-txns0), "err", e)
		d.c = nil
		d.notify()
	}
	return err
}

// genID reads nf_tables' generation: it grows by one with every committed
// transaction in the namespace.
func (d *Dataplane) genID() (uint32, error) {
	nftMu.Lock()
	defer nftMu.Unlock()
	req := mnl.Message{Header: mnl.Header{Type: mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
		Flags: mnl.Request}, Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}}
	replies, err := d.raw.Execute(req)
	if err != nil {
		return 0, err
	}
	for _, m := range replies {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := mnl.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("nf_tables generation: no answer")
}
