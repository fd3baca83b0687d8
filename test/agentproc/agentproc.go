// Package agentproc runs the real cloudnat-agent binary as a process (in a
// network namespace, on the kernel dataplane) for reliability tests and the
// soak (scripts/soak.sh): start, SIGKILL, restart, and gRPC clients to it.
package agentproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// Build builds cloudnat-agent from the repository at root into
// root/build/test/agentproc/ (once per process; not test/agent's path,
// which another test package may be building at the same time) and
// returns its path.
func Build(root string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[root]; ok {
		return bin, nil
	}
	bin := filepath.Join(root, "build", "test", "agentproc", "cloudnat-agent")
	cmd := exec.Command("go", "build", "-o", bin, "./agent/cmd/cloudnat-agent")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./agent/cmd/cloudnat-agent: %v\n%s", err, out)
	}
	built[root] = bin
	return bin, nil
}

// RepoRoot finds the repository root from the working directory (the
// directory holding go.mod).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Options say how to run the agent.
type Options struct {
	Bin     string
	NetNS   string // named network namespace ("" = the current one)
	State   string // --state.path
	LockDir string // --lock.dir
	Sock    string // gRPC unix socket path
	Log     string // log file (appended)
	Args    []string
}

func (o Options) command() *exec.Cmd {
	args := append([]string{
		"--dataplane", "kernel", "--state.path", o.State, "--lock.dir", o.LockDir,
		"--grpc.listen", "unix://" + o.Sock, "--log.level", "debug",
	}, o.Args...)
	var cmd *exec.Cmd
	if o.NetNS != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", o.NetNS, o.Bin}, args...)...)
	} else {
		cmd = exec.Command(o.Bin, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Proc is a running agent with gRPC clients.
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer // stdout+stderr, also appended to Options.Log
	mu     *sync.Mutex
	Conn   *grpc.ClientConn
	Tr     pb.TranslationServiceClient
	SNAT   pb.SNATServiceClient
	Status pb.StatusServiceClient
}

// lockedWriter serialises writes of stdout and stderr.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Start runs the agent and waits (up to ctx) until its gRPC API answers.
// An agent that exits first is an error carrying its output.
func Start(ctx context.Context, o Options) (*Proc, error) {
	logf, err := os.OpenFile(o.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p := &Proc{cmd: o.command(), exited: make(chan struct{}), out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	w := lockedWriter{mu: p.mu, w: io.MultiWriter(p.out, logf)}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.exited) }()
	// Dial once the socket is there: a failed first dial costs gRPC's
	// reconnect backoff (1 s).
	for {
		if _, err := os.Stat(o.Sock); err == nil {
			break
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("agent exited at start (%v):\n%s", p.cmd.ProcessState, p.Output())
		case <-ctx.Done():
			p.Kill()
			return nil, fmt.Errorf("agent socket %s not there: %w\n%s", o.Sock, ctx.Err(), p.Output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.Conn, err = grpc.NewClient("unix://"+o.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, MaxDelay: 200 * time.Millisecond,
		}, MinConnectTimeout: time.Second}))
	if err != nil {
		p.Kill()
		return nil, err
	}
	p.Tr = pb.NewTranslationServiceClient(p.Conn)
	p.SNAT = pb.NewSNATServiceClient(p.Conn)
	p.Status = pb.NewStatusServiceClient(p.Conn)
	for {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("agent exited at start (%v):\n%s", p.cmd.ProcessState, p.Output())
		default:
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := p.Status.GetStatus(sctx, &pb.GetStatusRequest{})
		cancel()
		if err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			p.Kill()
			return nil, fmt.Errorf("agent API not answering: %v\n%s", err, p.Output())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// Run runs the agent expecting it to exit (a refused start) within
// timeout; it returns the exit code and output. An agent still running at
// the timeout is killed and reported as code -1.
func Run(o Options, timeout time.Duration) (int, string) {
	cmd := o.command()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return -1, err.Error()
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode(), out.String()
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return -1, out.String()
	}
}

// Output is what the agent printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Pid is the agent's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the agent has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Kill SIGKILLs the agent and waits for it; requests in flight fail as
// the connection breaks, later ones on the closed client connection.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	if p.Conn != nil {
		_ = p.Conn.Close()
	}
}

// Stop sends SIGTERM and waits (SIGKILL after 10 s).
func (p *Proc) Stop() {
	if p.Conn != nil {
		_ = p.Conn.Close()
	}
	Terminate(p.cmd.Process, p.exited, 10*time.Second)
}

// Terminate sends proc SIGTERM and waits until exited is closed; after
// grace it sends SIGKILL (and says so).
func Terminate(proc *os.Process, exited <-chan struct{}, grace time.Duration) (killed bool) {
	_ = proc.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return false
	case <-time.After(grace):
		_ = proc.Kill()
		<-exited
		return true
	}
}

// NFT lists the kernel dataplane's table in namespace ns ("" when it does
// not exist).
func NFT(ns, table string) string {
	args := []string{"nft", "list", "table", "inet", table}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// DeleteTable deletes the kernel dataplane's table in ns (tampering).
func DeleteTable(ns, table string) error {
	args := []string{"nft", "delete", "table", "inet", table}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
