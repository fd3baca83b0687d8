package main

import (
	"strings"
	"testing"
)

const checklist = `# x
## UDP (RFC 4787)
| id | level | requirement | test |
|---|---|---|---|
| 4787-1 | MUST | EIM | t |
| 7857-rst | SHOULD | after a RST | t |
`

func TestTestName(t *testing.T) {
	for _, c := range []struct{ id, want string }{
		{"4787-1", "TestConformance4787_1"},
		{"7857-rst", "TestConformance7857_rst"},
		{"6888-12", "TestConformance6888_12"},
	} {
		if got := TestName(c.id); got != c.want {
			t.Errorf("TestName(%q) = %q, want %q", c.id, got, c.want)
		}
	}
}

func TestParseChecklist(t *testing.T) {
	reqs, err := ParseChecklist(strings.NewReader(checklist))
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].ID != "4787-1" || reqs[0].Level != "MUST" || reqs[1].ID != "7857-rst" ||
		reqs[0].Section != "UDP (RFC 4787)" {
		t.Fatalf("got %+v", reqs)
	}
	if _, err := ParseChecklist(strings.NewReader(checklist + "| 4787-1 | MUST | again | t |\n")); err == nil {
		t.Error("a duplicate id was accepted")
	}
}

func TestParseRun(t *testing.T) {
	in := `{"Action":"output","Test":"TestConformance4787_1","Output":"    c_test.go:10: VPP version: vpp v26.06.0-release\n"}
{"Action":"pass","Test":"TestConformance4787_1"}
{"Action":"output","Test":"TestConformance7857_rst/ip4","Output":"    c_test.go:20: retransmission dropped\n"}
{"Action":"fail","Test":"TestConformance7857_rst/ip4"}
{"Action":"fail","Test":"TestConformance7857_rst"}
{"Action":"output","Test":"TestConformance6888_4","Output":"    k_test.go:5: no pools\n"}
{"Action":"output","Test":"TestConformance6888_4","Output":"--- SKIP: TestConformance6888_4 (0.00s)\n"}
{"Action":"skip","Test":"TestConformance6888_4"}
`
	r, err := ParseRun(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ test, action, note string }{
		{"TestConformance4787_1", "pass", ""},
		{"TestConformance7857_rst", "fail", "[ip4] retransmission dropped"},
		{"TestConformance6888_4", "skip", "no pools"},
	} {
		if o := r.Tests[c.test]; o.Action != c.action || o.Note != c.note {
			t.Errorf("%s: got %+v, want %s %q", c.test, o, c.action, c.note)
		}
	}
	if r.VPPVersion != "vpp v26.06.0-release" {
		t.Errorf("version %q", r.VPPVersion)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		o       Outcome
		reason  string
		hasTest bool
		want    string
	}{
		{Outcome{Action: "pass"}, "", true, "pass"},
		{Outcome{Action: "fail"}, "why", true, "FAIL"},
		{Outcome{Action: "skip"}, "why", true, "n/a"},
		{Outcome{Action: "skip"}, "", true, "skip"},
		{Outcome{}, "why", false, "n/a"},
		{Outcome{}, "why", true, "not run"},
		{Outcome{}, "", false, "not run"},
	} {
		if got := Classify(c.o, c.reason, c.hasTest); got.Result != c.want {
			t.Errorf("Classify(%+v, %q, %v) = %+v, want %s", c.o, c.reason, c.hasTest, got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	reqs, _ := ParseChecklist(strings.NewReader(checklist))
	code := map[string]map[string]bool{VPP: {"TestConformance4787_1": true}, Kernel: {}}
	good := "| 4787-1 | MUST | EIM | pass | pass | `TestConformance4787_1` |\n" +
		"| 7857-rst | SHOULD | after a RST | n/a | n/a | why |\n"
	for _, c := range []struct {
		name, status string
		nProbs       int
	}{
		{"current", good, 0},
		{"missing row", good[:strings.Index(good, "| 7857")], 1},
		{"wording changed", strings.Replace(good, "| EIM |", "| EIM! |", 1), 1},
		{"unknown test", strings.Replace(good, "why", "`TestConformanceNope`", 1), 1},
	} {
		if probs := Check(reqs, c.status, code); len(probs) != c.nProbs {
			t.Errorf("%s: %d problems %v, want %d", c.name, len(probs), probs, c.nProbs)
		}
	}
}
