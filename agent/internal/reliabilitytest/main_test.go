// Package reliabilitytest starts the real cloudnat-agent binary on the
// kernel dataplane in network namespaces and checks what the agent
// guarantees (README, "Reliability"): one agent per table, no start that
// loses intent, limits and short errors, refusals before the store,
// acknowledged writes that survive SIGKILL, repair of a deleted table. It
// needs root and nf_tables; without them TestMain prints one SKIP line.
package reliabilitytest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
	"github.com/cloudnat/cloudnat/test/agentproc"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
)

func TestMain(m *testing.M) {
	if why := unusable(); why != "" {
		fmt.Printf("SKIP agent reliability tests (real agent, kernel dataplane, netns): %s\n", why)
		os.Exit(0)
	}
	nslab.RemoveStale()
	os.Exit(m.Run())
}

func unusable() string {
	if why := nslab.Unusable("ip", "nft"); why != "" {
		return why
	}
	if err := kernel.Probe(context.Background(), registry.Config{}); err != nil {
		return err.Error()
	}
	return ""
}

// rig is one namespace with a directory for state, locks and logs.
type rig struct {
	t   *testing.T
	lab *nslab.Lab
	ns  string // system name of the namespace
	dir string
	bin string
	seq int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	root, err := agentproc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := agentproc.Build(root)
	if err != nil {
		t.Fatal(err)
	}
	lab := nslab.New(t)
	lab.AddNS("r")
	return &rig{t: t, lab: lab, ns: lab.Name("r"), dir: t.TempDir(), bin: bin}
}

// opts are the options of an agent on state file state (under r.dir).
func (r *rig) opts(state string, args ...string) agentproc.Options {
	r.seq++
	return agentproc.Options{
		Bin: r.bin, NetNS: r.ns, State: filepath.Join(r.dir, state), LockDir: filepath.Join(r.dir, "locks"),
		Sock: filepath.Join(r.dir, fmt.Sprintf("agent-%d.sock", r.seq)),
		Log:  filepath.Join(r.dir, "agent.log"), Args: args,
	}
}

// start starts an agent and stops it when the test ends.
func (r *rig) start(o agentproc.Options) *agentproc.Proc {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := agentproc.Start(ctx, o)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		p.Stop()
		if r.t.Failed() {
			r.t.Logf("agent output:\n%s", tail(p.Output(), 40))
		}
	})
	return p
}

// nft is the agent's table in the rig's namespace.
func (r *rig) nft() string { return agentproc.NFT(r.ns, "cloudnat") }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
