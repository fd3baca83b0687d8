package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/reconcile"
	"github.com/cloudnat/cloudnat/agent/internal/server"
	"github.com/cloudnat/cloudnat/agent/internal/store"
	pb "github.com/cloudnat/cloudnat/proto/cloudnat/v1"
)

func TestParseBackend(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *pb.Backend
		err  string
	}{
		{in: "->20.0.0.1:8080", want: &pb.Backend{DstAddr: "20.0.0.1", DstPort: 8080}},
		{in: "->20.0.0.1", want: &pb.Backend{DstAddr: "20.0.0.1"}},
		{in: "1.2.3.4->20.0.0.2:8080", want: &pb.Backend{SrcAddr: "1.2.3.4", DstAddr: "20.0.0.2", DstPort: 8080}},
		{in: "1.2.3.4:5555->[20::1]:8080", want: &pb.Backend{SrcAddr: "1.2.3.4", SrcPort: 5555, DstAddr: "20::1", DstPort: 8080}},
		{in: "[2001:db8::5]:99->2001:db8::1", want: &pb.Backend{SrcAddr: "2001:db8::5", SrcPort: 99, DstAddr: "2001:db8::1"}},
		{in: ":5555->20.0.0.1", want: &pb.Backend{SrcPort: 5555, DstAddr: "20.0.0.1"}},
		{in: "[20::1]->[20::2]", want: &pb.Backend{SrcAddr: "20::1", DstAddr: "20::2"}},
		{in: "20.0.0.1:8080", err: "want [src[:port]]->dst[:port]"},
		{in: "->", err: "a destination address is required"},
		{in: "->:80", err: "a destination address is required"},
		{in: "->20.0.0.1:0", err: `"0" is not a port`},
		{in: "->20.0.0.1:70000", err: `"70000" is not a port`},
		{in: "->[20::1", err: "missing ]"},
		{in: "->[20::1]8080", err: "want [address]:port"},
		{in: "x->20.0.0.1", err: `source "x": "x" is not an IP address`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseBackend(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want.String() {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			// Round trip.
			again, err := parseBackend(backendString(got))
			if err != nil || again.String() != got.String() {
				t.Fatalf("round trip %q: %v %v", backendString(got), again, err)
			}
		})
	}
}

func TestParseHashAndProto(t *testing.T) {
	h, err := parseHash([]string{"src-addr,dst-port", "proto"})
	if err != nil || !slices.Equal(h, []pb.HashField{pb.HashField_HASH_FIELD_SRC_ADDR, pb.HashField_HASH_FIELD_DST_PORT, pb.HashField_HASH_FIELD_PROTO}) {
		t.Fatalf("hash %v %v", h, err)
	}
	if _, err := parseHash([]string{"src-mac"}); err == nil || !strings.Contains(err.Error(), `"src-mac" is not one of`) {
		t.Fatalf("err %v", err)
	}
	for in, want := range map[string]pb.Protocol{"TCP": pb.Protocol_PROTOCOL_TCP, "udp": pb.Protocol_PROTOCOL_UDP, "icmp": pb.Protocol_PROTOCOL_ICMP, "icmp6": pb.Protocol_PROTOCOL_ICMPV6} {
		if p, err := parseProto(in); err != nil || p != want {
			t.Errorf("parseProto(%q) = %v, %v", in, p, err)
		}
	}
	if _, err := parseProto("sctp"); err == nil {
		t.Error("sctp accepted")
	}
}

func TestGlobalAddr(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"--addr", "unix:///x", "session", "list", "--addr", "10.0.0.0/8"}, []string{"--agent-addr", "unix:///x", "session", "list", "--addr", "10.0.0.0/8"}},
		{[]string{"--addr=unix:///x", "-o", "json", "status"}, []string{"--agent-addr=unix:///x", "-o", "json", "status"}},
		{[]string{"--token", "--addr", "status"}, []string{"--token", "--addr", "status"}}, // "--addr" is the token's value
		{[]string{"-ojson", "--addr", "a:1", "status"}, []string{"-ojson", "--agent-addr", "a:1", "status"}},
		{[]string{"status", "--addr", "a:1"}, []string{"status", "--addr", "a:1"}},
	} {
		if got := globalAddr(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("globalAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// agent runs an in-process agent on a fake dataplane.
func agent(t *testing.T) (*fakedp.DP, func(args ...string) (int, string, string)) {
	t.Helper()
	dp := fakedp.New()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec := reconcile.New(dp, st, reconcile.Options{})
	if err := rec.SyncAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, _ := server.NewGRPC(server.New(server.Config{Store: st, Reconciler: rec, Dataplane: dp, DataplaneKind: "fake", SelectedBy: "config", Version: "test"}), server.GRPCOptions{Token: "tok"})
	lis := bufconn.Listen(1 << 20)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		a := &app{stdout: &out, stderr: &errb, dial: func(a *app) (*grpc.ClientConn, error) {
			opts := []grpc.DialOption{
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
			}
			if a.token != "" {
				opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds(a.token)))
			}
			return grpc.NewClient("passthrough:///bufnet", opts...)
		}}
		code := a.run(args)
		return code, out.String(), errb.String()
	}
	return dp, run
}

func TestCommands(t *testing.T) {
	dp, run := agent(t)
	dp.AddSession(model.Session{Proto: model.ProtoTCP, Src: netip.MustParseAddrPort("10.0.0.1:1234"), Dst: netip.MustParseAddrPort("30.0.0.2:80"),
		NewSrc: netip.MustParseAddrPort("10.0.0.1:1234"), NewDst: netip.MustParseAddrPort("20.0.0.1:8080"), ExpiresIn: time.Minute})
	dp.SetInterfaces([]model.Interface{{Name: "tap0", Up: true}})
	tok := []string{"--token", "tok"}
	for _, tc := range []struct {
		args       []string
		code       int
		out, err   string // substrings
		noToken    bool
		jsonOutput bool
	}{
		{args: []string{"translation", "add", "--proto", "tcp", "--vip", "30.0.0.2", "--port", "80", "--lb", "maglev", "--hash", "src-addr,dst-port",
			"--to", "->20.0.0.1:8080", "--to", "1.2.3.4->20.0.0.2:8080"}, out: "1.2.3.4->20.0.0.2:8080"},
		{args: []string{"translation", "add", "--proto", "tcp", "--vip", "30.0.0.2", "--port", "80", "--to", "->20.0.0.1:8080"}, out: "synced"},
		{args: []string{"translation", "update", "--proto", "udp", "--vip", "30.0.0.2", "--port", "53", "--to", "->20.0.0.1"}, code: 1, err: "cloudnatctl: translation vrf 0 udp 30.0.0.2:53 not found\n"},
		{args: []string{"translation", "add", "--proto", "tcp", "--vip", "30.0.0.2", "--port", "81", "--to", "->[20::1]:8080"}, code: 1,
			err: "cloudnatctl: translation.backends[0].dst_addr: address family IPv6 does not match vip 30.0.0.2\n"},
		{args: []string{"translation", "add", "--proto", "tcp", "--vip", "30.0.0.2", "--port", "81"}, code: 2, err: "at least one --to is required"},
		{args: []string{"translation", "add", "--proto", "sctp", "--vip", "30.0.0.2", "--port", "81", "--to", "->1.1.1.1"}, code: 2, err: "--proto: \"sctp\" is not tcp, udp or icmp"},
		{args: []string{"translation", "add", "--bogus"}, code: 2, err: "unknown flag: --bogus"},
		{args: []string{"translation", "list"}, out: "30.0.0.2:80"},
		{args: []string{"translation", "get", "--proto", "tcp", "--vip", "30.0.0.2", "--port", "80"}, out: "->20.0.0.1:8080"},
		{args: []string{"-o", "json", "translation", "list"}, out: `"vip": "30.0.0.2"`, jsonOutput: true},
		{args: []string{"translation", "del", "--proto", "tcp", "--vip", "30.0.0.2", "--port", "80"}, out: "deleted"},
		{args: []string{"translation", "del", "--proto", "tcp", "--vip", "30.0.0.2", "--port", "80"}, code: 1, err: "not found"},
		{args: []string{"snat", "set", "1.1.1.1", "2001:db8::1"}, out: "vrf 0: 2 SNAT address(es) (synced)"},
		{args: []string{"snat", "set"}, code: 2, err: "give the pool's addresses"},
		{args: []string{"snat", "set", "--vrf", "3", "300.1.1.1"}, code: 1, err: `addrs[0]: "300.1.1.1" is not an IP address`},
		{args: []string{"snat", "exclude", "10.0.0.0/8"}, out: "excluded"},
		{args: []string{"snat", "exclude", "--del", "10.0.0.0/8"}, out: "exclusion removed"},
		{args: []string{"snat", "exclude"}, code: 2, err: "want one prefix"},
		{args: []string{"snat", "enable", "tap0"}, out: "enabled"},
		{args: []string{"snat", "disable", "tap0", "--ipv6"}, out: "disabled"},
		{args: []string{"snat", "show"}, out: "tap0       on    off"},
		{args: []string{"session", "list", "--proto", "tcp", "--addr", "10.0.0.0/8"}, out: "10.0.0.1:1234"},
		{args: []string{"-o", "json", "session", "list"}, out: `"src_port":1234`},
		{args: []string{"session", "delete", "--proto", "tcp", "--src", "10.0.0.1:1234", "--dst", "30.0.0.2:80"}, out: "deleted"},
		{args: []string{"session", "delete", "--proto", "tcp", "--src", "10.0.0.1:1234"}, code: 2, err: "--dst: required"},
		{args: []string{"session", "purge"}, out: "purged 0 session(s)"},
		{args: []string{"timeouts", "set", "--udp", "30s", "--tcp-established", "2h4m"}, out: "2h4m0s"},
		{args: []string{"timeouts", "set"}, code: 2, err: "set at least one of"},
		{args: []string{"timeouts", "set", "--icmp", "1500ms"}, code: 1, err: "timeouts.icmp: 1.5s is not a whole number of seconds"},
		{args: []string{"timeouts", "get"}, out: "udp              30s"},
		{args: []string{"limit", "set", "--max", "1000"}, out: "limit global: 1000"},
		{args: []string{"limit", "set", "--max", "5", "--vrf", "2"}, out: "limit 2: 5"},
		{args: []string{"limit", "set"}, code: 2, err: "--max is required"},
		{args: []string{"limit", "list"}, out: "global  1000"},
		{args: []string{"interface", "list"}, out: "tap0"},
		{args: []string{"status"}, out: "fake (config), connected"},
		{args: []string{"status"}, noToken: true, code: 1, err: "cloudnatctl: a bearer token is required\n"},
		{args: []string{"-o", "yaml", "status"}, code: 2, err: `--output: "yaml" is not table or json`},
		{args: []string{"--version"}, out: "cloudnatctl "},
		{args: []string{"nosuch"}, code: 2, err: `unknown command "nosuch"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := tc.args
			if !tc.noToken {
				args = append(slices.Clone(tok), args...)
			}
			checkRun(t, run, args, tc.code, tc.out, tc.err, tc.jsonOutput)
		})
	}
	// The commands above reached the dataplane.
	s := dp.Snapshot()
	if len(s.SNATAddresses) != 2 || len(s.SNATInterfaces) != 1 || s.Timeouts.UDP != 30*time.Second || len(s.SessionLimits) != 2 {
		t.Fatalf("dataplane %+v", s)
	}
}

// checkRun runs the command and checks its exit code, that stdout and
// stderr contain out and errOut, and that stdout is JSON when isJSON.
func checkRun(t *testing.T, run func(args ...string) (int, string, string), args []string, code int, out, errOut string, isJSON bool) {
	t.Helper()
	gotCode, gotOut, gotErr := run(args...)
	if gotCode != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", gotCode, code, gotOut, gotErr)
	}
	if !strings.Contains(gotOut, out) {
		t.Errorf("stdout %q does not contain %q", gotOut, out)
	}
	if !strings.Contains(gotErr, errOut) {
		t.Errorf("stderr %q does not contain %q", gotErr, errOut)
	}
	if isJSON && !json.Valid([]byte(gotOut)) {
		t.Errorf("stdout is not JSON: %s", gotOut)
	}
}
