package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/config"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
)

// The dataplanes register themselves into package registry from their
// init functions; the agent links them in with blank imports (imports.go):
//
//	_ "github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
//	_ "github.com/cloudnat/cloudnat/agent/internal/dataplane/vpp"
//
// "fake" (in-memory, package fakedp) is always there, for tests and demos
// without VPP or privileges.
func init() {
	registry.Register("fake", func(context.Context, registry.Config) (dataplane.Dataplane, error) {
		return fakedp.New(), nil
	}, nil)
}

// choice is the dataplane chosen and why.
type choice struct {
	Kind       string // "vpp", "kernel", "fake"
	SelectedBy string // "config" or "auto"
	Reason     string // for the log
}

func registryConfig(c config.Config) registry.Config {
	return registry.Config{VPPAPISocket: c.VPPAPISocket, VPPStatsSocket: c.VPPStatsSocket, KernelTable: c.KernelTable}
}

// chooseDataplane resolves "auto": VPP when its API socket answers (and
// the VPP dataplane's probe agrees), otherwise the kernel.
func chooseDataplane(ctx context.Context, c config.Config) (choice, error) {
	have := registry.Names()
	if c.Dataplane != "auto" {
		if !slices.Contains(have, c.Dataplane) {
			return choice{}, fmt.Errorf("dataplane %q is not built into this agent (have %v)", c.Dataplane, have)
		}
		return choice{Kind: c.Dataplane, SelectedBy: "config", Reason: "dataplane: " + c.Dataplane}, nil
	}
	var why string
	if slices.Contains(have, "vpp") {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := vppAnswers(pctx, c.VPPAPISocket)
		if err == nil {
			err = registry.Usable(pctx, "vpp", registryConfig(c))
		}
		cancel()
		if err == nil {
			return choice{Kind: "vpp", SelectedBy: "auto", Reason: "VPP API socket " + c.VPPAPISocket + " answers"}, nil
		}
		why = fmt.Sprintf("VPP not usable: %v", err)
	} else {
		why = "VPP dataplane not built in"
	}
	if slices.Contains(have, "kernel") {
		return choice{Kind: "kernel", SelectedBy: "auto", Reason: why}, nil
	}
	return choice{}, fmt.Errorf("dataplane auto: %s, and the kernel dataplane is not built in (have %v)", why, have)
}

// vppAnswers dials the VPP API socket.
func vppAnswers(ctx context.Context, path string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("API socket %s: %w", path, err)
	}
	return conn.Close()
}

func openDataplane(ctx context.Context, ch choice, c config.Config) (dataplane.Dataplane, error) {
	dp, err := registry.Open(ctx, ch.Kind, registryConfig(c))
	if err != nil {
		return nil, fmt.Errorf("opening %s dataplane: %w", ch.Kind, err)
	}
	return dp, nil
}
