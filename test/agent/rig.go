// Package agenttest holds the VPP-in-the-loop tests of the cloudnat agent
// (its _test files drive the cloudnat-agent binary over gRPC against a
// private VPP with the cloudnat plugin) and the helpers they share with the
// VPP dataplane's own VPP-in-the-loop tests
// (agent/internal/dataplane/vpp/vpptest):
//
//   - Rig: a private VPP (test/vppharness) behind stable socket paths that
//     survive a VPP restart, as /run/vpp/api.sock does;
//   - Agent: the cloudnat-agent binary, built once, run as a process;
//   - Counter: an independent binary-API client that counts what VPP holds.
//
// Without VPP, the plugin or root, the test packages print one line and
// pass (vppharness.Main).
package agenttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.fd.io/govpp/adapter/socketclient"
	"go.fd.io/govpp/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cloudnat/cloudnat/binapi/cloudnat"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
	"github.com/cloudnat/cloudnat/test/agentproc"
	"github.com/cloudnat/cloudnat/test/vppharness"
)

// Rig is a private VPP behind stable socket paths: APISock and StatsSock
// are symlinks that Restart points at the new VPP's sockets, so that an
// agent configured with them finds a restarted VPP where it looks.
type Rig struct {
	tb                 testing.TB
	Dir                string
	APISock, StatsSock string
	VPP                *vppharness.VPP
	// Setup runs on every new VPP (interfaces, tables) before the sockets
	// are switched to it.
	Setup func(v *vppharness.VPP)
	// KilledAt is when Kill sent SIGKILL; UpAt when the current VPP
	// answered its CLI and the sockets pointed at it.
	KilledAt, UpAt time.Time
}

// NewRig starts a VPP. setup may be nil.
func NewRig(tb testing.TB, setup func(v *vppharness.VPP)) *Rig {
	tb.Helper()
	// Short: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "cnagent-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	r := &Rig{tb: tb, Dir: dir, APISock: filepath.Join(dir, "api.sock"), StatsSock: filepath.Join(dir, "stats.sock"), Setup: setup}
	r.Start()
	return r
}

func relink(target, link string) error {
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// Start starts a new VPP and points the sockets at it.
func (r *Rig) Start() {
	r.tb.Helper()
	v := vppharness.Start(r.tb, vppharness.Options{})
	if r.Setup != nil {
		r.Setup(v)
	}
	for _, l := range [][2]string{{v.APISock, r.APISock}, {v.StatsSock, r.StatsSock}} {
		if err := relink(l[0], l[1]); err != nil {
			r.tb.Fatal(err)
		}
	}
	r.VPP = v
	r.UpAt = time.Now()
}

// Kill SIGKILLs VPP: a crash, not a shutdown.
func (r *Rig) Kill() {
	r.tb.Helper()
	pid, err := PidOf(r.VPP.StartupF)
	if err != nil {
		r.tb.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		r.tb.Fatal(err)
	}
	r.KilledAt = time.Now()
	_ = r.VPP.Stop() // reaps it; the harness then does not report a crash
}

// Restart kills VPP and starts a new, empty one on the same paths.
func (r *Rig) Restart() {
	r.tb.Helper()
	r.Kill()
	r.Start()
}

// PidOf finds the process running "vpp -c startup".
func PidOf(startup string) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-c" && args[i+1] == startup {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process runs vpp -c %s", startup)
}

// Context is a context for one test, cancelled at its end.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// ---------------------------------------------------------------- counter

var quietOnce sync.Once

func quietGovpp() {
	quietOnce.Do(func() {
		l := logrus.New()
		l.SetLevel(logrus.ErrorLevel)
		core.SetLogger(l)
		socketclient.SetLogger(l)
	})
}

// CountTranslations connects to the rig's current VPP (its own socket,
// not the link) and counts the translations it holds.
func (r *Rig) CountTranslations(ctx context.Context) (int, error) {
	quietGovpp()
	c := socketclient.NewVppClient(r.VPP.APISock)
	c.SetClientName("cloudnat-test-counter")
	conn, err := core.Connect(c)
	if err != nil {
		return 0, err
	}
	defer conn.Disconnect()
	st, err := cloudnat.NewServiceClient(conn).CloudnatTranslationDump(ctx, &cloudnat.CloudnatTranslationDump{})
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		_, err := st.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// Counter is a connection to the rig's current VPP that reads the
// plugin's translation count (cloudnat_get_status: cheap, unlike a dump,
// so polling it does not slow down what it measures).
type Counter struct {
	conn *core.Connection
	cn   cloudnat.RPCService
}

// NewCounter connects to the current VPP's own API socket.
func (r *Rig) NewCounter() (*Counter, error) {
	quietGovpp()
	c := socketclient.NewVppClient(r.VPP.APISock)
	c.SetClientName("cloudnat-test-counter")
	conn, err := core.Connect(c)
	if err != nil {
		return nil, err
	}
	return &Counter{conn: conn, cn: cloudnat.NewServiceClient(conn)}, nil
}

// Translations is the plugin's n_translations.
func (c *Counter) Translations(ctx context.Context) (int, error) {
	st, err := c.cn.CloudnatGetStatus(ctx, &cloudnat.CloudnatGetStatus{})
	if err != nil {
		return 0, err
	}
	return int(st.NTranslations), nil
}

// Close disconnects.
func (c *Counter) Close() { c.conn.Disconnect() }

// WaitTranslations polls until VPP holds want translations and returns
// when that was first seen.
func (r *Rig) WaitTranslations(ctx context.Context, want int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var last int
	var lastErr error
	var c *Counter
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for time.Now().Before(deadline) {
		if c == nil {
			if c, lastErr = r.NewCounter(); lastErr != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := c.Translations(cctx)
		cancel()
		now := time.Now()
		if err == nil && n == want {
			// The count says how many; a dump confirms they are there.
			if got, err := r.CountTranslations(ctx); err != nil || got != want {
				return time.Time{}, fmt.Errorf("get_status says %d translations, the dump %d (%v)", n, got, err)
			}
			return now, nil
		}
		last, lastErr = n, err
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("VPP holds %d translations (last error: %v), want %d, after %v", last, lastErr, want, timeout)
}

// ---------------------------------------------------------------- agent

var (
	buildOnce sync.Once
	agentBin  string
	buildErr  error
)

// AgentBinary builds cloudnat-agent once per test process, into
// build/test/ of the repository (git-ignored, reused by go's build cache).
func AgentBinary() (string, error) {
	buildOnce.Do(func() {
		root, err := vppharness.RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		agentBin = filepath.Join(root, "build", "test", "cloudnat-agent")
		cmd := exec.Command("go", "build", "-o", agentBin, "./agent/cmd/cloudnat-agent")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./agent/cmd/cloudnat-agent: %v\n%s", err, out)
		}
	})
	return agentBin, buildErr
}

// Agent is a running cloudnat-agent process with gRPC clients.
type Agent struct {
	tb      testing.TB
	cmd     *exec.Cmd
	exited  chan struct{}
	LogFile string
	Sock    string
	Conn    *grpc.ClientConn
	Tr      pb.TranslationServiceClient
	SNAT    pb.SNATServiceClient
	Sess    pb.SessionServiceClient
	Ifs     pb.InterfaceServiceClient
	Status  pb.StatusServiceClient
	stopped bool
}

var agentSeq int

// StartAgent runs cloudnat-agent with the VPP dataplane on the rig's
// sockets and the given state file, and waits until its gRPC API answers.
func StartAgent(tb testing.TB, r *Rig, statePath string) *Agent {
	tb.Helper()
	bin, err := AgentBinary()
	if err != nil {
		tb.Fatal(err)
	}
	agentSeq++
	a := &Agent{
		tb:      tb,
		exited:  make(chan struct{}),
		LogFile: filepath.Join(r.Dir, fmt.Sprintf("agent-%d.log", agentSeq)),
		Sock:    filepath.Join(r.Dir, fmt.Sprintf("agent-%d.sock", agentSeq)),
	}
	logf, err := os.Create(a.LogFile)
	if err != nil {
		tb.Fatal(err)
	}
	args := []string{
		"--dataplane", "vpp",
		"--vpp.api_socket", r.APISock,
		"--vpp.stats_socket", r.StatsSock,
		"--grpc.listen", "unix://" + a.Sock,
		"--state.path", statePath,
		"--log.level", "debug",
	}
	// The agent writes this marker beside its first state (store.Marker).
	if _, err := os.Stat(statePath + ".initialized"); err != nil {
		args = append(args, "--init") // a first start on this state file
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); logf.Close(); close(a.exited) }()
	tb.Cleanup(func() {
		a.Stop()
		if tb.Failed() {
			tb.Logf("agent log (%s):\n%s", a.LogFile, a.LogTail(60))
		}
	})

	a.Conn, err = grpc.NewClient("unix://"+a.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	a.Tr = pb.NewTranslationServiceClient(a.Conn)
	a.SNAT = pb.NewSNATServiceClient(a.Conn)
	a.Sess = pb.NewSessionServiceClient(a.Conn)
	a.Ifs = pb.NewInterfaceServiceClient(a.Conn)
	a.Status = pb.NewStatusServiceClient(a.Conn)

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-a.exited:
			tb.Fatalf("agent exited at start:\n%s", a.LogTail(40))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := a.Status.GetStatus(ctx, &pb.GetStatusRequest{})
		cancel()
		if err == nil {
			return a
		}
		if time.Now().After(deadline) {
			tb.Fatalf("agent gRPC API not answering: %v\n%s", err, a.LogTail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitConnected waits until the agent reports VPP connected and nothing
// pending or failed.
func (a *Agent) WaitConnected(timeout time.Duration) *pb.GetStatusResponse {
	a.tb.Helper()
	deadline := time.Now().Add(timeout)
	var last *pb.GetStatusResponse
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last, lastErr = a.Status.GetStatus(ctx, &pb.GetStatusRequest{})
		cancel()
		if lastErr == nil && last.GetDataplane().GetConnected() && len(last.GetItems()) == 0 && last.GetLastFullSync() != nil {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.tb.Fatalf("agent not connected and in sync after %v: %v %v\n%s", timeout, last, lastErr, a.LogTail(40))
	return nil
}

// Stop sends SIGTERM and waits (SIGKILL after 10 s).
func (a *Agent) Stop() {
	if a.stopped {
		return
	}
	a.stopped = true
	if a.Conn != nil {
		_ = a.Conn.Close()
	}
	agentproc.Terminate(a.cmd.Process, a.exited, 10*time.Second)
}

// Kill SIGKILLs the agent.
func (a *Agent) Kill() {
	if a.stopped {
		return
	}
	a.stopped = true
	if a.Conn != nil {
		_ = a.Conn.Close()
	}
	_ = a.cmd.Process.Kill()
	<-a.exited
}

// LogTail is the end of the agent's log.
func (a *Agent) LogTail(n int) string {
	b, err := os.ReadFile(a.LogFile)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SeedState writes an agent state file holding n translations of b
// backends each (VIPs 30.x.y.z port 80 TCP, backends 20.j.y.z:8080), as
// the agent's store writes it (format version 1: {"version":1,"desired":
// model.Desired}), for intents too large to create one gRPC call at a
// time. The agent refuses a file it cannot read, so a format change shows
// up as a failing test, not as a silent difference.
func SeedState(path string, n, b int) error {
	type backend struct {
		SrcAddr string
		SrcPort uint16
		DstAddr string
		DstPort uint16
	}
	type key struct {
		VRF   uint32
		VIP   string
		Port  uint16
		Proto uint8
	}
	type translation struct {
		Key        key
		Kind       uint8
		LB         uint8
		HashFields uint8
		MaglevLen  uint32
		Backends   []backend
	}
	ts := make([]translation, n)
	for i := range ts {
		ts[i] = translation{Key: key{VIP: fmt.Sprintf("30.%d.%d.%d", byte(i>>16), byte(i>>8), byte(i)), Port: 80, Proto: 6}}
		for j := 0; j < b; j++ {
			ts[i].Backends = append(ts[i].Backends, backend{DstAddr: fmt.Sprintf("20.%d.%d.%d", byte(j), byte(i>>8), byte(i)), DstPort: 8080})
		}
	}
	data, err := json.Marshal(map[string]any{"version": 1, "desired": map[string]any{"Translations": ts}})
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
