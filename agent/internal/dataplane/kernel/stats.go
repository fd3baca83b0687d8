package kernel

import (
	"context"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
)

// Drop counter names reported by Stats.
const (
	DropVIPNoTranslation = "vip-no-translation"
	DropSessionLimit     = "session-limit"
)

// Stats counts translations and cloudnat sessions and reads the counters
// of cloudnat's drop rules.
func (d *Dataplane) Stats(ctx context.Context) (dataplane.Stats, error) {
	var st dataplane.Stats
	err := d.read(ctx, func(c *cache) { st.Translations = uint32(len(c.trans)) })
	if err != nil {
		return dataplane.Stats{}, err
	}
	nftMu.Lock()
	vip, err1 := counters(d.nft, d.table, chainDNAT, commentVIPDrop)
	lim, err2 := counters(d.nft, d.table, chainFin, commentLimit)
	nftMu.Unlock()
	for _, e := range []error{err1, err2} {
		if e != nil {
			return dataplane.Stats{}, e
		}
	}
	st.Drops = map[string]uint64{DropVIPNoTranslation: vip, DropSessionLimit: lim}
	err = d.ListSessions(ctx, model.SessionFilter{VRF: model.AllVRFs}, func(model.Session) error {
		st.Sessions++
		return nil
	})
	return st, err
}
