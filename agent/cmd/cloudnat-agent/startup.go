package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/config"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/store"
)

// lockTarget takes the lock of the dataplane the agent is about to drive:
// kernel: the nf_tables table in this network namespace; vpp: the VPP
// behind the API socket. The in-memory fake needs none (nil lock).
func lockTarget(ch choice, c config.Config) (*store.TargetLock, error) {
	var target string
	switch ch.Kind {
	case "kernel":
		ns, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			return nil, fmt.Errorf("network namespace: %w", err)
		}
		target = "table inet " + c.KernelTable + " in " + ns
	case "vpp":
		abs, err := filepath.Abs(c.VPPAPISocket)
		if err != nil {
			return nil, err
		}
		target = abs
	default:
		return nil, nil
	}
	return store.LockTarget(c.LockDir, ch.Kind, target, c.StatePath)
}

// connectWait bounds the wait for the dataplane before the start check.
const connectWait = 10 * time.Second

// guardIntent refuses a start that would lose intent by accident: the
// store has no intent (state file missing or "desired": null) although a
// marker beside the state file, the previous agent of this dataplane, or
// cloudnat objects in the dataplane show there was one. c.Init overrides
// (a first start, or starting over on purpose). When the start goes on
// with a fresh store, the (empty) state and its marker are written so the
// next start finds them.
func guardIntent(ctx context.Context, log *slog.Logger, c config.Config, st *store.Store, prevState string, dp dataplane.Dataplane) error {
	if !st.Fresh() {
		if c.Init {
			log.Info("--init has no effect: the state file holds intent", "state", c.StatePath)
		}
		return nil
	}
	evidence := intentEvidence(ctx, c.StatePath, prevState, dp)
	if len(evidence) > 0 {
		if !c.Init {
			return fmt.Errorf("refusing to start with no intent: %s holds none, but %s.\n"+
				"Either point --state.path at the agent's state file (restore it from a backup if it was lost),\n"+
				"or, to start over with empty intent (cloudnat objects in the dataplane are then removed), start once with --init",
				c.StatePath, strings.Join(evidence, "; "))
		}
		log.Warn("starting with empty intent (--init) although intent existed: cloudnat objects in the dataplane will be removed",
			"state", c.StatePath, "evidence", strings.Join(evidence, "; "))
	} else {
		log.Info("first start: no state file, empty intent", "state", c.StatePath)
	}
	if err := st.Init(); err != nil {
		return fmt.Errorf("writing the first state: %w", err)
	}
	return nil
}

// intentEvidence lists what shows that intent existed before.
func intentEvidence(ctx context.Context, statePath, prevState string, dp dataplane.Dataplane) []string {
	var ev []string
	if _, err := os.Stat(statePath); err == nil {
		ev = append(ev, `the state file holds "desired": null (the agent never writes that)`)
	}
	if _, err := os.Stat(store.Marker(statePath)); err == nil {
		ev = append(ev, "its marker "+store.Marker(statePath)+" says a state file was written there before")
	}
	if abs, err := filepath.Abs(statePath); err == nil && prevState != "" && prevState != abs {
		if _, err := os.Stat(prevState); err == nil {
			ev = append(ev, "the last agent on this dataplane used the state file "+prevState)
		}
	}
	n, err := dataplaneObjects(ctx, dp)
	switch {
	case err != nil:
		ev = append(ev, fmt.Sprintf("the dataplane could not be checked for cloudnat objects (%v)", err))
	case n > 0:
		ev = append(ev, fmt.Sprintf("the dataplane already holds %d cloudnat objects", n))
	}
	return ev
}

// dataplaneObjects counts the dataplane's translations, SNAT addresses,
// exclusions and interfaces, waiting up to connectWait for it to connect.
func dataplaneObjects(ctx context.Context, dp dataplane.Dataplane) (int, error) {
	d, err := readDataplane(ctx, dp)
	return len(d.Translations) + len(d.SNATAddresses) + len(d.SNATExclusions) + len(d.SNATInterfaces), err
}

// readDataplane lists the dataplane's objects, waiting up to connectWait
// for it to connect.
func readDataplane(ctx context.Context, dp dataplane.Dataplane) (model.Desired, error) {
	ctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	for {
		d, err := listObjects(ctx, dp)
		if !errors.Is(err, dataplane.ErrNotConnected) {
			return d, err
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("not connected after %s: %w", connectWait, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func listObjects(ctx context.Context, dp dataplane.Dataplane) (model.Desired, error) {
	var d model.Desired
	var err error
	if d.Translations, err = dp.ListTranslations(ctx); err != nil {
		return d, err
	}
	if d.SNATAddresses, err = dp.ListSNATAddresses(ctx); err != nil {
		return d, err
	}
	if d.SNATExclusions, err = dp.ListSNATExclusions(ctx); err != nil {
		return d, err
	}
	if d.SNATInterfaces, err = dp.ListSNATInterfaces(ctx); err != nil {
		return d, err
	}
	return d, nil
}
