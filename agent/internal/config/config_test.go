package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, args []string, env []string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = []string{}
	}
	return Load(fs, env)
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dataplane != "auto" || c.VPPAPISocket != "/run/vpp/api.sock" || c.VPPStatsSocket != "/run/vpp/stats.sock" ||
		c.GRPCNetwork != "unix" || c.GRPCAddress != "/run/cloudnat/agent.sock" || c.StatePath != "/var/lib/cloudnat/state.json" ||
		c.LogLevel != slog.LevelInfo || c.MetricsListen != "" || c.ReconcileInterval != 30*time.Second {
		t.Fatalf("defaults %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	os.WriteFile(file, []byte("dataplane: kernel\nvpp:\n  api_socket: /file/api.sock\nstate:\n  path: /file/state.json\nreconcile:\n  interval: 1m\nlog:\n  level: debug\n"), 0o600)
	c, err := load(t,
		[]string{"--config", file, "--state.path", "/flag/state.json"},
		[]string{"CLOUDNAT_VPP_API_SOCKET=/env/api.sock", "CLOUDNAT_STATE_PATH=/env/state.json", "CLOUDNAT_METRICS_LISTEN=127.0.0.1:9464"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"dataplane from file", c.Dataplane, "kernel"},
		{"env beats file", c.VPPAPISocket, "/env/api.sock"},
		{"flag beats env", c.StatePath, "/flag/state.json"},
		{"env only", c.MetricsListen, "127.0.0.1:9464"},
		{"default", c.VPPStatsSocket, "/run/vpp/stats.sock"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.ReconcileInterval != time.Minute || c.LogLevel != slog.LevelDebug {
		t.Errorf("interval %v level %v", c.ReconcileInterval, c.LogLevel)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad dataplane", []string{"--dataplane", "dpdk"}, nil, `dataplane: "dpdk" is not one of auto, vpp, kernel`},
		{"tcp without auth", []string{"--grpc.listen", "0.0.0.0:7000"}, nil, "refusing TCP address 0.0.0.0:7000 without TLS"},
		{"bad listen", []string{"--grpc.listen", "nonsense"}, nil, `grpc.listen: "nonsense" is neither unix:///path nor host:port`},
		{"half tls", []string{"--grpc.tls.cert", "c.pem"}, nil, "grpc.tls.cert and grpc.tls.key: set both or neither"},
		{"ca without cert", []string{"--grpc.tls.client_ca", "ca.pem"}, nil, "grpc.tls.client_ca needs"},
		{"bad level", nil, []string{"CLOUDNAT_LOG_LEVEL=loud"}, `log.level: "loud" is not one of`},
		{"bad interval", nil, []string{"CLOUDNAT_RECONCILE_INTERVAL=soon"}, "reconcile.interval"},
		{"short interval", []string{"--reconcile.interval", "10ms"}, nil, "reconcile.interval: 10ms is shorter than 1s"},
		{"bad metrics", []string{"--metrics.listen", "9464"}, nil, `metrics.listen: "9464" is not host:port`},
		{"missing file", []string{"--config", "/nonexistent/agent.yaml"}, nil, "reading /nonexistent/agent.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTCPAllowedWithTokenOrTLS(t *testing.T) {
	c, err := load(t, []string{"--grpc.listen", "tcp://127.0.0.1:7000", "--grpc.token", "s3cret"}, nil)
	if err != nil || c.GRPCNetwork != "tcp" || c.GRPCAddress != "127.0.0.1:7000" {
		t.Fatalf("config %+v err %v", c, err)
	}
	if _, err := load(t, []string{"--grpc.listen", "127.0.0.1:7000", "--grpc.tls.cert", "c", "--grpc.tls.key", "k"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestParseListen(t *testing.T) {
	for _, tc := range []struct{ in, network, addr string }{
		{"unix:///run/x.sock", "unix", "/run/x.sock"},
		{"unix:/run/x.sock", "unix", "/run/x.sock"},
		{"unix:x.sock", "unix", "x.sock"},
		{"/run/x.sock", "unix", "/run/x.sock"},
		{"tcp://[::1]:7000", "tcp", "[::1]:7000"},
		{"localhost:7000", "tcp", "localhost:7000"},
	} {
		n, a, err := ParseListen(tc.in)
		if err != nil || n != tc.network || a != tc.addr {
			t.Errorf("ParseListen(%q) = %q, %q, %v", tc.in, n, a, err)
		}
	}
}
