package kernel

import (
	"context"
	"fmt"

	"github.com/google/nftables"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// state returns the decoded table, loading it from the kernel when there
// is no cache. Loading also repairs what a damaged table needs (see
// decode). The caller holds d.mu.
func (d *Dataplane) state(ctx context.Context) (*cache, error) {
	if err := d.begin(ctx); err != nil {
		return nil, err
	}
	if d.c != nil {
		return d.c, nil
	}
	hv, err := d.hostView()
	if err != nil {
		return nil, fmt.Errorf("kernel dataplane: %w", err)
	}
	nftMu.Lock()
	kt, err := dump(d.nft, d.table)
	nftMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("kernel dataplane: %w", err)
	}
	c, repair, rebuild := decode(kt, hv)
	if rebuild {
		d.log.Warn("kernel dataplane: table is missing chains, sets or timeout objects; rewriting it whole", "table", d.table)
		if err := d.rewrite(ctx, c, true); err != nil {
			return nil, err
		}
	} else if !repair.empty() {
		d.log.Warn("kernel dataplane: table had inconsistent elements or rules; repaired", "table", d.table)
		if err := d.send(repair); err != nil {
			return nil, fmt.Errorf("kernel dataplane: repair: %w", err)
		}
	}
	d.c = c
	return c, nil
}

// send applies one batch as one transaction.
func (d *Dataplane) send(b *batch) error {
	nftMu.Lock()
	defer nftMu.Unlock()
	err := apply(d.raw, d.table, b)
	if err == nil {
		d.txns++
	}
	return err
}

// rewrite writes the whole table from c (deleting what is there first
// when del), in transactions of bounded size. The caller holds d.mu.
func (d *Dataplane) rewrite(ctx context.Context, c *cache, del bool) error {
	batches := c.writeAll(d.table, maxTxnWeight)
	if del {
		nftMu.Lock()
		d.nft.DelTable(&nftables.Table{Name: d.table, Family: nftables.TableFamilyINet})
		err := d.nft.Flush()
		nftMu.Unlock()
		if err != nil {
			return fmt.Errorf("kernel dataplane: delete table inet %s: %w", d.table, err)
		}
	}
	return d.quiet(func() error {
		for _, b := range batches {
			if err := ctx.Err(); err != nil {
				d.c = nil
				return err
			}
			if err := d.send(b); err != nil {
				d.c = nil
				return fmt.Errorf("kernel dataplane: %w", err)
			}
		}
		return nil
	})
}

// change lets edit change the cache and record the matching kernel
// changes, then applies them as one transaction. edit returning an error
// changes nothing. A failed transaction drops the cache and is tried once
// more on a fresh load (the table may have changed underneath).
func (d *Dataplane) change(ctx context.Context, edit func(c *cache, b *batch) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	for try := 0; try < 2; try++ {
		var c *cache
		if c, err = d.state(ctx); err != nil {
			return err
		}
		b := &batch{}
		if err = edit(c, b); err != nil {
			return err
		}
		if b.empty() {
			return nil
		}
		if err = d.send(b); err == nil {
			return nil
		}
		d.c = nil
		err = fmt.Errorf("kernel dataplane: %w", err)
	}
	return err
}

// read returns the decoded table for the lists.
func (d *Dataplane) read(ctx context.Context, fn func(c *cache)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.state(ctx)
	if err != nil {
		return err
	}
	fn(c)
	return nil
}

// Resync re-reads the host's interface VRFs and rewrites what follows
// them (ct zone assignments, the VRF chain of each SNAT interface).
func (d *Dataplane) Resync(ctx context.Context) error {
	hv, err := d.hostView()
	if err != nil {
		return fmt.Errorf("kernel dataplane: %w", err)
	}
	return d.change(ctx, func(c *cache, b *batch) error {
		c.setHost(b, hv)
		return nil
	})
}

// ListTranslations reads the translations back.
func (d *Dataplane) ListTranslations(ctx context.Context) (out []model.Translation, err error) {
	err = d.read(ctx, func(c *cache) { out = c.translations() })
	return out, err
}

// PutTranslation adds or replaces a translation.
func (d *Dataplane) PutTranslation(ctx context.Context, t model.Translation) error {
	t, err := normalizeTranslation(t)
	if err != nil {
		return err
	}
	return d.change(ctx, func(c *cache, b *batch) error {
		if !c.putTranslation(b, t) {
			return unsupported("translation %s: more than %d translations (the ct mark carries a 17-bit id)", t.Key, maxTranslationID)
		}
		return nil
	})
}

// DeleteTranslation removes a translation; absent is fine.
func (d *Dataplane) DeleteTranslation(ctx context.Context, k model.TranslationKey) error {
	k.VIP = k.VIP.Unmap()
	return d.change(ctx, func(c *cache, b *batch) error {
		c.deleteTranslation(b, k)
		return nil
	})
}

// ListSNATAddresses reads the SNAT pools back.
func (d *Dataplane) ListSNATAddresses(ctx context.Context) (out []model.SNATAddress, err error) {
	err = d.read(ctx, func(c *cache) { out = c.addresses() })
	return out, err
}

// PutSNATAddress adds an address to its VRF's pool of its family.
func (d *Dataplane) PutSNATAddress(ctx context.Context, a model.SNATAddress) error {
	a, err := normalizeSNATAddress(a)
	if err != nil {
		return err
	}
	return d.change(ctx, func(c *cache, b *batch) error {
		if p := (poolKey{familyOf(a.Addr), a.VRF}); len(c.pools[p]) >= maxPool {
			return unsupported("snat address %s: the pool of VRF %d already has %d addresses", a.Addr, a.VRF, maxPool)
		}
		c.putAddress(b, a)
		return nil
	})
}

// DeleteSNATAddress removes an address from its pool.
func (d *Dataplane) DeleteSNATAddress(ctx context.Context, a model.SNATAddress) error {
	a.Addr = a.Addr.Unmap()
	return d.change(ctx, func(c *cache, b *batch) error {
		c.deleteAddress(b, a)
		return nil
	})
}

// ListSNATExclusions reads the exclusion prefixes back.
func (d *Dataplane) ListSNATExclusions(ctx context.Context) (out []model.SNATExclusion, err error) {
	err = d.read(ctx, func(c *cache) { out = c.exclusions() })
	return out, err
}

// PutSNATExclusion adds a destination prefix source NAT leaves alone.
func (d *Dataplane) PutSNATExclusion(ctx context.Context, e model.SNATExclusion) error {
	e, err := normalizeExclusion(e)
	if err != nil {
		return err
	}
	return d.change(ctx, func(c *cache, b *batch) error {
		c.putExclusion(b, e)
		return nil
	})
}

// DeleteSNATExclusion removes an exclusion prefix.
func (d *Dataplane) DeleteSNATExclusion(ctx context.Context, e model.SNATExclusion) error {
	if n, err := normalizeExclusion(e); err == nil {
		e = n
	}
	return d.change(ctx, func(c *cache, b *batch) error {
		c.deleteExclusion(b, e)
		return nil
	})
}

// ListSNATInterfaces reads the SNAT interfaces back.
func (d *Dataplane) ListSNATInterfaces(ctx context.Context) (out []model.SNATInterface, err error) {
	err = d.read(ctx, func(c *cache) { out = c.interfaces() })
	return out, err
}

// PutSNATInterface enables source NAT on traffic entering an interface.
func (d *Dataplane) PutSNATInterface(ctx context.Context, i model.SNATInterface) error {
	i, err := normalizeInterface(i)
	if err != nil {
		return err
	}
	return d.change(ctx, func(c *cache, b *batch) error {
		c.putInterface(b, i)
		return nil
	})
}

// DeleteSNATInterface disables source NAT on an interface.
func (d *Dataplane) DeleteSNATInterface(ctx context.Context, i model.SNATInterface) error {
	return d.change(ctx, func(c *cache, b *batch) error {
		c.deleteInterface(b, i)
		return nil
	})
}

// GetTimeouts reads the ct timeout objects back (defaults if none yet).
func (d *Dataplane) GetTimeouts(ctx context.Context) (out model.Timeouts, err error) {
	err = d.read(ctx, func(c *cache) { out = c.timeouts })
	return out, err
}

// SetTimeouts changes the non-zero timeouts. They apply to flows created
// afterwards; see docs/kernel-dataplane.md for existing ones.
func (d *Dataplane) SetTimeouts(ctx context.Context, t model.Timeouts) error {
	if _, err := mergeTimeouts(model.DefaultTimeouts, t); err != nil {
		return err
	}
	return d.change(ctx, func(c *cache, b *batch) error {
		n, err := mergeTimeouts(c.timeouts, t)
		if err != nil {
			return err
		}
		c.setTimeouts(b, n)
		return nil
	})
}

// ListSessionLimits reads the session limits back.
func (d *Dataplane) ListSessionLimits(ctx context.Context) (out []model.SessionLimit, err error) {
	err = d.read(ctx, func(c *cache) { out = c.limitList() })
	return out, err
}

// SetSessionLimit sets (Max > 0) or clears (Max == 0) a VRF's limit.
func (d *Dataplane) SetSessionLimit(ctx context.Context, l model.SessionLimit) error {
	if err := checkLimit(l); err != nil {
		return err
	}
	return d.change(ctx, func(c *cache, b *batch) error {
		c.setLimit(b, l)
		return nil
	})
}

// PutTranslations adds or replaces many translations in transactions of
// bounded size (each translation applied whole: its elements never span
// two transactions). Every translation is checked first: one that cannot
// be expressed refuses the whole call and nothing is changed. It is what
// a full sync or a restore after a lost table uses (one netlink round
// trip per ~60,000 elements instead of one per translation).
func (d *Dataplane) PutTranslations(ctx context.Context, ts []model.Translation) error {
	norm := make([]model.Translation, 0, len(ts))
	at := map[model.TranslationKey]int{}
	for _, t := range ts {
		n, err := normalizeTranslation(t)
		if err != nil {
			return err
		}
		if i, dup := at[n.Key]; dup {
			norm[i] = n // the last one wins
			continue
		}
		at[n.Key] = len(norm)
		norm = append(norm, n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.state(ctx)
	if err != nil {
		return err
	}
	if len(norm) < quietAbove {
		return d.putMany(ctx, c, norm)
	}
	return d.quiet(func() error { return d.putMany(ctx, c, norm) })
}

// quietAbove is the bulk size above which notifications are paused.
const quietAbove = 1000

// putMany is PutTranslations once checked. The caller holds d.mu. New
// translations have their elements encoded straight into messages
// (cache.addNew); replaced ones go through putTranslation.
func (d *Dataplane) putMany(ctx context.Context, c *cache, norm []model.Translation) error {
	b := &batch{}
	w := newElemWriter(d.table)
	flush := func() error {
		b.addRaw(w)
		if b.empty() {
			return nil
		}
		if err := d.send(b); err != nil {
			d.c = nil
			return fmt.Errorf("kernel dataplane: %w", err)
		}
		b = &batch{}
		return ctx.Err()
	}
	for _, t := range norm {
		var ok bool
		if c.trans[t.Key] == nil {
			ok = c.addNew(b, w, t)
		} else {
			ok = c.putTranslation(b, t)
		}
		if !ok {
			err := unsupported("translation %s: more than %d translations (the ct mark carries a 17-bit id)", t.Key, maxTranslationID)
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return err
		}
		if b.weight+w.n >= maxTxnWeight {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
