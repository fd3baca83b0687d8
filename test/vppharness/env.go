// Package vppharness starts private VPP instances for VPP-in-the-loop tests,
// drives them through the CLI (binary API cli_inband, vppctl as fallback),
// and feeds and captures packets through packet-generator (pg) interfaces,
// the way VPP's own Python test framework does.
//
// A test package uses it as:
//
//	func TestMain(m *testing.M) { vppharness.Main(m, "test/plugin") }
//
//	func TestSomething(t *testing.T) {
//		v := vppharness.Start(t, vppharness.Options{})
//		pg0 := v.NewPG(t, vppharness.PGConfig{IP4: "10.0.0.1/24", IP6: "10::1/64"})
//		pg1 := v.NewPG(t, vppharness.PGConfig{IP4: "20.0.0.254/24"})
//		v.MustCLI(t, "cnat translation add proto udp vip 30.0.0.2 80 to ->20.0.0.1 8080")
//		p := pg0.From(0, false) // from pg0's host 0, IPv4
//		p.Dst, p.Proto, p.SrcPort, p.DstPort = netip.MustParseAddr("30.0.0.2"), vppharness.UDP, 1234, 80
//		got := v.SendAndExpect(t, pg0, []vppharness.Pkt{p}, pg1) // []*Parsed
//	}
//
// Pieces:
//   - Environment / Main / CannotRun: find VPP (VPP_PREFIX, else /usr,
//     /opt/vpp, /usr/local) and cloudnat_plugin.so (CLOUDNAT_PLUGIN_DIR, else
//     <repo>/build/vpp-plugin); Main prints one SKIP line and exits 0 when the
//     tests cannot run (not root, no VPP, no plugin).
//   - Start / StartProcess / Stop: a VPP with its own run directory, sockets,
//     API segment prefix, 4k pages (no hugepages), only the plugins asked for
//     (cnat_plugin.so stays disabled); stopped at test cleanup, its output and
//     pcaps kept when the test failed (or VPPHARNESS_KEEP is set).
//   - CLI / CLIContext / MustCLI / CLIf / VppCtl: commands; a command VPP
//     rejects is an error. Conn gives the govpp connection for binapi calls.
//   - NewPG / AddHost / From: pg interfaces with addresses, tables and static
//     neighbors for remote hosts.
//   - Pkt (builder, gopacket), Parsed / Parse / ParseIP (decoder that follows
//     ICMP errors' quoted packets), Send / SendAndExpect / SendAndExpectN /
//     SendAndExpectNone (pcap in, pcap capture out on every pg interface),
//     SendOptions{Trace} and ShowTrace.
//   - AssertChecksumsValid / ChecksumErrors: every captured packet's IPv4
//     header, TCP/UDP/ICMP/ICMPv6 and quoted (inner) checksums; Send applies
//     it to everything it captures.
//   - Errors / ErrorCount / ParseErrors: "show errors" counters.
//
// Main prints exactly one line and exits 0 when the tests cannot run (no VPP,
// no cloudnat plugin, not root).
package vppharness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Env describes where VPP and the cloudnat plugin live.
type Env struct {
	// Prefix is the VPP install prefix (it has bin/vpp).
	Prefix string
	// VPPBin and VppctlBin are the binaries.
	VPPBin, VppctlBin string
	// VPPPluginDir is VPP's own plugin directory (has ping_plugin.so, ...).
	VPPPluginDir string
	// CloudnatPluginDir holds cloudnat_plugin.so.
	CloudnatPluginDir string
	// RepoRoot is the directory of the project's go.mod.
	RepoRoot string
}

var (
	envOnce sync.Once
	envVal  *Env
	envErr  error
	// envPartial is what was found before an error (VPP without the plugin).
	envPartial *Env
)

// Skip reasons are errors of this type: they are not failures.
type skipError struct{ msg string }

func (e *skipError) Error() string { return e.msg }

// IsSkip reports whether err means "environment cannot run VPP tests".
func IsSkip(err error) bool {
	var s *skipError
	return errors.As(err, &s)
}

// Environment finds VPP and the plugin once per process.
func Environment() (*Env, error) {
	envOnce.Do(func() { envVal, envErr = findEnv() })
	return envVal, envErr
}

// VPPEnvironment is Environment without requiring the cloudnat plugin (its
// CloudnatPluginDir may be empty).
func VPPEnvironment() (*Env, error) {
	e, err := Environment()
	if err == nil {
		return e, nil
	}
	if envPartial != nil && envPartial.VPPPluginDir != "" {
		return envPartial, nil
	}
	return nil, err
}

func findEnv() (*Env, error) {
	e := &Env{}
	envPartial = e
	root, err := RepoRoot()
	if err != nil {
		return nil, fmt.Errorf("find repository root: %w", err)
	}
	e.RepoRoot = root

	if p := os.Getenv("VPP_PREFIX"); p != "" {
		if !isFile(filepath.Join(p, "bin", "vpp")) {
			return nil, &skipError{fmt.Sprintf("no VPP found at VPP_PREFIX=%s (no bin/vpp)", p)}
		}
		e.Prefix = p
	} else {
		for _, p := range []string{"/usr", "/opt/vpp", "/usr/local"} {
			if isFile(filepath.Join(p, "bin", "vpp")) {
				e.Prefix = p
				break
			}
		}
		if e.Prefix == "" {
			return nil, &skipError{"no VPP found (set VPP_PREFIX)"}
		}
	}
	e.VPPBin = filepath.Join(e.Prefix, "bin", "vpp")
	e.VppctlBin = filepath.Join(e.Prefix, "bin", "vppctl")

	dir, err := findVPPPluginDir(e.Prefix)
	if err != nil {
		return nil, &skipError{err.Error()}
	}
	e.VPPPluginDir = dir

	if d := os.Getenv("CLOUDNAT_PLUGIN_DIR"); d != "" {
		if !isFile(filepath.Join(d, "cloudnat_plugin.so")) {
			return nil, &skipError{fmt.Sprintf("no cloudnat_plugin.so in CLOUDNAT_PLUGIN_DIR=%s", d)}
		}
		e.CloudnatPluginDir = d
	} else {
		d, err := findCloudnatPlugin(root)
		if err != nil {
			return nil, &skipError{err.Error()}
		}
		e.CloudnatPluginDir = d
	}
	return e, nil
}

// findVPPPluginDir returns the directory under prefix holding VPP's plugins.
func findVPPPluginDir(prefix string) (string, error) {
	cands := []string{
		filepath.Join(prefix, "lib", "x86_64-linux-gnu", "vpp_plugins"),
		filepath.Join(prefix, "lib", "aarch64-linux-gnu", "vpp_plugins"),
		filepath.Join(prefix, "lib64", "vpp_plugins"),
		filepath.Join(prefix, "lib", "vpp_plugins"),
	}
	for _, c := range cands {
		if isFile(filepath.Join(c, "ping_plugin.so")) {
			return c, nil
		}
	}
	// Last resort: search.
	var found string
	_ = filepath.WalkDir(filepath.Join(prefix, "lib"), func(p string, d os.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "ping_plugin.so" {
			found = filepath.Dir(p)
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", fmt.Errorf("no VPP plugin directory (with ping_plugin.so) under %s/lib", prefix)
	}
	return found, nil
}

// findCloudnatPlugin looks for cloudnat_plugin.so under <root>/build/vpp-plugin,
// preferring <root>/build/vpp-plugin/lib/vpp_plugins.
func findCloudnatPlugin(root string) (string, error) {
	base := filepath.Join(root, "build", "vpp-plugin")
	pref := filepath.Join(base, "lib", "vpp_plugins")
	if isFile(filepath.Join(pref, "cloudnat_plugin.so")) {
		return pref, nil
	}
	var found string
	_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() && d.Name() == "cloudnat_plugin.so" {
			found = filepath.Dir(p)
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", fmt.Errorf("no cloudnat_plugin.so under %s (build the plugin or set CLOUDNAT_PLUGIN_DIR)", base)
	}
	return found, nil
}

// RepoRoot returns the directory holding the module's go.mod.
func RepoRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		gomod := strings.TrimSpace(string(out))
		if gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Main is the TestMain of a VPP-in-the-loop test package. When the tests
// cannot run here (not root, no VPP, no cloudnat_plugin.so) it prints exactly
// one line,
//
//	SKIP <pkg>: <reason>; VPP-in-the-loop tests not run
//
// and exits 0. Otherwise it runs the tests.
func Main(m *testing.M, pkg string) {
	if reason := CannotRun(); reason != "" {
		fmt.Printf("SKIP %s: %s; VPP-in-the-loop tests not run\n", pkg, reason)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// CannotRun returns why VPP tests with the cloudnat plugin cannot run here,
// or "".
func CannotRun() string {
	if r := CannotRunVPP(); r != "" {
		return r
	}
	if _, err := Environment(); err != nil {
		return err.Error()
	}
	return ""
}

// CannotRunVPP returns why VPP itself cannot run here (ignoring the cloudnat
// plugin), or "".
func CannotRunVPP() string {
	if os.Geteuid() != 0 {
		return "not root (VPP needs root)"
	}
	e, err := Environment()
	if err == nil {
		return ""
	}
	if e == nil && envPartial != nil && envPartial.VPPBin != "" {
		return ""
	}
	return err.Error()
}
