// Package registry lets dataplane implementations make themselves known to
// the agent without the agent importing build-specific code paths: each
// implementation registers a factory from its init function.
package registry

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
)

// Config carries what any dataplane may need; each reads its own fields.
type Config struct {
	// VPP
	VPPAPISocket   string
	VPPStatsSocket string
	// Kernel
	KernelTable string // nf_tables table name, default "cloudnat"
}

// Factory opens a dataplane. It returns promptly: a dataplane that is not
// reachable yet reports Disconnected and connects in the background, except
// where the caller needs a definite answer (see Probe).
type Factory func(ctx context.Context, cfg Config) (dataplane.Dataplane, error)

// Probe says whether a dataplane is usable on this host right now (used by
// the "auto" choice); nil means yes.
type Probe func(ctx context.Context, cfg Config) error

type entry struct {
	open  Factory
	probe Probe
}

var (
	mu      sync.Mutex
	entries = map[string]entry{}
)

// Register makes a dataplane available under name ("vpp", "kernel").
func Register(name string, open Factory, probe Probe) {
	mu.Lock()
	defer mu.Unlock()
	entries[name] = entry{open: open, probe: probe}
}

// Names lists the registered dataplanes.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the named dataplane.
func Open(ctx context.Context, name string, cfg Config) (dataplane.Dataplane, error) {
	mu.Lock()
	e, ok := entries[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown dataplane %q (have %v)", name, Names())
	}
	return e.open(ctx, cfg)
}

// Usable runs the named dataplane's probe.
func Usable(ctx context.Context, name string, cfg Config) error {
	mu.Lock()
	e, ok := entries[name]
	mu.Unlock()
	if !ok {
		return fmt.Errorf("unknown dataplane %q", name)
	}
	if e.probe == nil {
		return nil
	}
	return e.probe(ctx, cfg)
}
