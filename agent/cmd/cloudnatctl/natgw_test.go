package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/natgw/manifest"
)

func TestParseExpressionAndSelectorString(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{in: "tier In front,back"},
		{in: "legacy DoesNotExist"},
		{in: "tier", err: "is not 'KEY In|NotIn V1,V2'"},
		{in: "a In b c d", err: "is not 'KEY In|NotIn V1,V2'"},
	} {
		r, err := parseExpression(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || r.GetKey() == "" {
			t.Errorf("%q: %v %v", tc.in, r, err)
		}
	}
}

func TestNATGatewayCommands(t *testing.T) {
	_, run := agent(t)
	example, err := filepath.Abs(filepath.Join("..", "..", "..", "docs", "examples", "natgw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := []string{"--token", "tok"}
	nicFile := filepath.Join(dir, "nic.yaml")
	if err := os.WriteFile(nicFile, []byte("apiVersion: cloudnat.io/v1alpha1\nkind: NetworkInterface\nmetadata: {name: app-9}\nspec: {network: 1, ips: [10.0.0.9]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string
		check    func(t *testing.T, out string)
	}{
		{args: []string{"nic", "update", "-f", nicFile}, code: 1, err: "nic app-9 not found"},
		{args: []string{"nic", "update", "-f", nicFile, "--create"}, out: "app-9  1        10.0.0.9"},
		{args: []string{"nic", "create", "-f", example}, code: 2, err: "want exactly one NetworkInterface document"},
		{args: []string{"apply", "-f", example}, out: "applied 3 network interface(s), 1 NAT gateway(s)"},
		{args: []string{"natgw", "list"}, out: "my-nat  1        0            IPv4,IPv6  ip1=192.0.2.1,2001:db8::1 ip2=192.0.2.2,2001:db8::2  64         foo=bar,key in (db,web)  2        0           128"},
		{args: []string{"natgw", "get", "my-nat"}, out: "db-1    ip1  1024-1087  10.0.0.1->192.0.2.1 fd00::1->2001:db8::1"},
		{args: []string{"-o", "json", "natgw", "get", "my-nat"}, out: `"ports_used": "128"`, check: func(t *testing.T, out string) {
			if !json.Valid([]byte(out)) {
				t.Fatalf("not JSON: %s", out)
			}
		}},
		{args: []string{"-o", "yaml", "natgw", "get", "my-nat"}, out: "kind: NATGateway", check: func(t *testing.T, out string) {
			// What get prints, apply reads back.
			m, err := manifest.ParseBytes([]byte(out))
			if err != nil || len(m.Gateways) != 1 || m.Gateways[0].Name != "my-nat" {
				t.Fatalf("re-read: %v\n%s", err, out)
			}
			if !strings.Contains(out, "portsUsed: 128") || !strings.Contains(out, "networkInterface: web-1") {
				t.Fatalf("status missing:\n%s", out)
			}
			if err := os.WriteFile(filepath.Join(dir, "my-nat.yaml"), []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{args: []string{"apply", "-f", filepath.Join(dir, "my-nat.yaml")}, out: "applied 0 network interface(s), 1 NAT gateway(s)"},
		{args: []string{"nic", "create", "app-1", "--network", "1", "--ip", "10.0.0.4", "--label", "foo=bar", "--label", "key=web"}, out: "app-1  1        10.0.0.4  foo=bar,key=web  -"},
		{args: []string{"nic", "create", "app-1", "--network", "1", "--ip", "10.0.0.4"}, code: 1, err: "nic app-1 already exists"},
		{args: []string{"nic", "create", "app-2", "--network", "1"}, code: 2, err: "at least one --ip is required"},
		{args: []string{"nic", "create", "app-2", "--network", "1", "--ip", "10.0.0.5", "--label", "novalue"}, code: 2, err: `--label: "novalue" is not KEY=VALUE`},
		{args: []string{"nic", "create", "app-2", "--network", "1", "--ip", "10.0.0.2"}, code: 1, err: "10.0.0.2 in network 1: the address of nic app-2 and of nic web-1"},
		{args: []string{"nic", "update", "app-1", "--network", "1", "--ip", "10.0.0.4", "--virtual-ip", "198.51.100.1"}, out: "198.51.100.1 (vrf 0)"},
		{args: []string{"nic", "list", "--network", "1"}, out: "foo=bar,key=web  192.0.2.10 (vrf 0)"},
		{args: []string{"-o", "yaml", "nic", "get", "db-1"}, out: "kind: NetworkInterface\nmetadata:\n  name: db-1\n"},
		{args: []string{"nic", "get", "nope"}, code: 1, err: "cloudnatctl: nic nope not found\n"},
		{args: []string{"natgw", "create", "small", "--network", "2", "--ip", "ip1=203.0.113.1", "--ports", "32768", "--select-all"}, out: "small  2        0            IPv4      ip1=203.0.113.1"},
		{args: []string{"nic", "create", "s1", "--network", "2", "--ip", "10.2.0.1"}},
		{args: []string{"nic", "create", "s2", "--network", "2", "--ip", "10.2.0.2"}},
		{args: []string{"natgw", "get", "small"}, out: "s2          gateway full"},
		{args: []string{"natgw", "update", "small", "--network", "2", "--ip", "ip1=203.0.113.1", "--ip", "ip2=203.0.113.2", "--ports", "32768", "--select-all"}, out: "small  2"},
		{args: []string{"natgw", "get", "small"}, out: "s2      ip2  32768-65535  10.2.0.2->203.0.113.2"},
		{args: []string{"natgw", "watch", "small", "--count", "1"}, out: "small  4  2  0  65536  0  0"},
		{args: []string{"-o", "json", "natgw", "watch", "--count", "2"}, out: `"name":"small"`},
		{args: []string{"natgw", "create", "bad", "--network", "2", "--ip", "ip1=203.0.113.9", "--ports", "100"}, code: 1, err: "gateway.portsPerNetworkInterface: 100 is not a power of two from 64 to 32768"},
		{args: []string{"natgw", "create", "bad", "--network", "2", "--ip", "ip1=203.0.113.1"}, code: 1, err: "203.0.113.1 in vrf 0: claimed by natgw bad and by natgw small"},
		{args: []string{"natgw", "create", "bad", "--ip", "oops"}, code: 2, err: `--ip: "oops" is not NAME=ADDR[,ADDR]`},
		{args: []string{"natgw", "create", "bad", "--network", "2", "--ip", "a=203.0.113.9", "--match-expression", "x"}, code: 2, err: "--match-expression"},
		{args: []string{"natgw", "create", "x", "-f", example}, code: 2, err: "give the name in the file or as argument"},
		{args: []string{"natgw", "create", "-f", example}, code: 2, err: "want exactly one NATGateway document"},
		{args: []string{"apply"}, code: 2, err: "-f FILE is required"},
		{args: []string{"apply", "-f", filepath.Join(dir, "missing.yaml")}, code: 1, err: "no such file"},
		{args: []string{"natgw", "delete", "small"}, out: "natgw small deleted"},
		{args: []string{"natgw", "delete", "small"}, code: 1, err: "natgw small not found"},
		{args: []string{"natgw", "delete", "small", "--allow-missing"}, out: "deleted"},
		{args: []string{"nic", "delete", "s1"}, out: "nic s1 deleted"},
		{args: []string{"-o", "xml", "natgw", "list"}, code: 2, err: `--output: "xml" is not table or json`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(append(append([]string(nil), tok...), tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout %q does not contain %q", out, tc.out)
			}
			if !strings.Contains(errOut, tc.err) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.err)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func TestApplyRefusesUnknownFields(t *testing.T) {
	_, run := agent(t)
	f := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(f, []byte("apiVersion: cloudnat.io/v1alpha1\nkind: NATGateway\nmetadata: {name: gw}\nspec:\n  network: 1\n  portz: 64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run("--token", "tok", "apply", "-f", f)
	if code != 1 || !strings.Contains(errOut, "document 1: line 6: spec.portz: unknown field") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
