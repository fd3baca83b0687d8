package kernel

import (
	"fmt"
	"maps"

	"github.com/google/nftables"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// simTable applies batches the way nf_tables does, strictly: a transaction
// is all or nothing, deleting a missing element or adding a different value
// under an existing key fails, sets and chains are created once.
type simTable struct {
	exists bool
	chains map[string]int
	limits []model.SessionLimit
	sets   map[string]map[string]nftables.SetElement
	to     model.Timeouts
	haveTO bool
}

func newSim() *simTable {
	return &simTable{chains: map[string]int{}, sets: map[string]map[string]nftables.SetElement{}}
}

func (s *simTable) clone() *simTable {
	n := *s
	n.chains = maps.Clone(s.chains)
	n.sets = map[string]map[string]nftables.SetElement{}
	for k, v := range s.sets {
		n.sets[k] = maps.Clone(v)
	}
	return &n
}

func elemValue(e nftables.SetElement) string {
	if e.VerdictData != nil {
		return fmt.Sprintf("v%d:%s", e.VerdictData.Kind, e.VerdictData.Chain)
	}
	return string(e.Val)
}

func (s *simTable) apply(b *batch) error {
	n := s.clone()
	for _, a := range b.acts {
		if err := n.do(a); err != nil {
			return err
		}
	}
	*s = *n
	return nil
}

func (s *simTable) do(a action) error {
	if a.op != actAddTable && !s.exists {
		return fmt.Errorf("no table")
	}
	switch a.op {
	case actAddTable:
		s.exists = true
	case actAddTimeouts:
		if s.haveTO {
			return fmt.Errorf("timeouts exist")
		}
		s.to, s.haveTO = a.timeouts, true
	case actDelTimeouts:
		if !s.haveTO {
			return fmt.Errorf("no timeouts")
		}
		s.haveTO = false
	case actAddSet:
		if _, ok := s.sets[a.set.name]; ok {
			return fmt.Errorf("set %s exists", a.set.name)
		}
		s.sets[a.set.name] = map[string]nftables.SetElement{}
	case actAddChain:
		if _, ok := s.chains[a.chain.name]; ok {
			return fmt.Errorf("chain %s exists", a.chain.name)
		}
		s.chains[a.chain.name] = 0
	case actFlushChain, actAddRules:
		if _, ok := s.chains[a.chain.name]; !ok {
			return fmt.Errorf("no chain %s", a.chain.name)
		}
		if a.op == actFlushChain {
			s.chains[a.chain.name] = 0
			if a.chain.name == chainFin {
				s.limits = nil
			}
			break
		}
		s.chains[a.chain.name] += len(a.chain.rules)
		for _, r := range a.chain.rules {
			if l, ok := parseLimitComment(r.comment); ok && a.chain.name == chainFin {
				s.limits = append(s.limits, l)
			}
		}
	case actFlushSet:
		if _, ok := s.sets[a.set.name]; !ok {
			return fmt.Errorf("no set %s", a.set.name)
		}
		s.sets[a.set.name] = map[string]nftables.SetElement{}
	case actAddElems, actDelElems:
		set, ok := s.sets[a.set.name]
		if !ok {
			return fmt.Errorf("no set %s", a.set.name)
		}
		for _, e := range a.elems {
			if e.VerdictData != nil && e.VerdictData.Chain != "" {
				if _, ok := s.chains[e.VerdictData.Chain]; !ok {
					return fmt.Errorf("element of %s jumps to missing chain %s", a.set.name, e.VerdictData.Chain)
				}
			}
			k := string(e.Key)
			old, have := set[k]
			if a.op == actDelElems {
				if !have {
					return fmt.Errorf("delete of a missing element of %s", a.set.name)
				}
				delete(set, k)
				continue
			}
			if have && elemValue(old) != elemValue(e) {
				return fmt.Errorf("element of %s exists with another value", a.set.name)
			}
			set[k] = e
		}
	}
	return nil
}

// dump returns what dump() would read from the kernel, with verdicts
// encoded as the kernel returns them.
func (s *simTable) dump() *kernelTable {
	kt := &kernelTable{exists: s.exists, chains: maps.Clone(s.chains), limits: s.limits,
		sets: map[string][]nftables.SetElement{}, timeouts: s.to, haveTO: s.haveTO}
	for name, set := range s.sets {
		var out []nftables.SetElement
		for _, e := range set {
			if e.VerdictData != nil {
				e.Val = encodeVerdict(e.VerdictData.Chain)
				e.VerdictData = nil
			}
			out = append(out, e)
		}
		kt.sets[name] = out
	}
	return kt
}
