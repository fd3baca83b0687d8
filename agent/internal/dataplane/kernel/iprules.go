package kernel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Policy routing for cross-table objects. A packet that enters from table 0
// towards a cross-table static NAT's outside address, or a reply to a
// cross-table block, is re-zoned into the inside table's zone and marked
// with routeMark(vrf) (cn_cgz); after its destination is translated back
// it must be routed in the inside table, which one ip rule per family and
// inside table does:
//
//	ip rule add pref 990 fwmark <routeMark(vrf)> lookup <vrf> proto 193
//
// cloudnat adds and deletes only rules of its protocol (193) and
// priority; linkVRFs ignores rules with a mark.

func familyNL(f model.Family) int {
	if f == model.IPv4 {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func routeRule(k routeKey) *netlink.Rule {
	r := netlink.NewRule()
	mask := uint32(0xffffffff)
	r.Family, r.Table, r.Mark, r.Mask, r.Priority, r.Protocol = familyNL(k.f), int(k.vrf), routeMark(k.vrf), &mask, rulePref, ruleProto
	return r
}

// readRules lists cloudnat's policy routing rules. The caller holds d.mu.
func (d *Dataplane) readRules() (map[routeKey]bool, error) {
	out := map[routeKey]bool{}
	for _, f := range families4and6 {
		rules, err := d.nl.RuleList(familyNL(f))
		if err != nil {
			if errors.Is(err, unix.EAFNOSUPPORT) {
				continue
			}
			return nil, fmt.Errorf("list ip rules: %w", err)
		}
		for _, r := range rules {
			if r.Protocol == ruleProto && r.Priority == rulePref && r.Table > 0 && r.Mark == routeMark(uint32(r.Table)) {
				out[routeKey{f, uint32(r.Table)}] = true
			}
		}
	}
	return out, nil
}

// removeRules deletes every policy routing rule of cloudnat's. The caller
// holds d.mu.
func (d *Dataplane) removeRules() error {
	have, err := d.readRules()
	if err != nil {
		return err
	}
	for k := range have {
		if err := d.nl.RuleDel(routeRule(k)); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete ip rule fwmark %#x lookup %d: %w", routeMark(k.vrf), k.vrf, err)
		}
	}
	d.rules = nil
	return nil
}

// repairRoutes re-reads cloudnat's policy routing rules and puts back
// what someone deleted (called with every host check). It never loads
// the table.
func (d *Dataplane) repairRoutes() {
	d.mu.Lock()
	if d.closed || d.c == nil {
		d.mu.Unlock()
		return
	}
	d.rules = nil
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.syncRoutes(ctx); err != nil {
		d.log.Warn("kernel dataplane: policy routing rules", "err", err)
	}
}

// syncRoutes adds the rules the cache's cross-table objects need and
// deletes the others of cloudnat's.
func (d *Dataplane) syncRoutes(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.state(ctx)
	if err != nil {
		return err
	}
	if d.rules == nil {
		if d.rules, err = d.readRules(); err != nil {
			return fmt.Errorf("kernel dataplane: %w", err)
		}
	}
	for k := range c.cg.routes {
		if d.rules[k] {
			continue
		}
		if err := d.nl.RuleAdd(routeRule(k)); err != nil && !errors.Is(err, unix.EEXIST) {
			d.rules = nil
			return fmt.Errorf("kernel dataplane: add ip rule fwmark %#x lookup %d: %w", routeMark(k.vrf), k.vrf, err)
		}
		d.rules[k] = true
	}
	for k := range d.rules {
		if c.cg.routes[k] > 0 {
			continue
		}
		if err := d.nl.RuleDel(routeRule(k)); err != nil && !errors.Is(err, unix.ENOENT) {
			d.rules = nil
			return fmt.Errorf("kernel dataplane: delete ip rule fwmark %#x lookup %d: %w", routeMark(k.vrf), k.vrf, err)
		}
		delete(d.rules, k)
	}
	return nil
}
