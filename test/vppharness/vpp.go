package vppharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.fd.io/govpp/adapter/socketclient"
	"go.fd.io/govpp/binapi/vlib"
	"go.fd.io/govpp/core"

	"github.com/cloudnat/cloudnat/test/agentproc"
)

// DefaultPlugins are the plugins enabled besides "plugin default { disable }".
// VPP's own cnat_plugin.so stays disabled: cloudnat refuses to run beside it.
var DefaultPlugins = []string{"cloudnat_plugin.so", "ping_plugin.so", "af_packet_plugin.so"}

// Options tune one VPP instance.
type Options struct {
	// Plugins to enable; nil means DefaultPlugins.
	Plugins []string
	// ExtraPlugins are enabled in addition to Plugins (e.g. "tap_plugin.so").
	ExtraPlugins []string
	// ExtraStartup is appended verbatim to startup.conf.
	ExtraStartup string
	// StartTimeout bounds the wait for the CLI and API sockets (default 30 s).
	StartTimeout time.Duration
}

// VPP is one private VPP process.
type VPP struct {
	Env *Env
	// Dir is the private runtime directory (sockets, logs, pcaps).
	Dir                                   string
	CLISock, APISock, StatsSock, StartupF string
	// OutFile collects VPP's stdout and stderr (its log, with nosyslog).
	OutFile string
	Prefix  string

	cmd      *exec.Cmd
	outF     *os.File
	exited   chan struct{}
	waitErr  error
	stopping atomic.Bool

	mu   sync.Mutex
	conn *core.Connection

	seq    atomic.Int64
	pgs    []*PG
	tables map[uint32]bool
	t      testing.TB
}

var instance atomic.Int64

func init() {
	// govpp logs connection chatter at info level.
	l := logrus.New()
	l.SetLevel(logrus.WarnLevel)
	core.SetLogger(l)
	socketclient.SetLogger(l)
}

// Start starts a private VPP for the test and registers its cleanup: VPP is
// stopped when the test ends, and its log is kept and shown when the test
// failed. Start fails the test (t.Fatal) when VPP does not come up.
func Start(t testing.TB, opts Options) *VPP {
	t.Helper()
	ctx := context.Background()
	v, err := StartProcess(ctx, opts)
	if err != nil {
		t.Fatalf("start VPP: %v", err)
	}
	v.t = t
	t.Cleanup(func() { v.cleanup(t) })
	return v
}

// StartProcess starts VPP and waits until its CLI answers. The caller must
// call Stop. When VPP starts but does not come up, StartProcess returns the
// stopped VPP (for its Log) with the error, which has the tail of VPP's
// output; the run directory is kept.
func StartProcess(ctx context.Context, opts Options) (*VPP, error) {
	env, err := VPPEnvironment()
	if err != nil {
		return nil, err
	}
	if env.CloudnatPluginDir == "" && slices.Contains(opts.plugins(), "cloudnat_plugin.so") {
		_, err := Environment()
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vppharness-")
	if err != nil {
		return nil, fmt.Errorf("make run dir: %w", err)
	}
	v := &VPP{
		Env:       env,
		Dir:       dir,
		CLISock:   filepath.Join(dir, "cli.sock"),
		APISock:   filepath.Join(dir, "api.sock"),
		StatsSock: filepath.Join(dir, "stats.sock"),
		StartupF:  filepath.Join(dir, "startup.conf"),
		OutFile:   filepath.Join(dir, "vpp.out"),
		Prefix:    fmt.Sprintf("vh%d-%d", os.Getpid(), instance.Add(1)),
		exited:    make(chan struct{}),
		tables:    map[uint32]bool{0: true},
	}
	if err := os.WriteFile(v.StartupF, []byte(v.startupConf(opts)), 0o644); err != nil {
		return nil, fmt.Errorf("write startup.conf: %w", err)
	}
	v.outF, err = os.Create(v.OutFile)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", v.OutFile, err)
	}
	v.cmd = exec.Command(env.VPPBin, "-c", v.StartupF)
	v.cmd.Stdout = v.outF
	v.cmd.Stderr = v.outF
	v.cmd.Dir = dir
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := v.cmd.Start(); err != nil {
		v.outF.Close()
		return nil, fmt.Errorf("exec %s: %w", env.VPPBin, err)
	}
	go func() {
		v.waitErr = v.cmd.Wait()
		close(v.exited)
	}()

	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := v.waitUp(sctx); err != nil {
		_ = v.Stop()
		return v, fmt.Errorf("%w\n--- VPP output (%s) ---\n%s", err, v.Dir, v.LogTail(60))
	}
	return v, nil
}

func (v *VPP) startupConf(opts Options) string {
	path := v.Env.VPPPluginDir
	if v.Env.CloudnatPluginDir != "" {
		path += ":" + v.Env.CloudnatPluginDir
	}
	var pl strings.Builder
	for _, p := range opts.plugins() {
		fmt.Fprintf(&pl, "  plugin %s { enable }\n", p)
	}
	return fmt.Sprintf(`unix {
  nodaemon
  nosyslog
  nocolor
  cli-listen %s
  cli-no-pager
  log %s
  poll-sleep-usec 100
}
api-segment { prefix %s }
socksvr { socket-name %s }
statseg { socket-name %s size 32M page-size 4k }
memory { main-heap-size 512M main-heap-page-size 4k }
buffers { buffers-per-numa 16384 page-size 4k }
logging { default-log-level info default-syslog-log-level notice }
plugins {
  path %s
  plugin default { disable }
%s}
%s
`, v.CLISock, filepath.Join(v.Dir, "cli.log"), v.Prefix, v.APISock, v.StatsSock,
		path, pl.String(), opts.ExtraStartup)
}

func (o Options) plugins() []string {
	plugins := o.Plugins
	if plugins == nil {
		plugins = DefaultPlugins
	}
	return append(append([]string{}, plugins...), o.ExtraPlugins...)
}

// ErrExited is returned when VPP is gone.
var ErrExited = errors.New("VPP exited")

func (v *VPP) waitUp(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-v.exited:
			return fmt.Errorf("%w during startup: %v", ErrExited, v.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("VPP did not open %s and %s: %w", v.CLISock, v.APISock, ctx.Err())
		case <-tick.C:
		}
		if !isSocket(v.CLISock) || !isSocket(v.APISock) {
			continue
		}
		conn, err := connectAPI(v.APISock)
		if err != nil {
			continue
		}
		v.mu.Lock()
		v.conn = conn
		v.mu.Unlock()
		if _, err := v.CLIContext(ctx, "show version"); err != nil {
			return fmt.Errorf("first CLI command: %w", err)
		}
		return nil
	}
}

func connectAPI(sock string) (*core.Connection, error) {
	c := socketclient.NewVppClient(sock)
	c.SetConnectTimeout(2 * time.Second)
	c.SetDisconnectTimeout(time.Second)
	conn, err := core.Connect(c)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", sock, err)
	}
	return conn, nil
}

func isSocket(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&os.ModeSocket != 0
}

// Exited reports whether the VPP process has ended.
func (v *VPP) Exited() bool {
	select {
	case <-v.exited:
		return true
	default:
		return false
	}
}

// Wait waits for VPP to exit on its own, up to ctx, and returns its exit error.
func (v *VPP) Wait(ctx context.Context) error {
	select {
	case <-v.exited:
		return v.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CLIDefaultTimeout bounds one CLI command.
var CLIDefaultTimeout = 30 * time.Second

// CLI runs one VPP CLI command through the binary API's cli_inband and returns
// its output. A command VPP rejects (retval != 0) returns an error holding
// VPP's message.
func (v *VPP) CLI(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CLIDefaultTimeout)
	defer cancel()
	return v.CLIContext(ctx, cmd)
}

// CLIContext is CLI bounded by ctx.
func (v *VPP) CLIContext(ctx context.Context, cmd string) (string, error) {
	if v.Exited() {
		return "", fmt.Errorf("cli %q: %w (%v)", cmd, ErrExited, v.waitErr)
	}
	v.mu.Lock()
	conn := v.conn
	v.mu.Unlock()
	if conn == nil {
		return v.VppCtl(ctx, cmd)
	}
	stream, err := conn.NewStream(ctx, core.WithReplyTimeout(CLIDefaultTimeout))
	if err != nil {
		return "", fmt.Errorf("cli %q: new stream: %w", cmd, err)
	}
	defer func() { _ = stream.Close() }()
	if err := stream.SendMsg(&vlib.CliInband{Cmd: cmd}); err != nil {
		return "", fmt.Errorf("cli %q: send: %w", cmd, err)
	}
	msg, err := stream.RecvMsg()
	if err != nil {
		if v.Exited() {
			return "", fmt.Errorf("cli %q: %w (%v)", cmd, ErrExited, v.waitErr)
		}
		return "", fmt.Errorf("cli %q: receive: %w", cmd, err)
	}
	reply, ok := msg.(*vlib.CliInbandReply)
	if !ok {
		return "", fmt.Errorf("cli %q: unexpected reply %T", cmd, msg)
	}
	if reply.Retval != 0 {
		return reply.Reply, fmt.Errorf("cli %q: retval %d: %s", cmd, reply.Retval, strings.TrimSpace(reply.Reply))
	}
	return reply.Reply, nil
}

// VppCtl runs one command with the vppctl binary against the CLI socket.
// vppctl does not report VPP's CLI errors in its exit status.
func (v *VPP) VppCtl(ctx context.Context, cmd string) (string, error) {
	c := exec.CommandContext(ctx, v.Env.VppctlBin, "-s", v.CLISock, cmd)
	var out bytes.Buffer
	c.Stdout = &out
	c.Stderr = &out
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("vppctl %q: %w: %s", cmd, err, out.String())
	}
	return out.String(), nil
}

// MustCLI runs a command and fails the test if VPP rejects it.
func (v *VPP) MustCLI(t testing.TB, cmd string) string {
	t.Helper()
	out, err := v.CLI(cmd)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// CLIf is MustCLI with a format.
func (v *VPP) CLIf(t testing.TB, format string, args ...any) string {
	t.Helper()
	return v.MustCLI(t, fmt.Sprintf(format, args...))
}

// Stop stops VPP: SIGTERM, then SIGKILL after 5 s. It removes the
// API segment's shared-memory files. It does not remove Dir.
func (v *VPP) Stop() error {
	var err error
	v.end(func() {
		if agentproc.Terminate(v.cmd.Process, v.exited, 5*time.Second) {
			err = errors.New("VPP ignored SIGTERM for 5 s; killed")
		}
	})
	return err
}

// end disconnects the API, ends the process with stop (when it runs) and
// removes what VPP leaves behind (its output file, shared memory).
func (v *VPP) end(stop func()) {
	v.stopping.Store(true)
	v.mu.Lock()
	conn := v.conn
	v.conn = nil
	v.mu.Unlock()
	if conn != nil {
		conn.Disconnect()
	}
	if v.cmd != nil && v.cmd.Process != nil && !v.Exited() {
		stop()
	}
	if v.outF != nil {
		v.outF.Close()
	}
	if matches, _ := filepath.Glob("/dev/shm/" + v.Prefix + "-*"); len(matches) > 0 {
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
}

// Kill SIGKILLs VPP (a crash, for chaos tests) and waits for it to exit;
// what it leaves behind is removed as Stop does.
func (v *VPP) Kill() {
	v.end(func() {
		_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
		<-v.exited
	})
}

func (v *VPP) cleanup(t testing.TB) {
	crashed := v.Exited() && !v.stopping.Load()
	if crashed {
		t.Errorf("VPP exited during the test (%v); output:\n%s", v.waitErr, v.LogTail(80))
	}
	if err := v.Stop(); err != nil {
		t.Errorf("stop VPP: %v", err)
	}
	if t.Failed() || os.Getenv("VPPHARNESS_KEEP") != "" {
		if !crashed {
			t.Logf("VPP output tail:\n%s", v.LogTail(15))
		}
		t.Logf("VPP run directory kept: %s (startup.conf, vpp.out, pcaps)", v.Dir)
		return
	}
	_ = os.RemoveAll(v.Dir)
}

// LogTail returns the last n lines of VPP's output.
func (v *VPP) LogTail(n int) string {
	b, err := os.ReadFile(v.OutFile)
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Log returns VPP's whole output so far.
func (v *VPP) Log() string {
	b, _ := os.ReadFile(v.OutFile)
	return string(b)
}

// path returns a fresh file name in the run directory.
func (v *VPP) path(format string, args ...any) string {
	return filepath.Join(v.Dir, fmt.Sprintf("%04d-", v.seq.Add(1))+fmt.Sprintf(format, args...))
}

// ensureTable creates FIB table id for both families once.
func (v *VPP) ensureTable(t testing.TB, id uint32) {
	t.Helper()
	if v.tables[id] {
		return
	}
	v.CLIf(t, "ip table add %d", id)
	v.CLIf(t, "ip6 table add %d", id)
	v.tables[id] = true
}

// Table ensures FIB table id exists in both families.
func (v *VPP) Table(t testing.TB, id uint32) { v.ensureTable(t, id) }

// Conn is the binary-API connection (govpp), for tests that use generated
// bindings (binapi/...). It is nil after Stop.
func (v *VPP) Conn() *core.Connection {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.conn
}
