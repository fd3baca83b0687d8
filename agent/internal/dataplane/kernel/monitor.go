package kernel

import (
	"context"
	"errors"
	"os"
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

// classify decodes one notification: a change to table (inet) by a
// sender other than own.
func classify(m mnl.Message, table string, own uint32) notice {
	if uint16(m.Header.Type)>>8 != unix.NFNL_SUBSYS_NFTABLES || m.Header.PID == own || len(m.Data) < 4 {
		return noticeNone
	}
	typ := uint16(m.Header.Type) & 0xff
	if typ == unix.NFT_MSG_NEWGEN || m.Data[0] != unix.NFPROTO_INET {
		return noticeNone
	}
	ad, err := mnl.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return noticeNone
	}
	name := ""
	for ad.Next() {
		if ad.Type() == 1 { // NFTA_{TABLE_NAME,CHAIN_TABLE,RULE_TABLE,SET_TABLE,...}
			name = strings.TrimRight(ad.String(), "\x00")
			break
		}
	}
	if name != table {
		return noticeNone
	}
	if typ == unix.NFT_MSG_DELTABLE {
		return noticeDelete
	}
	return noticeEdit
}

// monitor reads notifications until Close; a burst of foreign changes is
// handled once, settle after its first notification.
func (d *Dataplane) monitor(c *mnl.Conn, settle time.Duration) {
	defer d.wg.Done()
	defer func() { _ = c.Close() }()
	pending := noticeNone
	var since time.Time
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
				if n := classify(m, d.table, d.pid); n > pending {
					if pending == noticeNone {
						since = time.Now()
					}
					pending = n
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
		if pending != noticeNone && time.Since(since) >= settle {
			d.repairDrift(pending == noticeDelete)
			pending = noticeNone
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

// repairDrift handles a foreign change: a deleted table is rewritten from
// the cache; an edited one is reloaded (which repairs it).
func (d *Dataplane) repairDrift(deleted bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.drift.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
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
			d.notify()
			return
		}
	}
	d.c = nil
	_, err := d.state(ctx)
	d.log.Warn("kernel dataplane: table changed by someone else; reloaded and repaired", "table", d.table,
		"deleted", deleted, "err", err, "took", time.Since(start).Round(time.Millisecond))
	d.notify()
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
