// Package nslab builds throw-away network-namespace labs for tests: named
// namespaces joined by veth pairs, with helpers that open real TCP/UDP
// sockets inside a namespace and run standard tools (ping) there. Every
// namespace is deleted by t.Cleanup, also when the test fails. Only
// addresses inside the lab's own namespaces are ever used.
package nslab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Lab is a set of namespaces owned by one test.
type Lab struct {
	t      testing.TB
	prefix string
	ns     map[string]netns.NsHandle
}

// Prefix starts the name of every namespace a lab creates.
const Prefix = "cntest-"

// labs numbers the labs of this process, so that several can exist at once.
var labs atomic.Int32

// New creates an empty lab whose namespaces are removed when t ends. Its
// namespaces are named <Prefix><pid>-<name> for the process's first lab and
// <Prefix><pid>-<n>-<name> for its n-th.
func New(t testing.TB) *Lab {
	prefix := fmt.Sprintf("%s%d-", Prefix, os.Getpid())
	if n := labs.Add(1); n > 1 {
		prefix = fmt.Sprintf("%s%d-%d-", Prefix, os.Getpid(), n)
	}
	l := &Lab{t: t, prefix: prefix, ns: map[string]netns.NsHandle{}}
	t.Cleanup(l.destroy)
	return l
}

func (l *Lab) destroy() {
	for name, h := range l.ns {
		h.Close()
		_ = exec.Command("ip", "netns", "del", l.prefix+name).Run()
	}
}

// Name is the system name of the lab namespace name.
func (l *Lab) Name(name string) string { return l.prefix + name }

// NS returns the handle of a lab namespace.
func (l *Lab) NS(name string) netns.NsHandle {
	h, ok := l.ns[name]
	if !ok {
		l.t.Fatalf("nslab: no namespace %q", name)
	}
	return h
}

// AddNS creates a namespace with lo up, forwarding on and rp_filter off.
func (l *Lab) AddNS(name string) {
	l.t.Helper()
	l.Sh("", "ip", "netns", "add", l.Name(name))
	h, err := netns.GetFromName(l.Name(name))
	if err != nil {
		l.t.Fatalf("nslab: open namespace %s: %v", name, err)
	}
	l.ns[name] = h
	l.Sh(name, "ip", "link", "set", "lo", "up")
	err = l.Do(name, func() error {
		for _, k := range []string{"ipv4/ip_forward", "ipv6/conf/all/forwarding"} {
			if err := os.WriteFile("/proc/sys/net/"+k, []byte("1"), 0o644); err != nil {
				return err
			}
		}
		for _, k := range []string{"ipv4/conf/all/rp_filter", "ipv4/conf/default/rp_filter"} {
			if err := os.WriteFile("/proc/sys/net/"+k, []byte("0"), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		l.t.Fatalf("nslab: sysctls of %s: %v", name, err)
	}
}

// Sh runs a command inside namespace ns ("" = the test's own) and fails
// the test on error.
func (l *Lab) Sh(ns string, args ...string) string {
	l.t.Helper()
	out, err := l.Try(ns, args...)
	if err != nil {
		l.t.Fatalf("nslab: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs a command inside namespace ns and returns its output and error.
func (l *Lab) Try(ns string, args ...string) (string, error) {
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", l.Name(ns)}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// Link joins nsA and nsB with a veth pair ifA/ifB and gives each end its
// addresses (CIDR notation). IPv6 runs without DAD, also for the link-local
// addresses: a tentative link-local kept the first IPv6 TCP handshakes
// after the lab came up from completing (the conformance tests' timeouts).
func (l *Lab) Link(nsA, ifA string, addrsA []string, nsB, ifB string, addrsB []string) {
	l.t.Helper()
	l.Sh("", "ip", "link", "add", ifA, "netns", l.Name(nsA), "type", "veth", "peer", "name", ifB, "netns", l.Name(nsB))
	for _, e := range []struct {
		ns, ifc string
		addrs   []string
	}{{nsA, ifA, addrsA}, {nsB, ifB, addrsB}} {
		l.Sh(e.ns, "sysctl", "-qw", "net.ipv6.conf."+e.ifc+".accept_dad=0")
		for _, a := range e.addrs {
			args := []string{"ip", "addr", "add", a, "dev", e.ifc}
			if strings.Contains(a, ":") {
				args = append(args, "nodad")
			}
			l.Sh(e.ns, args...)
		}
		l.Sh(e.ns, "ip", "link", "set", e.ifc, "up")
	}
}

// Do runs f on an OS thread switched into namespace ns; sockets f opens
// belong to ns for their whole life. f must not start goroutines that
// open sockets.
func (l *Lab) Do(ns string, f func() error) error {
	h := l.NS(ns)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("nslab: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("nslab: enter %s: %w", ns, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("nslab: cannot return to the original namespace: %v", err))
		}
	}()
	return f()
}

// RemoveStale deletes lab namespaces left by earlier test processes that
// died before their cleanup: names with Prefix whose process is gone.
func RemoveStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], Prefix) {
			continue
		}
		pid, _, ok := strings.Cut(strings.TrimPrefix(f[0], Prefix), "-")
		if !ok {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue // its test process is still running
		}
		_ = exec.Command("ip", "netns", "del", f[0]).Run()
	}
}

// Unusable says why namespace labs cannot run here ("" when they can):
// they need root and the given tools (ip, ping, nft, ...).
func Unusable(tools ...string) string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not installed"
		}
	}
	return ""
}
