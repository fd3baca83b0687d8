package kernel

import (
	"slices"

	"github.com/google/nftables"
	mnl "github.com/mdlayher/netlink"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

type actOp int

const (
	actAddTable actOp = iota
	actAddTimeouts
	actDelTimeouts
	actAddSet
	actAddChain // the chain only
	actAddRules // append chain.rules to the chain
	actFlushChain
	actAddElems
	actDelElems
	actFlushSet
	actRawElems // element adds already encoded (wire.go)
)

// action is one step of a transaction.
type action struct {
	op       actOp
	chain    *chainPlan
	set      setSpec
	elems    []nftables.SetElement
	timeouts model.Timeouts
	// raw: the messages of actRawElems, adding rawN elements.
	raw  []mnl.Message
	rawN int
}

// batch is an ordered list of changes to cloudnat's table, built by pure
// functions from the cache and applied as one nf_tables transaction (one
// netlink batch: all of it or nothing). weight counts elements and rules,
// to split bulk writes into transactions of a bounded size.
type batch struct {
	acts   []action
	weight int
	// run: the element actions of the current run of adds (or deletes),
	// by set. Adds within a run do not depend on each other (chains and
	// sets are created outside runs), nor do deletes; a delete after an
	// add starts a new run, so order between them is kept. A bulk write
	// then sends a few large messages instead of one per object.
	run   map[string]int
	runOp actOp
}

func (b *batch) empty() bool { return len(b.acts) == 0 }

func (b *batch) add(a action) {
	if a.op == actAddElems || a.op == actDelElems {
		if a.op != b.runOp || b.run == nil {
			b.run, b.runOp = map[string]int{}, a.op
		}
		b.run[a.set.name] = len(b.acts)
	} else {
		b.run, b.runOp = nil, -1
	}
	b.acts = append(b.acts, a)
	b.weight += 1 + len(a.elems) + a.rawN
	if a.chain != nil && a.op == actAddRules {
		b.weight += len(a.chain.rules)
	}
}

func (b *batch) addSet(s setSpec) { b.add(action{op: actAddSet, set: s}) }

// addChain creates a chain and appends its rules.
func (b *batch) addChain(c *chainPlan) {
	b.add(action{op: actAddChain, chain: c})
	if len(c.rules) > 0 {
		b.add(action{op: actAddRules, chain: c})
	}
}

// rewriteChain replaces the rules of an existing chain.
func (b *batch) rewriteChain(c *chainPlan) {
	b.add(action{op: actFlushChain, chain: c})
	if len(c.rules) > 0 {
		b.add(action{op: actAddRules, chain: c})
	}
}

// elems adds (or deletes) elements, merging them into the current run's
// action on the same set.
func (b *batch) elems(op actOp, set setSpec, es ...nftables.SetElement) {
	if len(es) == 0 {
		return
	}
	if i, ok := b.run[set.name]; ok && op == b.runOp {
		b.acts[i].elems = append(b.acts[i].elems, es...)
		b.weight += len(es)
		return
	}
	b.add(action{op: op, set: set, elems: slices.Clone(es)})
}

func (b *batch) addElems(set setSpec, es ...nftables.SetElement) { b.elems(actAddElems, set, es...) }
func (b *batch) delElems(set setSpec, es ...nftables.SetElement) { b.elems(actDelElems, set, es...) }

// addRaw appends element adds encoded by w (and resets w).
func (b *batch) addRaw(w *elemWriter) {
	if w.n == 0 {
		return
	}
	n := w.n
	b.add(action{op: actRawElems, raw: w.finish(), rawN: n})
	w.n = 0
}
