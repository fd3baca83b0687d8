// Command cloudnatctl is the command-line client of cloudnat-agent's gRPC
// API. Its verbs mirror vppctl's "cnat" commands.
//
// Exit status: 0 success, 1 the agent refused or failed the request (its
// message is printed), 2 usage error.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cloudnat/cloudnat/agent/internal/version"
)

// runError is a failure after the command line was understood (exit 1).
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

func fail(err error) error { return runError{err} }

// usagef is a command-line error (exit 2).
func usagef(format string, args ...any) error { return fmt.Errorf(format, args...) }

// app holds the global flags and the connection.
type app struct {
	addr, token            string
	tlsCA, tlsCert, tlsKey string
	output                 string
	timeout                time.Duration
	stdout, stderr         io.Writer
	conn                   *grpc.ClientConn
	dial                   func(a *app) (*grpc.ClientConn, error) // tests replace it
}

func main() {
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(a.run(os.Args[1:]))
}

// run executes a command line and returns the exit status.
func (a *app) run(args []string) int {
	root := a.rootCmd()
	root.SetArgs(globalAddr(args))
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.Execute()
	if a.conn != nil {
		a.conn.Close()
	}
	if err == nil {
		return 0
	}
	var re runError
	if errors.As(err, &re) {
		fmt.Fprintln(a.stderr, "cloudnatctl:", a.message(re.err))
		return 1
	}
	fmt.Fprintln(a.stderr, "cloudnatctl:", err)
	fmt.Fprintln(a.stderr, "Run 'cloudnatctl --help' for usage.")
	return 2
}

// message is the gRPC status message (not the "rpc error: code = ..."
// decoration), with a hint when the agent cannot be reached.
func (a *app) message(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	if st.Code() == codes.Unavailable && strings.Contains(st.Message(), "dial") {
		return fmt.Sprintf("%s (is cloudnat-agent running at %s?)", st.Message(), a.addr)
	}
	return st.Message()
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cloudnatctl",
		Short: "Control cloudnat-agent (translations, source NAT, pools, sessions, limits)",
		Long: "cloudnatctl talks to cloudnat-agent over gRPC. Its verbs mirror vppctl's cnat commands.\n" +
			"Environment: CLOUDNAT_ADDR and CLOUDNAT_TOKEN give --addr and --token defaults.",
		Version:           version.String(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.checkGlobals() },
	}
	root.SetVersionTemplate(version.Full("cloudnatctl") + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	pf := root.PersistentFlags()
	pf.StringVar(&a.addr, "addr", envOr("CLOUDNAT_ADDR", "unix:///run/cloudnat/agent.sock"), "agent address: unix:///path or host:port")
	// "session list --addr" is a filter; a global --addr before the
	// command is renamed to --agent-addr by globalAddr so both work.
	pf.StringVar(&a.addr, "agent-addr", a.addr, "same as --addr")
	pf.MarkHidden("agent-addr")
	pf.StringVar(&a.token, "token", envOr("CLOUDNAT_TOKEN", ""), "bearer token")
	pf.StringVar(&a.tlsCA, "tls-ca", "", "CA file (PEM) to verify the agent's certificate (enables TLS)")
	pf.StringVar(&a.tlsCert, "tls-cert", "", "client certificate file (PEM) for mTLS (enables TLS)")
	pf.StringVar(&a.tlsKey, "tls-key", "", "client key file (PEM) for mTLS")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "timeout of each call")
	root.AddCommand(a.translationCmd(), a.snatCmd(), a.sessionCmd(), a.timeoutsCmd(), a.limitCmd(), a.interfaceCmd(), a.statusCmd(),
		a.poolCmd(), a.subscriberCmd(), a.blocklogCmd())
	root.AddCommand(a.natgwCommands()...)
	return root
}

func (a *app) checkGlobals() error {
	switch a.output {
	case "table", "json":
	default:
		return usagef("--output: %q is not table or json", a.output)
	}
	if (a.tlsCert == "") != (a.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	return nil
}

// globalAddr renames --addr among the global flags (those before the
// command word) to --agent-addr: a command may have its own --addr
// ("session list --addr <prefix>").
func globalAddr(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		arg := out[i]
		if !strings.HasPrefix(arg, "-") || arg == "--" {
			break // the command word
		}
		switch {
		case arg == "--addr":
			out[i] = "--agent-addr"
		case strings.HasPrefix(arg, "--addr="):
			out[i] = "--agent-addr=" + strings.TrimPrefix(arg, "--addr=")
		}
		switch arg {
		case "-h", "--help", "--version":
			continue
		}
		if !strings.Contains(arg, "=") && !(strings.HasPrefix(arg, "-o") && len(arg) > 2) {
			i++ // the flag's value
		}
	}
	return out
}

// target turns --addr into a gRPC target.
func target(addr string) (string, bool, error) {
	switch {
	case strings.HasPrefix(addr, "unix://"), strings.HasPrefix(addr, "unix:"):
		return addr, true, nil
	case strings.HasPrefix(addr, "/"):
		return "unix://" + addr, true, nil
	case strings.HasPrefix(addr, "tcp://"):
		return "passthrough:///" + strings.TrimPrefix(addr, "tcp://"), false, nil
	case strings.Contains(addr, ":"):
		return "passthrough:///" + addr, false, nil
	}
	return "", false, usagef("--addr: %q is neither unix:///path nor host:port", addr)
}

// tokenCreds sends the bearer token; it is allowed without TLS (unix
// sockets), the agent decides what it accepts.
type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}
func (tokenCreds) RequireTransportSecurity() bool { return false }

func defaultDial(a *app) (*grpc.ClientConn, error) {
	tgt, unix, err := target(a.addr)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20))}
	if a.tlsCA != "" || a.tlsCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if a.tlsCA != "" {
			pem, err := os.ReadFile(a.tlsCA)
			if err != nil {
				return nil, fail(fmt.Errorf("--tls-ca: %w", err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fail(fmt.Errorf("--tls-ca: %s holds no PEM certificate", a.tlsCA))
			}
			tc.RootCAs = pool
		}
		if a.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(a.tlsCert, a.tlsKey)
			if err != nil {
				return nil, fail(fmt.Errorf("--tls-cert/--tls-key: %w", err))
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if unix {
			tc.ServerName = "localhost"
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if a.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds(a.token)))
	}
	conn, err := grpc.NewClient(tgt, opts...)
	if err != nil {
		return nil, fail(fmt.Errorf("connecting to %s: %w", a.addr, err))
	}
	return conn, nil
}

// client returns the connection, dialling on first use.
func (a *app) client() (*grpc.ClientConn, error) {
	if a.conn != nil {
		return a.conn, nil
	}
	dial := a.dial
	if dial == nil {
		dial = defaultDial
	}
	conn, err := dial(a)
	if err != nil {
		return nil, err
	}
	a.conn = conn
	return conn, nil
}

// ctx is a call context with --timeout.
func (a *app) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// call makes one unary RPC, e.g. call(a, cmd, pb.NewXClient, pb.XClient.M, req),
// on the agent connection with --timeout; an RPC error is a run error.
func call[C, Req, Resp any](a *app, cmd *cobra.Command, newClient func(grpc.ClientConnInterface) C,
	method func(C, context.Context, Req, ...grpc.CallOption) (Resp, error), req Req,
) (Resp, error) {
	var zero Resp
	conn, err := a.client()
	if err != nil {
		return zero, err
	}
	ctx, cancel := a.ctx(cmd)
	defer cancel()
	resp, err := method(newClient(conn), ctx, req)
	if err != nil {
		return zero, fail(err)
	}
	return resp, nil
}

// args wraps a cobra positional-argument check so its error is a usage
// error (it is already; kept for clarity).
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}
