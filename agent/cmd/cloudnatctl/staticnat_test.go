package main

import (
	"strings"
	"testing"
)

func TestStaticNATCommands(t *testing.T) {
	dp, run := agent(t)
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string
		json     bool
	}{
		{args: []string{"static", "create", "--inside", "10.1.0.5/32", "--vrf", "1", "--outside", "172.16.0.5/32", "--outside-vrf", "2"},
			out: "created vrf 1 10.1.0.5/32 <-> vrf 2 172.16.0.5/32 (synced)"},
		{args: []string{"static", "create", "--inside", "10.1.0.6", "--vrf", "1", "--outside", "172.16.0.6", "--outside-vrf", "2",
			"--proto", "tcp", "--inside-port", "80", "--outside-port", "8080"}, out: "tcp 80->8080 (synced)"},
		{args: []string{"static", "create", "--inside", "10.1.0.7", "--vrf", "1", "--outside", "172.16.0.5", "--outside-vrf", "2"},
			code: 1, err: "already claimed by the static nat vrf 1 10.1.0.5/32"},
		{args: []string{"static", "create", "--inside", "10.1.0.0/24", "--outside", "172.16.0.0/25"}, code: 1, err: "not as long as"},
		{args: []string{"static", "create", "--inside", "10.1.0.8"}, code: 2, err: "--outside is required"},
		{args: []string{"static", "create", "--inside", "10.1.0.8", "--outside", "172.16.0.8", "--proto", "sctp"}, code: 2, err: `"sctp" is not`},
		{args: []string{"static", "list"}, out: "10.1.0.6/32  2            172.16.0.6/32  tcp    80->8080"},
		{args: []string{"-o", "json", "static", "list"}, out: `"outside": "172.16.0.5/32"`, json: true},
		{args: []string{"static", "get", "--vrf", "1", "--inside", "10.1.0.5/32"}, out: "all    all    synced"},
		{args: []string{"static", "get", "--vrf", "1", "--inside", "10.1.0.6", "--proto", "tcp", "--inside-port", "80"}, out: "80->8080"},
		{args: []string{"static", "get", "--vrf", "9", "--inside", "10.1.0.5"}, code: 1, err: "not found"},
		{args: []string{"static", "delete", "--vrf", "1", "--inside", "10.1.0.5"}, out: "deleted vrf 1 10.1.0.5 (synced)"},
		{args: []string{"static", "delete", "--vrf", "1", "--inside", "10.1.0.6", "--proto", "tcp", "--inside-port", "80"}, out: "deleted"},
		{args: []string{"static", "delete", "--vrf", "1", "--inside", "10.1.0.6"}, code: 1, err: "not found"},
		{args: []string{"static", "delete", "--vrf", "1", "--inside", "10.1.0.6", "--allow-missing"}, out: "deleted"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			checkRun(t, run, append([]string{"--token", "tok"}, tc.args...), tc.code, tc.out, tc.err, tc.json)
		})
	}
	if got := dp.StaticNATSnapshot(); len(got) != 0 {
		t.Fatalf("dataplane %v", got)
	}
}
