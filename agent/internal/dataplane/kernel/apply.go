package kernel

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// nftMu serializes every use of github.com/google/nftables in this
// process: v0.3.0's ct timeout (un)marshalling writes into package-level
// default maps, so concurrent use (two dataplanes, e.g. in tests) would race.
var nftMu sync.Mutex

// applyPlan replaces the content of cloudnat's table with p in one netlink
// batch: when the table exists, all its rules are flushed and its chains
// deleted and recreated in the same transaction, so packets see either the
// old or the new rule set, never a mix. The ct timeout objects are only
// replaced when their values change: deleting an object detaches it from
// the conntrack entries using it (they fall back to the host defaults).
func applyPlan(c *nftables.Conn, name string, p *plan) error {
	nftMu.Lock()
	defer nftMu.Unlock()
	t := &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	existing, err := c.ListTableOfFamily(name, nftables.TableFamilyINet)
	exists := err == nil && existing != nil
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("list table inet %s: %w", name, err)
	}
	replaceTimeouts := true
	if exists {
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			return fmt.Errorf("list chains: %w", err)
		}
		cur, haveAll, err := readTimeouts(c, t)
		if err != nil {
			return err
		}
		replaceTimeouts = !haveAll || cur != p.timeouts
		c.FlushTable(t)
		for _, ch := range chains {
			if ch.Table.Name == name {
				c.DelChain(ch)
			}
		}
		if replaceTimeouts {
			objs, err := c.GetNamedObjects(t)
			if err != nil {
				return fmt.Errorf("list objects: %w", err)
			}
			for _, o := range objs {
				c.DeleteObject(o)
			}
		}
	} else {
		c.AddTable(t)
	}
	if replaceTimeouts {
		for _, o := range timeoutObjects {
			c.AddObj(&nftables.NamedObj{Table: t, Name: o.name, Type: nftables.ObjTypeCtTimeout,
				Obj: &expr.CtTimeout{L3Proto: o.l3, L4Proto: uint8(o.proto), Policy: timeoutPolicy(o.proto, p.timeouts)}})
		}
	}
	chains := map[string]*nftables.Chain{}
	for _, cp := range p.chains {
		ch := &nftables.Chain{Name: cp.name, Table: t}
		if cp.hook != nil {
			prio := cp.hook.prio
			accept := nftables.ChainPolicyAccept
			ch.Type, ch.Hooknum, ch.Priority, ch.Policy = cp.hook.typ, cp.hook.hook, &prio, &accept
		}
		chains[cp.name] = c.AddChain(ch)
	}
	for _, cp := range p.chains {
		for _, r := range cp.rules {
			nr := &nftables.Rule{Table: t, Chain: chains[cp.name], Exprs: r.exprs}
			if r.comment != "" {
				nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.comment)
			}
			c.AddRule(nr)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("write table inet %s: %w", name, err)
	}
	return nil
}

func secs(d time.Duration) uint32 { return uint32(d / time.Second) }

// timeoutPolicy maps cloudnat's four timeouts onto a conntrack timeout
// policy. TCP: established ← established; every other state but close ←
// transitory. UDP: both states ← udp. ICMP: its single timeout.
func timeoutPolicy(p model.Proto, t model.Timeouts) expr.CtStatePolicyTimeout {
	switch p {
	case model.ProtoTCP:
		tr := secs(t.TCPTransitory)
		return expr.CtStatePolicyTimeout{
			expr.CtStateTCPSYNSENT: tr, expr.CtStateTCPSYNRECV: tr,
			expr.CtStateTCPESTABLISHED: secs(t.TCPEstablished),
			expr.CtStateTCPFINWAIT:     tr, expr.CtStateTCPCLOSEWAIT: tr, expr.CtStateTCPLASTACK: tr,
			expr.CtStateTCPTIMEWAIT: tr, expr.CtStateTCPCLOSE: 10, expr.CtStateTCPSYNSENT2: tr,
			expr.CtStateTCPRETRANS: tr, expr.CtStateTCPUNACK: tr,
		}
	case model.ProtoUDP:
		return expr.CtStatePolicyTimeout{expr.CtStateUDPUNREPLIED: secs(t.UDP), expr.CtStateUDPREPLIED: secs(t.UDP)}
	default:
		return expr.CtStatePolicyTimeout{0: secs(t.ICMP)}
	}
}

// readTimeouts reads cloudnat's ct timeout objects; all says whether every
// one was there. The caller holds nftMu.
func readTimeouts(c *nftables.Conn, t *nftables.Table) (model.Timeouts, bool, error) {
	objs, err := c.GetNamedObjects(t)
	if err != nil {
		return model.Timeouts{}, false, fmt.Errorf("list objects of inet %s: %w", t.Name, err)
	}
	// v0.3.0 decodes every policy into one shared map per protocol family
	// (TCP's map also receives ICMP's single value at key 0), so read each
	// object's values right after decoding and only from keys no other
	// protocol writes: TCP established and fin_wait, UDP replied, ICMP 0.
	var out model.Timeouts
	found := 0
	for _, o := range objs {
		no, ok := o.(*nftables.NamedObj)
		if !ok || no.Type != nftables.ObjTypeCtTimeout {
			continue
		}
		ct, ok := no.Obj.(*expr.CtTimeout)
		if !ok {
			continue
		}
		switch no.Name {
		case "cn_tcp":
			out.TCPEstablished = time.Duration(ct.Policy[expr.CtStateTCPESTABLISHED]) * time.Second
			out.TCPTransitory = time.Duration(ct.Policy[expr.CtStateTCPFINWAIT]) * time.Second
			found++
		case "cn_udp":
			out.UDP = time.Duration(ct.Policy[expr.CtStateUDPREPLIED]) * time.Second
			found++
		case "cn_icmp":
			out.ICMP = time.Duration(ct.Policy[0]) * time.Second
			found++
		case "cn_icmp6":
			found++
		}
	}
	return out, found == len(timeoutObjects), nil
}
