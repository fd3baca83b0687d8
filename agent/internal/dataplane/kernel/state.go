package kernel

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// translation is a model translation with the id cloudnat gave it (kept in
// the rule comments and in the ct mark of its flows).
type translation struct {
	ID uint16
	T  model.Translation
}

// state is everything cloudnat's table expresses. It is read back from the
// kernel before every change and written back whole (see apply.go).
type state struct {
	Translations []translation
	Addresses    []model.SNATAddress
	Exclusions   []model.SNATExclusion
	Interfaces   []model.SNATInterface
	Limits       []model.SessionLimit
	// Timeouts always has every field set (defaults filled in).
	Timeouts model.Timeouts
}

func newState() *state {
	return &state{Timeouts: model.DefaultTimeouts}
}

func familyOf(a netip.Addr) model.Family {
	if a.Is4() || a.Is4In6() {
		return model.IPv4
	}
	return model.IPv6
}

func addrLess(a, b netip.Addr) int { return a.Compare(b) }

// sort puts every list in a canonical order, so that rebuilding from the
// same state yields the same rules (and pool indexes stay stable).
func (s *state) sort() {
	slices.SortFunc(s.Translations, func(a, b translation) int {
		return cmp.Compare(a.ID, b.ID)
	})
	slices.SortFunc(s.Addresses, func(a, b model.SNATAddress) int {
		if c := cmp.Compare(a.VRF, b.VRF); c != 0 {
			return c
		}
		return addrLess(a.Addr, b.Addr)
	})
	slices.SortFunc(s.Exclusions, func(a, b model.SNATExclusion) int {
		if c := cmp.Compare(a.VRF, b.VRF); c != 0 {
			return c
		}
		if c := addrLess(a.Prefix.Addr(), b.Prefix.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits())
	})
	slices.SortFunc(s.Interfaces, func(a, b model.SNATInterface) int {
		if c := cmp.Compare(a.Interface, b.Interface); c != 0 {
			return c
		}
		return cmp.Compare(a.Family, b.Family)
	})
	slices.SortFunc(s.Limits, func(a, b model.SessionLimit) int {
		return cmp.Compare(a.VRF, b.VRF)
	})
}

// putTranslation replaces the translation with t's key or adds it with a
// fresh id; ok is false when no id is left.
func (s *state) putTranslation(t model.Translation) (ok bool) {
	used := map[uint16]bool{}
	for i, x := range s.Translations {
		if x.T.Key == t.Key {
			s.Translations[i].T = t
			return true
		}
		used[x.ID] = true
	}
	for id := 1; id <= maxTranslationID; id++ {
		if !used[uint16(id)] {
			s.Translations = append(s.Translations, translation{ID: uint16(id), T: t})
			return true
		}
	}
	return false
}

func (s *state) deleteTranslation(k model.TranslationKey) bool {
	n := len(s.Translations)
	s.Translations = slices.DeleteFunc(s.Translations, func(x translation) bool { return x.T.Key == k })
	return n != len(s.Translations)
}

// putUnique adds v to list unless present; changed reports whether it did.
func putUnique[T comparable](list []T, v T) ([]T, bool) {
	if slices.Contains(list, v) {
		return list, false
	}
	return append(list, v), true
}

func deleteValue[T comparable](list []T, v T) ([]T, bool) {
	n := len(list)
	list = slices.DeleteFunc(list, func(x T) bool { return x == v })
	return list, n != len(list)
}

// pool returns the SNAT addresses of vrf and family in pool order.
func (s *state) pool(vrf uint32, f model.Family) []netip.Addr {
	var out []netip.Addr
	for _, a := range s.Addresses {
		if a.VRF == vrf && familyOf(a.Addr) == f {
			out = append(out, a.Addr)
		}
	}
	slices.SortFunc(out, addrLess)
	return out
}

func (s *state) exclusions(vrf uint32, f model.Family) []netip.Prefix {
	var out []netip.Prefix
	for _, e := range s.Exclusions {
		if e.VRF == vrf && familyOf(e.Prefix.Addr()) == f {
			out = append(out, e.Prefix)
		}
	}
	return out
}

// translationsView returns the model translations in id order.
func (s *state) translationsView() []model.Translation {
	out := make([]model.Translation, 0, len(s.Translations))
	for _, t := range s.Translations {
		out = append(out, t.T)
	}
	return out
}
