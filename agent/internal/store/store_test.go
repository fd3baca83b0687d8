package store

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudnat/cloudnat/agent/internal/model"
)

func sample() model.Desired {
	return model.Desired{
		Translations: []model.Translation{{
			Key:        model.TranslationKey{VRF: 1, VIP: netip.MustParseAddr("30.0.0.2"), Port: 80, Proto: model.ProtoTCP},
			Kind:       model.KindVIP,
			LB:         model.LBMaglev,
			HashFields: model.HashSrcAddr | model.HashDstPort,
			MaglevLen:  1009,
			Backends: []model.Backend{
				{DstAddr: netip.MustParseAddr("20.0.0.1"), DstPort: 8080},
				{SrcAddr: netip.MustParseAddr("1.2.3.4"), SrcPort: 5555, DstAddr: netip.MustParseAddr("20.0.0.2")},
			},
		}},
		SNATAddresses:  []model.SNATAddress{{VRF: 0, Addr: netip.MustParseAddr("2001:db8::1")}},
		SNATExclusions: []model.SNATExclusion{{VRF: 0, Prefix: netip.MustParsePrefix("10.0.0.0/8")}},
		SNATInterfaces: []model.SNATInterface{{Interface: "tap0", Family: model.IPv4}},
		Timeouts:       model.Timeouts{UDP: 30 * time.Second},
		SessionLimits:  []model.SessionLimit{{VRF: model.AllVRFs, Max: 1000}},
	}
}

func TestOpenMissingIsEmpty(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "sub", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Get(); !reflect.DeepEqual(got, model.Desired{}) {
		t.Fatalf("got %+v, want empty", got)
	}
}

func TestUpdateReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	if _, err := s.Update(func(d *model.Desired) error { *d = sample(); return nil }); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Get(); !reflect.DeepEqual(got, want) {
		t.Fatalf("reloaded\n%+v\nwant\n%+v", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 2 || ents[0].Name() != "state.json" || ents[1].Name() != "state.json.initialized" {
		t.Errorf("directory holds %v, want only state.json and its marker", ents)
	}
}

func TestUpdateErrorChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, _ := Open(path)
	if _, err := s.Update(func(d *model.Desired) error { *d = sample(); return nil }); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	boom := errors.New("boom")
	_, err := s.Update(func(d *model.Desired) error {
		d.Translations = nil
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if len(s.Get().Translations) != 1 {
		t.Fatal("in-memory intent changed by a failed update")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("file changed by a failed update")
	}
}

func TestUpdateWriteFailureChangesNothing(t *testing.T) {
	// Root ignores directory permissions: make the write fail by turning
	// the state file's directory into a file instead.
	dir := t.TempDir()
	path := filepath.Join(dir, "d", "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "d"))
	os.WriteFile(filepath.Join(dir, "d"), nil, 0o600) // directory is now a file
	if _, err := s.Update(func(d *model.Desired) error { *d = sample(); return nil }); err == nil {
		t.Fatal("update succeeded though the file cannot be written")
	}
	if got := s.Get(); len(got.Translations) != 0 {
		t.Fatal("in-memory intent changed though the write failed")
	}
}

func TestGetIsACopy(t *testing.T) {
	s, _ := Open(filepath.Join(t.TempDir(), "state.json"))
	s.Update(func(d *model.Desired) error { *d = sample(); return nil })
	g := s.Get()
	g.Translations[0].Backends[0].DstPort = 1
	if s.Get().Translations[0].Backends[0].DstPort != 8080 {
		t.Fatal("Get returned shared backing arrays")
	}
}

func TestCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "file is empty"},
		{"truncated", `{"version":1,"desired":{"Translations":[`, "unexpected EOF"},
		{"garbage", "\x00\x01not json", "invalid character"},
		{"bad address", `{"version":1,"desired":{"SNATAddresses":[{"VRF":0,"Addr":"300.1.1.1"}]}}`, "ParseAddr"},
		{"unknown field", `{"version":1,"desired":{"Bogus":1}}`, "unknown field"},
		{"wrong version", `{"version":7,"desired":{}}`, "format version 7"},
		{"trailing", `{"version":1,"desired":{}} {}`, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q should name the file, say corrupt and contain %q", err, tc.want)
			}
			// The file is left as it was.
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Fatal("corrupt file was modified")
			}
		})
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Fatalf("got %q", b)
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	unlock()
	unlock2, err := Lock(path)
	if err != nil {
		t.Fatal("lock after unlock:", err)
	}
	unlock2()
}

func TestFreshAndMarker(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		fresh         bool
	}{
		{"missing", "", true},
		{"null", `{"version": 1, "desired": null}`, true},
		{"absent desired", `{"version": 1}`, true},
		{"empty intent", `{"version": 1, "desired": {}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name, "state.json")
			if tc.content != "" {
				os.MkdirAll(filepath.Dir(path), 0o750)
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if s.Fresh() != tc.fresh {
				t.Fatalf("Fresh() = %v, want %v", s.Fresh(), tc.fresh)
			}
			if err := s.Init(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(Marker(path)); err != nil {
				t.Fatalf("no marker after Init: %v", err)
			}
			s2, err := Open(path)
			if err != nil || s2.Fresh() {
				t.Fatalf("reopened after Init: fresh %v, %v", s2.Fresh(), err)
			}
		})
	}
}

func TestLockTarget(t *testing.T) {
	dir := t.TempDir()
	l1, err := LockTarget(dir, "kernel", "table inet cloudnat in net:[1]", "/a/state.json")
	if err != nil {
		t.Fatal(err)
	}
	if l1.PrevState != "" || filepath.Base(l1.Path) != "kernel-table_inet_cloudnat_in_net__1_.lock" {
		t.Fatalf("lock %+v", l1)
	}
	_, err = LockTarget(dir, "kernel", "table inet cloudnat in net:[1]", "/b/state.json")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "state=/a/state.json") {
		t.Fatalf("second lock: %v, want ErrLocked naming the holder", err)
	}
	// Another table or namespace is another target.
	l3, err := LockTarget(dir, "kernel", "table inet cloudnat in net:[2]", "/b/state.json")
	if err != nil {
		t.Fatal(err)
	}
	l3.Unlock()
	l1.Unlock()
	l2, err := LockTarget(dir, "kernel", "table inet cloudnat in net:[1]", "/b/state.json")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Unlock()
	if l2.PrevState != "/a/state.json" {
		t.Errorf("PrevState %q, want the previous holder's", l2.PrevState)
	}
}
