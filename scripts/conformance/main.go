// Command conformance writes and checks docs/conformance-status.md, the
// table of the NAT requirements of ../shared/conformance.md against the two
// dataplanes.
//
//	conformance report [-checklist F] [-vpp F.json] [-kernel F.json] [-vpp-version V] [-out F]
//	conformance check  [-checklist F] [-status F]
//
// report reads the `go test -json -run Conformance` output of the VPP
// suite (test/plugin) and of the kernel suite
// (agent/internal/dataplane/kernel/netnstest) and writes one row per
// requirement: id, level, requirement, VPP result, kernel result, and the
// test's name or the reason it does not apply (reasons.go), then totals per
// level and dataplane, the VPP version and the date.
//
// check verifies, without running anything, that the status file has a row
// for every requirement of the checklist with its current wording, and
// that every test it names exists in the code. Without the checklist it
// prints one line and succeeds (CI may not have ../shared).
//
// Both run from the repository root (make does).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Requirement is one row of the checklist.
type Requirement struct {
	ID, Level, Text, Section string
}

// TestName is the name of the conformance test of an id: 4787-1 gives
// TestConformance4787_1, 7857-rst gives TestConformance7857_rst.
func TestName(id string) string {
	return "TestConformance" + strings.NewReplacer("-", "_", "/", "_").Replace(id)
}

var idRe = regexp.MustCompile(`^\d{4}-[A-Za-z0-9]+$`)

// ParseChecklist reads the requirement rows (| id | level | requirement |
// test |) of conformance.md, in order, with their section (## heading).
func ParseChecklist(r io.Reader) ([]Requirement, error) {
	var reqs []Requirement
	section := ""
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(h)
			continue
		}
		cells := splitRow(line)
		if len(cells) < 3 || !idRe.MatchString(cells[0]) {
			continue
		}
		if seen[cells[0]] {
			return nil, fmt.Errorf("requirement %s listed twice", cells[0])
		}
		seen[cells[0]] = true
		reqs = append(reqs, Requirement{ID: cells[0], Level: cells[1], Text: cells[2], Section: section})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		return nil, errors.New("no requirement rows (| id | level | requirement | test |)")
	}
	return reqs, nil
}

// splitRow splits a markdown table row into trimmed cells ("" -> nil).
func splitRow(line string) []string {
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	parts := strings.Split(line[1:len(line)-1], "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// Outcome is one test's result.
type Outcome struct {
	Action string // pass, fail, skip; "" = not run
	// Note is the skip reason or the first failure lines.
	Note string
}

// Run is one suite's go test -json output, digested.
type Run struct {
	Tests map[string]Outcome
	// Skipped is the package's one SKIP line (TestMain could not run it).
	Skipped string
	// VPPVersion is what a test logged as "VPP version: ...".
	VPPVersion string
	// Present is false when there was no output file.
	Present bool
}

type event struct {
	Action, Test, Output string
}

var (
	fileLineRe = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: ?`)
	versionRe  = regexp.MustCompile(`VPP version: (.+)`)
)

// ParseRun digests go test -json output.
func ParseRun(r io.Reader) (*Run, error) {
	run := &Run{Tests: map[string]Outcome{}, Present: true}
	outs := map[string][]string{}
	dec := json.NewDecoder(r)
	for {
		var e event
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go test -json output: %w", err)
		}
		top, _, _ := strings.Cut(e.Test, "/")
		switch e.Action {
		case "output":
			o := strings.TrimRight(e.Output, "\n")
			if m := versionRe.FindStringSubmatch(o); m != nil && run.VPPVersion == "" {
				run.VPPVersion = strings.TrimSpace(m[1])
			}
			if e.Test == "" {
				if s, ok := strings.CutPrefix(o, "SKIP "); ok {
					run.Skipped = s
				}
				continue
			}
			t := strings.TrimSpace(o)
			if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
				continue
			}
			if noise(t) {
				continue
			}
			line := fileLineRe.ReplaceAllString(o, "")
			if _, sub, ok := strings.Cut(e.Test, "/"); ok && fileLineRe.MatchString(o) {
				line = "[" + sub + "] " + strings.TrimSpace(line)
			}
			outs[top] = append(outs[top], line)
		case "pass", "fail", "skip":
			if e.Test == "" || e.Test != top {
				continue
			}
			run.Tests[top] = Outcome{Action: e.Action}
		}
	}
	for name, o := range run.Tests {
		lines := outs[name]
		switch o.Action {
		case "skip":
			for i := len(lines) - 1; i >= 0; i-- {
				if s := strings.TrimSpace(lines[i]); s != "" {
					o.Note = s
					break
				}
			}
		case "fail":
			var keep []string
			for _, l := range lines {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "VPP ") || versionRe.MatchString(l) {
					continue
				}
				keep = append(keep, l)
				if len(keep) == 3 {
					break
				}
			}
			o.Note = strings.Join(keep, " / ")
		}
		run.Tests[name] = o
	}
	return run, nil
}

// noise: the harness's VPP log tail and run directory lines, not what
// the test saw.
func noise(line string) bool {
	for _, n := range []string{"[notice]", "received signal", "received SIGTERM", "VPP output tail", "VPP run directory", "[info]", "[warn]"} {
		if strings.Contains(line, n) {
			return true
		}
	}
	return false
}

func readRun(path string) (*Run, error) {
	if path == "" {
		return &Run{Tests: map[string]Outcome{}}, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Run{Tests: map[string]Outcome{}}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseRun(f)
}

// Dataplanes.
const (
	VPP    = "vpp"
	Kernel = "kernel"
)

// Cell is what the table shows for one requirement on one dataplane.
type Cell struct {
	Result string // pass, FAIL, skip, n/a, not run
	Note   string
}

// Classify combines a test outcome with the written reason; hasTest says
// whether the code has the test at all.
func Classify(o Outcome, reason string, hasTest bool) Cell {
	switch o.Action {
	case "pass":
		return Cell{"pass", reason}
	case "fail":
		return Cell{"FAIL", o.Note}
	case "skip":
		if reason != "" {
			return Cell{"n/a", reason}
		}
		return Cell{"skip", o.Note}
	}
	if reason != "" && !hasTest {
		return Cell{"n/a", reason}
	}
	if !hasTest {
		return Cell{"not run", "no test yet"}
	}
	return Cell{"not run", reason}
}

// testsInCode finds func TestConformance... in the _test.go files under
// root, by dataplane (test/plugin: vpp; .../netnstest: kernel).
func testsInCode(root string) (map[string]map[string]bool, error) {
	found := map[string]map[string]bool{VPP: {}, Kernel: {}}
	re := regexp.MustCompile(`(?m)^func (TestConformance\w+)\(t \*testing\.T\)`)
	dirs := map[string]string{
		filepath.Join(root, "test", "plugin"):                                        VPP,
		filepath.Join(root, "agent", "internal", "dataplane", "kernel", "netnstest"): Kernel,
	}
	for dir, dp := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			for _, m := range re.FindAllSubmatch(b, -1) {
				found[dp][string(m[1])] = true
			}
		}
	}
	return found, nil
}

// Report is everything the status file shows.
type Report struct {
	Reqs       []Requirement
	Runs       map[string]*Run
	Code       map[string]map[string]bool
	VPPVersion string
	Date       time.Time
	Note       string
}

func (r *Report) cell(dp string, q Requirement) Cell {
	reasons := vppReasons
	if dp == Kernel {
		reasons = kernelReasons
	}
	run := r.Runs[dp]
	o := run.Tests[TestName(q.ID)]
	return Classify(o, reasons[q.ID], r.Code[dp][TestName(q.ID)])
}

func esc(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func runState(dp string, run *Run) string {
	switch {
	case !run.Present:
		return "not run here (no " + dp + " results)"
	case run.Skipped != "":
		return "not run here: " + run.Skipped
	case len(run.Tests) == 0:
		return "not run here (no conformance test ran)"
	}
	return fmt.Sprintf("%d tests run", len(run.Tests))
}

// Markdown renders the status file.
func (r *Report) Markdown() string {
	var b strings.Builder
	ver := r.VPPVersion
	if ver == "" {
		ver = "unknown (VPP suite not run)"
	}
	fmt.Fprintf(&b, "# Conformance status (RFC 4787, 5382, 5508, 6888, 7857)\n\n")
	fmt.Fprintf(&b, "Generated by `make conformance` (scripts/conformance) from `go test -json -run Conformance` of the VPP\n"+
		"suite (`test/plugin`, one `TestConformance<id>` per requirement, timers on the plugin's test clock) and of the\n"+
		"kernel suite (`agent/internal/dataplane/kernel/netnstest`). Do not edit by hand; reasons for \"n/a\" live in\n"+
		"`scripts/conformance/reasons.go`. `make conformance-check` (part of `make test`) checks that every requirement of\n"+
		"`../shared/conformance.md` has a row and every named test exists.\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- VPP: %s; VPP suite: %s\n", ver, runState("VPP", r.Runs[VPP]))
	fmt.Fprintf(&b, "- Kernel suite: %s\n", runState("kernel", r.Runs[Kernel]))
	if r.Note != "" {
		fmt.Fprintf(&b, "- Note: %s\n", r.Note)
	}
	fmt.Fprintf(&b, "- Results: pass; **FAIL** (what the test saw is under Failures); skip (the test skipped itself); n/a (does\n"+
		"  not apply or cannot be expressed on that dataplane, reason given); not run (no result from this run).\n\n")

	b.WriteString("| id | level | requirement | VPP | kernel | test / reason |\n|---|---|---|---|---|---|\n")
	type fail struct{ id, dp, note string }
	var fails []fail
	for _, q := range r.Reqs {
		cv, ck := r.cell(VPP, q), r.cell(Kernel, q)
		var notes []string
		name := TestName(q.ID)
		if r.Code[VPP][name] || r.Code[Kernel][name] {
			notes = append(notes, "`"+name+"`")
		}
		for _, x := range []struct {
			dp string
			c  Cell
		}{{"VPP", cv}, {"kernel", ck}} {
			switch {
			case x.c.Result == "FAIL":
				fails = append(fails, fail{q.ID, x.dp, x.c.Note})
			case x.c.Note != "":
				notes = append(notes, x.dp+": "+x.c.Note)
			}
		}
		res := func(c Cell) string {
			if c.Result == "FAIL" {
				return "**FAIL**"
			}
			return c.Result
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", q.ID, esc(q.Level), esc(q.Text), res(cv), res(ck),
			esc(strings.Join(notes, "; ")))
	}

	b.WriteString("\n## Totals per level\n\n")
	b.WriteString("| level | requirements | VPP pass | VPP fail | VPP n/a or skip | VPP not run | kernel pass | kernel fail | kernel n/a or skip | kernel not run |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	var levels []string
	count := map[string]*[9]int{}
	for _, q := range r.Reqs {
		if count[q.Level] == nil {
			levels = append(levels, q.Level)
			count[q.Level] = &[9]int{}
		}
		if count["all"] == nil {
			count["all"] = &[9]int{}
		}
		for _, k := range []string{q.Level, "all"} {
			c := count[k]
			c[0]++
			for i, dp := range []string{VPP, Kernel} {
				switch r.cell(dp, q).Result {
				case "pass":
					c[1+4*i]++
				case "FAIL":
					c[2+4*i]++
				case "n/a", "skip":
					c[3+4*i]++
				default:
					c[4+4*i]++
				}
			}
		}
	}
	sort.SliceStable(levels, func(i, j int) bool { return levelRank(levels[i]) < levelRank(levels[j]) })
	for _, l := range append(levels, "all") {
		c := count[l]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n", l, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8])
	}

	if len(fails) > 0 {
		b.WriteString("\n## Failures\n\nWhat each failing test saw (first lines of its output).\n\n")
		for _, f := range fails {
			fmt.Fprintf(&b, "- %s on %s: %s\n", f.id, f.dp, esc(short(f.note, 400)))
		}
	}
	return b.String()
}

func levelRank(l string) int {
	for i, x := range []string{"MUST", "MUST NOT", "SHOULD/MUST", "SHOULD", "SHOULD NOT", "RECOMMENDED", "MAY"} {
		if l == x {
			return i
		}
	}
	return 99
}

// Check compares the status file with the checklist and the code; it
// returns every problem.
func Check(reqs []Requirement, status string, code map[string]map[string]bool) []string {
	var probs []string
	rows := map[string][]string{}
	for _, line := range strings.Split(status, "\n") {
		cells := splitRow(strings.TrimSpace(line))
		if len(cells) >= 6 && idRe.MatchString(cells[0]) {
			rows[cells[0]] = cells
		}
	}
	want := map[string]bool{}
	for _, q := range reqs {
		want[q.ID] = true
		row, ok := rows[q.ID]
		switch {
		case !ok:
			probs = append(probs, fmt.Sprintf("%s: no row (run make conformance)", q.ID))
		case row[1] != esc(q.Level) || row[2] != esc(q.Text):
			probs = append(probs, fmt.Sprintf("%s: the row's level or wording differs from the checklist (run make conformance)", q.ID))
		}
	}
	for id := range rows {
		if !want[id] {
			probs = append(probs, fmt.Sprintf("%s: row for a requirement the checklist no longer has", id))
		}
	}
	for _, m := range regexp.MustCompile("`(Test\\w+)`").FindAllStringSubmatch(status, -1) {
		if !code[VPP][m[1]] && !code[Kernel][m[1]] {
			probs = append(probs, fmt.Sprintf("names %s, which no _test.go file of test/plugin or kernel/netnstest defines", m[1]))
		}
	}
	sort.Strings(probs)
	return probs
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: conformance report|check [flags]")
		os.Exit(2)
	}
	fl := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	checklist := fl.String("checklist", filepath.Join("..", "shared", "conformance.md"), "requirements checklist")
	status := fl.String("status", filepath.Join("docs", "conformance-status.md"), "status file (check)")
	out := fl.String("out", filepath.Join("docs", "conformance-status.md"), "status file to write (report)")
	vppJSON := fl.String("vpp", "", "go test -json output of the VPP suite")
	kernelJSON := fl.String("kernel", "", "go test -json output of the kernel suite")
	vppVersion := fl.String("vpp-version", "", "VPP version (default: what the VPP suite logged)")
	note := fl.String("note", "", "a line for the header (e.g. which plugin commit the VPP run used)")
	_ = fl.Parse(os.Args[2:])

	if !flagSet(fl, "checklist") {
		*checklist = findChecklist(*checklist)
	}
	f, err := os.Open(*checklist)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("conformance %s: %s not found; skipped\n", os.Args[1], *checklist)
		return
	}
	if err != nil {
		fatal(err)
	}
	reqs, err := ParseChecklist(f)
	f.Close()
	if err != nil {
		fatal(fmt.Errorf("%s: %w", *checklist, err))
	}
	code, err := testsInCode(".")
	if err != nil {
		fatal(err)
	}

	switch os.Args[1] {
	case "report":
		rv, err := readRun(*vppJSON)
		if err != nil {
			fatal(err)
		}
		rk, err := readRun(*kernelJSON)
		if err != nil {
			fatal(err)
		}
		r := &Report{Reqs: reqs, Runs: map[string]*Run{VPP: rv, Kernel: rk}, Code: code,
			VPPVersion: *vppVersion, Date: time.Now(), Note: *note}
		if r.VPPVersion == "" {
			r.VPPVersion = rv.VPPVersion
		}
		if err := os.WriteFile(*out, []byte(r.Markdown()), 0o644); err != nil {
			fatal(err)
		}
		fmt.Printf("conformance: wrote %s (%d requirements)\n", *out, len(reqs))
	case "check":
		b, err := os.ReadFile(*status)
		if err != nil {
			fatal(err)
		}
		if probs := Check(reqs, string(b), code); len(probs) > 0 {
			fmt.Fprintf(os.Stderr, "conformance check: %s is not current:\n  %s\n", *status, strings.Join(probs, "\n  "))
			os.Exit(1)
		}
		fmt.Printf("conformance check: %s has all %d requirements of %s; every named test exists\n", *status, len(reqs), *checklist)
	default:
		fmt.Fprintln(os.Stderr, "usage: conformance report|check [flags]")
		os.Exit(2)
	}
}

func flagSet(fl *flag.FlagSet, name string) bool {
	set := false
	fl.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// findChecklist returns def when it exists, else ../shared/conformance.md
// next to the main worktree of the repository (a git worktree elsewhere
// shares the main one's neighbours), else def.
func findChecklist(def string) string {
	if _, err := os.Stat(def); err == nil {
		return def
	}
	out, err := exec.Command("git", "rev-parse", "--path-format=absolute", "--git-common-dir").Output()
	if err != nil {
		return def
	}
	alt := filepath.Join(filepath.Dir(filepath.Dir(strings.TrimSpace(string(out)))), "shared", "conformance.md")
	if _, err := os.Stat(alt); err == nil {
		return alt
	}
	return def
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "conformance:", err)
	os.Exit(1)
}
