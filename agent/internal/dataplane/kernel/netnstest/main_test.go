// Package netnstest runs the kernel dataplane against real TCP, UDP and
// ICMP traffic in network namespaces the tests create and remove. It needs
// root (CAP_SYS_ADMIN for namespaces, CAP_NET_ADMIN for nf_tables) and the
// ip and ping commands; without them TestMain prints one SKIP line.
package netnstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/dataplane/kernel"
	"github.com/cloudnat/cloudnat/agent/internal/dataplane/registry"
	"github.com/cloudnat/cloudnat/test/kernel/nslab"
)

func TestMain(m *testing.M) {
	if why := unusable(); why != "" {
		fmt.Printf("SKIP kernel dataplane netns tests: %s\n", why)
		os.Exit(0)
	}
	nslab.RemoveStale()
	os.Exit(m.Run())
}

func unusable() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, tool := range []string{"ip", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not installed"
		}
	}
	if err := kernel.Probe(context.Background(), registry.Config{}); err != nil {
		return err.Error()
	}
	return ""
}
