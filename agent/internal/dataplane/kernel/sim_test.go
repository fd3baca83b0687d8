package kernel

import (
	"fmt"
	"maps"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

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
	if a.op == actRawElems {
		// Decoded as the kernel reads them: this checks the encoder too.
		n := 0
		for _, m := range a.raw {
			set, es, err := decodeElemMsg(m)
			if err != nil {
				return err
			}
			n += len(es)
			if err := s.do(action{op: actAddElems, set: named(set), elems: es}); err != nil {
				return err
			}
		}
		if n != a.rawN {
			return fmt.Errorf("raw elements: %d decoded, %d announced", n, a.rawN)
		}
		return nil
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

// decodeElemMsg reads an element message as the kernel does.
func decodeElemMsg(m mnl.Message) (string, []nftables.SetElement, error) {
	if m.Header.Type != mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWSETELEM) || len(m.Data) < 4 ||
		m.Data[0] != unix.NFPROTO_INET {
		return "", nil, fmt.Errorf("not an element add: %v", m.Header)
	}
	ad, err := mnl.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return "", nil, err
	}
	var set, table string
	var es []nftables.SetElement
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_SET_ELEM_LIST_TABLE:
			table = ad.String()
		case unix.NFTA_SET_ELEM_LIST_SET:
			set = ad.String()
		case unix.NFTA_SET_ELEM_LIST_ELEMENTS:
			ad.Nested(func(l *mnl.AttributeDecoder) error {
				for l.Next() {
					var e nftables.SetElement
					l.Nested(func(el *mnl.AttributeDecoder) error {
						for el.Next() {
							switch el.Type() {
							case unix.NFTA_SET_ELEM_KEY, unix.NFTA_SET_ELEM_DATA:
								typ := el.Type()
								el.Nested(func(v *mnl.AttributeDecoder) error {
									for v.Next() {
										if v.Type() == unix.NFTA_DATA_VALUE {
											if typ == unix.NFTA_SET_ELEM_KEY {
												e.Key = v.Bytes()
											} else {
												e.Val = v.Bytes()
											}
										}
									}
									return nil
								})
							case unix.NFTA_SET_ELEM_USERDATA:
								e.Comment, _ = userdata.GetString(el.Bytes(), userdata.NFTNL_UDATA_SET_ELEM_COMMENT)
							}
						}
						return nil
					})
					es = append(es, e)
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return "", nil, err
	}
	if table != "cloudnat" || len(es) == 0 {
		return "", nil, fmt.Errorf("element message of table %q with %d elements", table, len(es))
	}
	return set, es, nil
}
