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
	d.mu.Lock()
	s, snap, err := d.load(ctx)
	d.mu.Unlock()
	if err != nil {
		return dataplane.Stats{}, err
	}
	st := dataplane.Stats{
		Translations: uint32(len(s.Translations)),
		Drops: map[string]uint64{
			DropVIPNoTranslation: snap.counters(tagVIPDrop),
			DropSessionLimit:     snap.counters(tagLimit),
		},
	}
	err = d.ListSessions(ctx, model.SessionFilter{VRF: model.AllVRFs}, func(model.Session) error {
		st.Sessions++
		return nil
	})
	return st, err
}
