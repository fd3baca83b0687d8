package kernel

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// tentry is a translation with the id cloudnat gave it (kept in its cn_tx
// element's comment and in the ct mark of its flows).
type tentry struct {
	id uint32
	t  model.Translation
	// rec is txComment(id, t) once computed (comment): a rewrite of the
	// table reuses it. A tentry is replaced, never edited, once loaded.
	rec string
}

// comment returns the translation's record comment.
func (e *tentry) comment() string {
	if e.rec == "" {
		e.rec = txComment(e.id, e.t)
	}
	return e.rec
}

type vipRef struct {
	vrf uint32
	vip netip.Addr
}

// cache is what cloudnat's table holds, decoded: it is loaded from the
// kernel (load.go), kept in step by every change this dataplane makes, and
// dropped whenever the kernel may differ (a failed write, a change by
// someone else seen by the monitor), so the next call reloads it.
type cache struct {
	exists   bool
	trans    map[model.TranslationKey]*tentry
	ids      map[uint32]model.TranslationKey
	nextID   uint32
	classes  map[string]bool // class chains present
	vips     map[vipRef]int  // VIP translations per zone . address
	pools    map[poolKey][]netip.Addr
	excl     map[model.SNATExclusion]bool
	exclLens map[poolKey]map[int]int // exclusions per prefix length
	exclSets map[string]bool         // exclusion sets present
	snat     map[poolKey]bool        // snat chains (and pool maps) present
	ifaces   map[model.SNATInterface]bool
	limits   map[uint32]uint32
	// timeouts always has every field set (defaults filled in).
	timeouts model.Timeouts
	host     hostView
	cg       *cgState
}

func newCache() *cache {
	return &cache{
		trans: map[model.TranslationKey]*tentry{}, ids: map[uint32]model.TranslationKey{}, nextID: 1,
		classes: map[string]bool{}, vips: map[vipRef]int{}, pools: map[poolKey][]netip.Addr{},
		excl: map[model.SNATExclusion]bool{}, exclLens: map[poolKey]map[int]int{}, exclSets: map[string]bool{},
		snat: map[poolKey]bool{}, ifaces: map[model.SNATInterface]bool{}, limits: map[uint32]uint32{},
		timeouts: model.DefaultTimeouts, host: hostView{vrfOf: map[string]uint32{}}, cg: newCGState(),
	}
}

func familyOf(a netip.Addr) model.Family {
	if a.Is4() || a.Is4In6() {
		return model.IPv4
	}
	return model.IPv6
}

// allocID returns a free translation id, or 0 when none is left.
func (c *cache) allocID() uint32 {
	if len(c.ids) >= maxTranslationID {
		return 0
	}
	for {
		id := c.nextID
		c.nextID++
		if c.nextID > maxTranslationID {
			c.nextID = 1
		}
		if _, used := c.ids[id]; !used {
			return id
		}
	}
}

// translations returns the translations in id order.
func (c *cache) translations() []model.Translation {
	es := make([]*tentry, 0, len(c.trans))
	for _, e := range c.trans {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b *tentry) int { return cmp.Compare(a.id, b.id) })
	out := make([]model.Translation, len(es))
	for i, e := range es {
		out[i] = e.t
		out[i].Backends = slices.Clone(e.t.Backends)
	}
	return out
}

func (c *cache) addresses() []model.SNATAddress {
	var out []model.SNATAddress
	for p, as := range c.pools {
		for _, a := range as {
			out = append(out, model.SNATAddress{VRF: p.vrf, Addr: a})
		}
	}
	slices.SortFunc(out, func(a, b model.SNATAddress) int {
		if c := cmp.Compare(a.VRF, b.VRF); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}

// sortedKeys returns the keys of m in the order of less.
func sortedKeys[T comparable](m map[T]bool, less func(a, b T) int) []T {
	out := make([]T, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, less)
	return out
}

func (c *cache) exclusions() []model.SNATExclusion {
	return sortedKeys(c.excl, func(a, b model.SNATExclusion) int {
		if c := cmp.Compare(a.VRF, b.VRF); c != 0 {
			return c
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits())
	})
}

func (c *cache) interfaces() []model.SNATInterface {
	return sortedKeys(c.ifaces, func(a, b model.SNATInterface) int {
		if c := cmp.Compare(a.Interface, b.Interface); c != 0 {
			return c
		}
		return cmp.Compare(a.Family, b.Family)
	})
}

func (c *cache) limitList() []model.SessionLimit {
	out := make([]model.SessionLimit, 0, len(c.limits))
	for v, m := range c.limits {
		out = append(out, model.SessionLimit{VRF: v, Max: m})
	}
	slices.SortFunc(out, func(a, b model.SessionLimit) int { return cmp.Compare(a.VRF, b.VRF) })
	return out
}

// lens lists the exclusion prefix lengths in use for p.
func (c *cache) lens(p poolKey) []int {
	var out []int
	for bits, n := range c.exclLens[p] {
		if n > 0 {
			out = append(out, bits)
		}
	}
	slices.Sort(out)
	return out
}

// ifaceVRF is the VRF an SNAT interface's traffic is translated in.
func (c *cache) ifaceVRF(name string) uint32 {
	v := c.host.vrfOf[name]
	if v > maxZone {
		return 0
	}
	return v
}
