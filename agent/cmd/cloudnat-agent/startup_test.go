package main

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudnat/cloudnat/agent/internal/config"
	"github.com/cloudnat/cloudnat/agent/internal/fakedp"
	"github.com/cloudnat/cloudnat/agent/internal/model"
	"github.com/cloudnat/cloudnat/agent/internal/store"
)

// TestGuardIntent: a start with no recorded intent goes on only when
// nothing shows that intent existed, or with --init.
func TestGuardIntent(t *testing.T) {
	full := func() *fakedp.DP {
		dp := fakedp.New()
		if err := dp.PutSNATAddress(context.Background(), model.SNATAddress{Addr: netip.MustParseAddr("30.0.0.1")}); err != nil {
			t.Fatal(err)
		}
		return dp
	}
	for _, tc := range []struct {
		name    string
		prepare func(path string) // before the store is opened
		dp      *fakedp.DP
		prev    string // the target lock's previous state file
		init    bool
		want    string // "" = starts
	}{
		{"first start", nil, fakedp.New(), "", false, ""},
		{"state kept", func(p string) { os.WriteFile(p, []byte(`{"version":1,"desired":{}}`), 0o600) }, full(), "", false, ""},
		{"state lost, marker left", func(p string) { os.WriteFile(store.Marker(p), nil, 0o600) }, fakedp.New(), "", false, "marker"},
		{"desired null", func(p string) { os.WriteFile(p, []byte(`{"version":1,"desired":null}`), 0o600) }, fakedp.New(), "", false, `"desired": null`},
		{"dataplane holds objects", nil, full(), "", false, "already holds 1 cloudnat objects"},
		{"another state file owned the dataplane", nil, fakedp.New(), "PREV", false, "the last agent on this dataplane used the state file"},
		{"--init", func(p string) { os.WriteFile(store.Marker(p), nil, 0o600) }, full(), "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if tc.prepare != nil {
				tc.prepare(path)
			}
			prev := tc.prev
			if prev == "PREV" {
				prev = filepath.Join(dir, "other.json")
				os.WriteFile(prev, []byte(`{"version":1,"desired":{}}`), 0o600)
			}
			st, err := store.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			c := config.Config{StatePath: path, Init: tc.init}
			err = guardIntent(context.Background(), slog.New(slog.DiscardHandler), c, st, prev, tc.dp)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("no state file after the start: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--init") {
				t.Fatalf("err %v, want a refusal naming %q and --init", err, tc.want)
			}
			if st2, _ := store.Open(path); !st2.Fresh() {
				t.Error("a refused start wrote intent")
			}
		})
	}
}

// TestGuardUncheckableDataplane: a dataplane that does not connect cannot
// be checked, so a fresh start without --init is refused.
func TestGuardUncheckableDataplane(t *testing.T) {
	dp := fakedp.New()
	dp.Disconnect()
	path := filepath.Join(t.TempDir(), "state.json")
	st, _ := store.Open(path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no need to wait the whole connectWait
	err := guardIntent(ctx, slog.New(slog.DiscardHandler), config.Config{StatePath: path}, st, "", dp)
	if err == nil || !strings.Contains(err.Error(), "could not be checked") {
		t.Fatalf("err %v", err)
	}
}

func TestDumpPrintsTheDataplane(t *testing.T) {
	cmd := newRootCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"dump", "--dataplane", "fake"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"Translations": [`) {
		t.Fatalf("dump printed:\n%s", out.String())
	}
}
