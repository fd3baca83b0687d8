package kernel

import (
	"context"
	"fmt"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// load reads cloudnat's state from the kernel. The caller holds d.mu.
func (d *Dataplane) load(ctx context.Context) (*state, *snapshot, error) {
	if err := d.begin(ctx); err != nil {
		return nil, nil, err
	}
	c, err := d.conn()
	if err != nil {
		return nil, nil, err
	}
	snap, err := readTable(c, d.table)
	if err != nil {
		return nil, nil, fmt.Errorf("kernel dataplane: %w", err)
	}
	s, err := decode(snap)
	if err != nil {
		return nil, nil, fmt.Errorf("kernel dataplane: %w", err)
	}
	return s, snap, nil
}

// read is load for the list calls.
func (d *Dataplane) read(ctx context.Context) (*state, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, _, err := d.load(ctx)
	return s, err
}

// modify reads the state back, lets edit change it and, if it did,
// rebuilds the whole table in one batch. edit returning an error changes
// nothing.
func (d *Dataplane) modify(ctx context.Context, edit func(s *state) (bool, error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, _, err := d.load(ctx)
	if err != nil {
		return err
	}
	changed, err := edit(s)
	if err != nil {
		return err
	}
	if !changed {
		return nil
	}
	return d.write(ctx, s)
}

// write rebuilds the table from s. The caller holds d.mu.
func (d *Dataplane) write(ctx context.Context, s *state) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	hv, err := d.hostView()
	if err != nil {
		return fmt.Errorf("kernel dataplane: %w", err)
	}
	c, err := d.conn()
	if err != nil {
		return err
	}
	if err := applyPlan(c, d.table, build(s, hv)); err != nil {
		return fmt.Errorf("kernel dataplane: %w", err)
	}
	d.lastHost = &hv
	return nil
}

// Resync rebuilds the table from what it holds, picking up interface VRF
// changes (ct zone assignments and SNAT chains follow the host's VRFs).
func (d *Dataplane) Resync(ctx context.Context) error {
	return d.modify(ctx, func(*state) (bool, error) { return true, nil })
}

// ListTranslations reads the translations back from the table.
func (d *Dataplane) ListTranslations(ctx context.Context) ([]model.Translation, error) {
	s, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	return s.translationsView(), nil
}

// PutTranslation adds or replaces a translation.
func (d *Dataplane) PutTranslation(ctx context.Context, t model.Translation) error {
	t, err := normalizeTranslation(t)
	if err != nil {
		return err
	}
	return d.modify(ctx, func(s *state) (bool, error) {
		if !s.putTranslation(t) {
			return false, unsupported("translation %s: more than %d translations (the ct mark carries a 14-bit id)", t.Key, maxTranslationID)
		}
		return true, nil
	})
}

// DeleteTranslation removes a translation; absent is fine.
func (d *Dataplane) DeleteTranslation(ctx context.Context, k model.TranslationKey) error {
	k.VIP = k.VIP.Unmap()
	return d.modify(ctx, func(s *state) (bool, error) { return s.deleteTranslation(k), nil })
}

// ListSNATAddresses reads the SNAT pools back.
func (d *Dataplane) ListSNATAddresses(ctx context.Context) ([]model.SNATAddress, error) {
	s, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	return s.Addresses, nil
}

// PutSNATAddress adds an address to its VRF's pool of its family.
func (d *Dataplane) PutSNATAddress(ctx context.Context, a model.SNATAddress) error {
	a, err := normalizeSNATAddress(a)
	if err != nil {
		return err
	}
	return d.modify(ctx, func(s *state) (changed bool, _ error) {
		s.Addresses, changed = putUnique(s.Addresses, a)
		return changed, nil
	})
}

// DeleteSNATAddress removes an address from its pool.
func (d *Dataplane) DeleteSNATAddress(ctx context.Context, a model.SNATAddress) error {
	a.Addr = a.Addr.Unmap()
	return d.modify(ctx, func(s *state) (changed bool, _ error) {
		s.Addresses, changed = deleteValue(s.Addresses, a)
		return changed, nil
	})
}

// ListSNATExclusions reads the exclusion prefixes back.
func (d *Dataplane) ListSNATExclusions(ctx context.Context) ([]model.SNATExclusion, error) {
	s, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	return s.Exclusions, nil
}

// PutSNATExclusion adds a destination prefix source NAT leaves alone.
func (d *Dataplane) PutSNATExclusion(ctx context.Context, e model.SNATExclusion) error {
	e, err := normalizeExclusion(e)
	if err != nil {
		return err
	}
	return d.modify(ctx, func(s *state) (changed bool, _ error) {
		s.Exclusions, changed = putUnique(s.Exclusions, e)
		return changed, nil
	})
}

// DeleteSNATExclusion removes an exclusion prefix.
func (d *Dataplane) DeleteSNATExclusion(ctx context.Context, e model.SNATExclusion) error {
	if n, err := normalizeExclusion(e); err == nil {
		e = n
	}
	return d.modify(ctx, func(s *state) (changed bool, _ error) {
		s.Exclusions, changed = deleteValue(s.Exclusions, e)
		return changed, nil
	})
}

// ListSNATInterfaces reads the SNAT interfaces back.
func (d *Dataplane) ListSNATInterfaces(ctx context.Context) ([]model.SNATInterface, error) {
	s, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	return s.Interfaces, nil
}

// PutSNATInterface enables source NAT on traffic entering an interface.
func (d *Dataplane) PutSNATInterface(ctx context.Context, i model.SNATInterface) error {
	i, err := normalizeInterface(i)
	if err != nil {
		return err
	}
	return d.modify(ctx, func(s *state) (changed bool, _ error) {
		s.Interfaces, changed = putUnique(s.Interfaces, i)
		return changed, nil
	})
}

// DeleteSNATInterface disables source NAT on an interface.
func (d *Dataplane) DeleteSNATInterface(ctx context.Context, i model.SNATInterface) error {
	return d.modify(ctx, func(s *state) (changed bool, _ error) {
		s.Interfaces, changed = deleteValue(s.Interfaces, i)
		return changed, nil
	})
}

// GetTimeouts reads the ct timeout objects back (defaults if none yet).
func (d *Dataplane) GetTimeouts(ctx context.Context) (model.Timeouts, error) {
	s, err := d.read(ctx)
	if err != nil {
		return model.Timeouts{}, err
	}
	return s.Timeouts, nil
}

// SetTimeouts changes the non-zero timeouts. They apply to flows created
// afterwards; see docs/kernel-dataplane.md for existing ones.
func (d *Dataplane) SetTimeouts(ctx context.Context, t model.Timeouts) error {
	if _, err := mergeTimeouts(model.DefaultTimeouts, t); err != nil {
		return err
	}
	return d.modify(ctx, func(s *state) (bool, error) {
		n, err := mergeTimeouts(s.Timeouts, t)
		if err != nil {
			return false, err
		}
		changed := n != s.Timeouts
		s.Timeouts = n
		return changed, nil
	})
}

// ListSessionLimits reads the session limits back.
func (d *Dataplane) ListSessionLimits(ctx context.Context) ([]model.SessionLimit, error) {
	s, err := d.read(ctx)
	if err != nil {
		return nil, err
	}
	return s.Limits, nil
}

// SetSessionLimit sets (Max > 0) or clears (Max == 0) a VRF's limit.
func (d *Dataplane) SetSessionLimit(ctx context.Context, l model.SessionLimit) error {
	if err := checkLimit(l); err != nil {
		return err
	}
	return d.modify(ctx, func(s *state) (bool, error) {
		for i, x := range s.Limits {
			if x.VRF != l.VRF {
				continue
			}
			if l.Max == 0 {
				s.Limits = append(s.Limits[:i], s.Limits[i+1:]...)
				return true, nil
			}
			s.Limits[i].Max = l.Max
			return x.Max != l.Max, nil
		}
		if l.Max == 0 {
			return false, nil
		}
		s.Limits = append(s.Limits, l)
		return true, nil
	})
}
