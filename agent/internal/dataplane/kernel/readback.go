package kernel

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// tableRule is one rule of cloudnat's table as read back.
type tableRule struct {
	chain   string
	comment string
	exprs   []expr.Any
}

// snapshot is what the kernel holds in cloudnat's table.
type snapshot struct {
	exists   bool
	rules    []tableRule
	timeouts model.Timeouts
	haveTO   bool
}

// readTable dumps cloudnat's table (rules with their comments and the
// timeout objects). A missing table is an empty snapshot.
func readTable(c *nftables.Conn, name string) (*snapshot, error) {
	nftMu.Lock()
	defer nftMu.Unlock()
	snap := &snapshot{}
	t, err := c.ListTableOfFamily(name, nftables.TableFamilyINet)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return snap, nil
		}
		return nil, fmt.Errorf("list table inet %s: %w", name, err)
	}
	snap.exists = true
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != name {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			cm, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			snap.rules = append(snap.rules, tableRule{chain: ch.Name, comment: cm, exprs: r.Exprs})
		}
	}
	snap.timeouts, snap.haveTO, err = readTimeouts(c, t)
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// decode rebuilds cloudnat's state from a snapshot. A translation is
// reported with the backends whose dnat rules exist; an object whose rules
// someone removed is simply absent, so dump-and-diff puts it back.
func decode(snap *snapshot) (*state, error) {
	s := newState()
	if snap.haveTO {
		s.Timeouts = snap.timeouts
	}
	type back struct {
		idx int
		b   model.Backend
	}
	backs := map[uint16][]back{}
	var errs []error
	for _, r := range snap.rules {
		p, ok, err := parseComment(r.comment)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		switch p.tag {
		case tagTranslation:
			t := p.trans
			t.Backends = make([]model.Backend, 0, p.nbacks)
			s.Translations = append(s.Translations, translation{ID: p.id, T: t})
		case tagBackend:
			backs[p.id] = append(backs[p.id], back{p.idx, p.back})
		case tagSNATAddr:
			s.Addresses = append(s.Addresses, p.addr)
		case tagExclusion:
			s.Exclusions = append(s.Exclusions, p.excl)
		case tagInterface:
			s.Interfaces = append(s.Interfaces, p.iface)
		case tagLimit:
			s.Limits = append(s.Limits, p.limit)
		}
	}
	for i := range s.Translations {
		bs := backs[s.Translations[i].ID]
		slices.SortFunc(bs, func(a, b back) int { return a.idx - b.idx })
		for _, b := range bs {
			s.Translations[i].T.Backends = append(s.Translations[i].T.Backends, b.b)
		}
	}
	s.sort()
	if len(errs) > 0 {
		return s, fmt.Errorf("table has undecodable rule comments: %w", errors.Join(errs...))
	}
	return s, nil
}

// counters sums the counters of the rules whose comment starts with tag.
func (snap *snapshot) counters(tag string) uint64 {
	var n uint64
	for _, r := range snap.rules {
		if !hasTag(r.comment, tag) {
			continue
		}
		for _, e := range r.exprs {
			if c, ok := e.(*expr.Counter); ok {
				n += c.Packets
			}
		}
	}
	return n
}

func hasTag(comment, tag string) bool {
	return len(comment) > len(tag) && comment[:len(tag)] == tag && comment[len(tag)] == ' '
}
