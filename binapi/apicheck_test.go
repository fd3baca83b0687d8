// This test guards the generated bindings against a stale or hand-edited
// vpp-plugin/cloudnat/cloudnat.api.json (regenerate both with
// scripts/gen-binapi.sh, i.e. make binapi). It runs in plain go test:
//
//  1. Always: the .api source is parsed (a small parser for the subset
//     the plugin uses: define/autoreply define, typedef, enum/enumflag) and
//     every message, type and enum, with every field's type, name and
//     array length, must be in the committed .api.json exactly so, and the
//     json must have no message the .api lacks.
//  2. Always: every message of the json is in the generated Go package
//     with the json's CRC, and the package has no other message; the API
//     version and its CRC match.
//  3. Where VPP's vppapigen and a python3 with ply are found (VPP_SRC, or
//     VPP_PREFIX / /usr / /opt/vpp / /usr/local with bin/vppapigen), the
//     .api is run through it and the committed json must match it message
//     by message, CRC included; elsewhere this step is logged as skipped.
package binapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/cloudnat/cloudnat/binapi/cloudnat"
)

const (
	apiFile  = "../vpp-plugin/cloudnat/cloudnat.api"
	jsonFile = "../vpp-plugin/cloudnat/cloudnat.api.json"
)

// field is (type, name, array length or length field).
type field struct{ Type, Name, Len string }

func (f field) String() string {
	if f.Len != "" {
		return fmt.Sprintf("%s %s[%s]", f.Type, f.Name, f.Len)
	}
	return f.Type + " " + f.Name
}

type apiDef struct {
	messages map[string][]field
	types    map[string][]field
	enums    map[string][]string // "NAME=value"
}

type apiJSON struct {
	Messages   [][]json.RawMessage `json:"messages"`
	Types      [][]json.RawMessage `json:"types"`
	Enums      [][]json.RawMessage `json:"enums"`
	Enumflags  [][]json.RawMessage `json:"enumflags"`
	Options    map[string]string   `json:"options"`
	APIVersion string              `json:"vl_api_version"`
}

type jsonDef struct {
	apiDef
	crcs    map[string]string
	version string
	vcrc    string
}

var (
	commentRE  = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
	defineRE   = regexp.MustCompile(`(?s)\b(autoreply\s+)?define\s+(\w+)\s*\{(.*?)\};`)
	typedefRE  = regexp.MustCompile(`(?s)\btypedef\s+(\w+)\s*\{(.*?)\};`)
	enumRE     = regexp.MustCompile(`(?s)\benum(?:flag)?\s+(\w+)\s*(?::\s*\w+)?\s*\{(.*?)\};`)
	versionRE  = regexp.MustCompile(`option\s+version\s*=\s*"([^"]+)"`)
	fieldRE    = regexp.MustCompile(`^(\w+)\s+(\w+)\s*(?:\[\s*(\w*)\s*\])?$`)
	defaultRE  = regexp.MustCompile(`\[\s*default\s*=[^\]]*\]`)
	enumItemRE = regexp.MustCompile(`^(\w+)\s*=\s*(\w+)$`)
)

func parseFields(body string) ([]field, error) {
	var out []field
	for _, decl := range strings.Split(body, ";") {
		decl = strings.TrimSpace(defaultRE.ReplaceAllString(decl, ""))
		if decl == "" || strings.HasPrefix(decl, "option ") {
			continue
		}
		m := fieldRE.FindStringSubmatch(decl)
		if m == nil {
			return nil, fmt.Errorf("cannot parse field %q", decl)
		}
		if m[3] == "0" { // "x[0]" is a variable-length array without a length field
			m[3] = ""
		}
		out = append(out, field{m[1], m[2], m[3]})
	}
	return out, nil
}

func parseAPI(text string) (apiDef, string, error) {
	text = commentRE.ReplaceAllString(text, "")
	d := apiDef{messages: map[string][]field{}, types: map[string][]field{}, enums: map[string][]string{}}
	for _, m := range defineRE.FindAllStringSubmatch(text, -1) {
		fs, err := parseFields(m[3])
		if err != nil {
			return d, "", fmt.Errorf("define %s: %w", m[2], err)
		}
		d.messages[m[2]] = fs
		if m[1] != "" {
			d.messages[m[2]+"_reply"] = []field{{"u32", "context", ""}, {"i32", "retval", ""}}
		}
	}
	for _, m := range typedefRE.FindAllStringSubmatch(text, -1) {
		fs, err := parseFields(m[2])
		if err != nil {
			return d, "", fmt.Errorf("typedef %s: %w", m[1], err)
		}
		d.types[m[1]] = fs
	}
	for _, m := range enumRE.FindAllStringSubmatch(text, -1) {
		var items []string
		for _, it := range strings.Split(m[2], ",") {
			it = strings.TrimSpace(it)
			if it == "" {
				continue
			}
			im := enumItemRE.FindStringSubmatch(it)
			if im == nil {
				return d, "", fmt.Errorf("enum %s: cannot parse %q", m[1], it)
			}
			var v int64
			if _, err := fmt.Sscan(im[2], &v); err != nil {
				return d, "", fmt.Errorf("enum %s: value %q: %w", m[1], im[2], err)
			}
			items = append(items, fmt.Sprintf("%s=%d", im[1], v))
		}
		d.enums[m[1]] = items
	}
	var version string
	if m := versionRE.FindStringSubmatch(text); m != nil {
		version = m[1]
	}
	return d, version, nil
}

func jsonFields(raw []json.RawMessage) ([]field, map[string]any, error) {
	var out []field
	var meta map[string]any
	for _, r := range raw[1:] {
		var arr []any
		if err := json.Unmarshal(r, &arr); err != nil {
			if err := json.Unmarshal(r, &meta); err != nil {
				return nil, nil, err
			}
			continue
		}
		f := field{Type: arr[0].(string), Name: arr[1].(string)}
		switch {
		case len(arr) >= 4: // [type, name, 0, "length_field"]
			f.Len = arr[3].(string)
		case len(arr) == 3:
			if n, ok := arr[2].(float64); ok && n != 0 {
				f.Len = fmt.Sprint(int(n))
			}
		}
		if f.Name == "_vl_msg_id" {
			continue
		}
		out = append(out, f)
	}
	return out, meta, nil
}

func parseJSON(data []byte) (jsonDef, error) {
	var j apiJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return jsonDef{}, err
	}
	d := jsonDef{
		apiDef:  apiDef{messages: map[string][]field{}, types: map[string][]field{}, enums: map[string][]string{}},
		crcs:    map[string]string{},
		version: j.Options["version"],
		vcrc:    j.APIVersion,
	}
	for _, m := range j.Messages {
		var name string
		if err := json.Unmarshal(m[0], &name); err != nil {
			return d, err
		}
		fs, meta, err := jsonFields(m)
		if err != nil {
			return d, fmt.Errorf("message %s: %w", name, err)
		}
		d.messages[name] = fs
		d.crcs[name], _ = meta["crc"].(string)
	}
	for _, t := range j.Types {
		var name string
		if err := json.Unmarshal(t[0], &name); err != nil {
			return d, err
		}
		fs, _, err := jsonFields(t)
		if err != nil {
			return d, fmt.Errorf("type %s: %w", name, err)
		}
		d.types[name] = fs
	}
	for _, e := range append(j.Enums, j.Enumflags...) {
		var name string
		if err := json.Unmarshal(e[0], &name); err != nil {
			return d, err
		}
		var items []string
		for _, r := range e[1:] {
			var arr []any
			if json.Unmarshal(r, &arr) == nil && len(arr) == 2 {
				items = append(items, fmt.Sprintf("%s=%d", arr[0], int64(arr[1].(float64))))
			}
		}
		d.enums[name] = items
	}
	return d, nil
}

func fieldsString(fs []field) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.String()
	}
	return "{" + strings.Join(s, "; ") + "}"
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func loadBoth(t *testing.T) (apiDef, string, jsonDef) {
	t.Helper()
	src, err := os.ReadFile(apiFile)
	if err != nil {
		t.Fatal(err)
	}
	api, version, err := parseAPI(string(src))
	if err != nil {
		t.Fatalf("parse %s: %v", apiFile, err)
	}
	if len(api.messages) == 0 {
		t.Fatalf("no messages parsed from %s", apiFile)
	}
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatalf("%v (run scripts/gen-binapi.sh)", err)
	}
	js, err := parseJSON(data)
	if err != nil {
		t.Fatalf("parse %s: %v", jsonFile, err)
	}
	return api, version, js
}

const regen = "the committed cloudnat.api.json is stale: run scripts/gen-binapi.sh (make binapi)"

func TestAPIJSONMatchesAPISource(t *testing.T) {
	api, version, js := loadBoth(t)
	for _, name := range sortedKeys(api.messages) {
		got, ok := js.messages[name]
		if !ok {
			t.Errorf("message %s is in the .api but not in the json; %s", name, regen)
			continue
		}
		if fieldsString(got) != fieldsString(api.messages[name]) {
			t.Errorf("message %s differs; %s\n .api: %s\n json: %s", name, regen,
				fieldsString(api.messages[name]), fieldsString(got))
		}
	}
	for _, name := range sortedKeys(js.messages) {
		if _, ok := api.messages[name]; !ok {
			t.Errorf("message %s is in the json but not in the .api; %s", name, regen)
		}
	}
	for _, name := range sortedKeys(api.types) {
		if fieldsString(js.types[name]) != fieldsString(api.types[name]) {
			t.Errorf("type %s differs; %s\n .api: %s\n json: %s", name, regen,
				fieldsString(api.types[name]), fieldsString(js.types[name]))
		}
	}
	for _, name := range sortedKeys(api.enums) {
		if fmt.Sprint(js.enums[name]) != fmt.Sprint(api.enums[name]) {
			t.Errorf("enum %s differs; %s\n .api: %v\n json: %v", name, regen, api.enums[name], js.enums[name])
		}
	}
	if version != js.version {
		t.Errorf("API version: .api %q, json %q; %s", version, js.version, regen)
	}
}

func TestGoBindingsMatchAPIJSON(t *testing.T) {
	_, _, js := loadBoth(t)
	const regenGo = "binapi/cloudnat is stale: run scripts/gen-binapi.sh (make binapi)"
	gomsgs := map[string]string{}
	for _, m := range cloudnat.AllMessages() {
		gomsgs[m.GetMessageName()] = "0x" + m.GetCrcString()
	}
	for _, name := range sortedKeys(js.crcs) {
		got, ok := gomsgs[name]
		switch {
		case !ok:
			t.Errorf("message %s (json CRC %s) missing from binapi/cloudnat; %s", name, js.crcs[name], regenGo)
		case got != js.crcs[name]:
			t.Errorf("message %s: Go CRC %s, json CRC %s; %s", name, got, js.crcs[name], regenGo)
		}
	}
	for _, name := range sortedKeys(gomsgs) {
		if _, ok := js.crcs[name]; !ok {
			t.Errorf("binapi/cloudnat has message %s that the json lacks; %s", name, regenGo)
		}
	}
	if cloudnat.APIVersion != js.version {
		t.Errorf("Go APIVersion %q, json %q; %s", cloudnat.APIVersion, js.version, regenGo)
	}
	if got := fmt.Sprintf("%#x", cloudnat.VersionCrc); got != js.vcrc {
		t.Errorf("Go VersionCrc %s, json vl_api_version %s; %s", got, js.vcrc, regenGo)
	}
}

// findVppapigen returns (python, vppapigen, includedir) or why not.
func findVppapigen() (py, gen, inc, why string) {
	for _, c := range []string{os.Getenv("PYTHON"), "/usr/bin/python3", "python3"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil && exec.Command(p, "-c", "import ply").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		return "", "", "", "no python3 with the ply module"
	}
	if src := os.Getenv("VPP_SRC"); src != "" {
		gen = filepath.Join(src, "src/tools/vppapigen/vppapigen.py")
		if _, err := os.Stat(gen); err == nil {
			return py, gen, filepath.Join(src, "src"), ""
		}
		return "", "", "", "VPP_SRC has no src/tools/vppapigen"
	}
	prefixes := []string{"/usr", "/opt/vpp", "/usr/local"}
	if p := os.Getenv("VPP_PREFIX"); p != "" {
		prefixes = []string{p}
	}
	for _, p := range prefixes {
		gen = filepath.Join(p, "bin/vppapigen")
		if _, err := os.Stat(gen); err == nil {
			return py, gen, filepath.Join(p, "include"), ""
		}
	}
	return "", "", "", "no vppapigen (set VPP_SRC or VPP_PREFIX)"
}

func TestAPIJSONMatchesVppapigen(t *testing.T) {
	py, gen, inc, why := findVppapigen()
	if why != "" {
		t.Skipf("%s: CRCs not recomputed from the .api (the structural checks above still ran)", why)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "cloudnat.api.json")
	cmd := exec.Command(py, gen, "--includedir", inc, "--input", apiFile, "JSON", "--outputdir", dir, "--output", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := parseJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	_, _, js := loadBoth(t)
	for _, name := range sortedKeys(fresh.crcs) {
		if js.crcs[name] != fresh.crcs[name] {
			t.Errorf("message %s: committed CRC %q, vppapigen %s; %s", name, js.crcs[name], fresh.crcs[name], regen)
		}
	}
	for _, name := range sortedKeys(js.crcs) {
		if _, ok := fresh.crcs[name]; !ok {
			t.Errorf("message %s is committed but vppapigen does not produce it; %s", name, regen)
		}
	}
	if js.vcrc != fresh.vcrc {
		t.Errorf("vl_api_version: committed %s, vppapigen %s; %s", js.vcrc, fresh.vcrc, regen)
	}
}
