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
	// DropPoolExhausted: new flows of a bound source that holds no block.
	DropPoolExhausted = "pool-exhausted"
	// DropUnsolicited: inbound packets to a cross-table block's or static
	// NAT's public address that belong to no flow.
	DropUnsolicited = "unsolicited"
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
	ex4, err3 := counters(d.nft, d.table, chainCGBlock(model.IPv4), commentExhausted)
	ex6, err4 := counters(d.nft, d.table, chainCGBlock(model.IPv6), commentExhausted)
	uns, err5 := counters(d.nft, d.table, chainFin, commentUnsolicited)
	exf, err6 := counters(d.nft, d.table, chainCGFwd, commentExhausted)
	nftMu.Unlock()
	for _, e := range []error{err1, err2, err3, err4, err5, err6} {
		if e != nil {
			return dataplane.Stats{}, e
		}
	}
	st.Drops = map[string]uint64{DropVIPNoTranslation: vip, DropSessionLimit: lim, DropPoolExhausted: ex4 + ex6 + exf, DropUnsolicited: uns}
	err = d.ListSessions(ctx, model.SessionFilter{VRF: model.AllVRFs}, func(model.Session) error {
		st.Sessions++
		return nil
	})
	return st, err
}
