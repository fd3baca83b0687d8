package natgw

import (
	"strings"
	"testing"
)

func TestSelectorMatches(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front", "empty": ""}
	for _, tc := range []struct {
		name string
		sel  *Selector
		want bool
	}{
		{"nil selects nothing", nil, false},
		{"empty selects everything", &Selector{}, true},
		{"matchLabels hit", &Selector{MatchLabels: map[string]string{"app": "web"}}, true},
		{"matchLabels all must hold", &Selector{MatchLabels: map[string]string{"app": "web", "tier": "back"}}, false},
		{"matchLabels missing key", &Selector{MatchLabels: map[string]string{"zone": "a"}}, false},
		{"matchLabels empty value", &Selector{MatchLabels: map[string]string{"empty": ""}}, true},
		{"In hit", &Selector{MatchExpressions: []Requirement{{Key: "app", Operator: OpIn, Values: []string{"db", "web"}}}}, true},
		{"In miss", &Selector{MatchExpressions: []Requirement{{Key: "app", Operator: OpIn, Values: []string{"db"}}}}, false},
		{"In absent key", &Selector{MatchExpressions: []Requirement{{Key: "zone", Operator: OpIn, Values: []string{"a"}}}}, false},
		{"NotIn hit", &Selector{MatchExpressions: []Requirement{{Key: "app", Operator: OpNotIn, Values: []string{"db"}}}}, true},
		{"NotIn miss", &Selector{MatchExpressions: []Requirement{{Key: "app", Operator: OpNotIn, Values: []string{"web"}}}}, false},
		{"NotIn absent key matches", &Selector{MatchExpressions: []Requirement{{Key: "zone", Operator: OpNotIn, Values: []string{"a"}}}}, true},
		{"Exists", &Selector{MatchExpressions: []Requirement{{Key: "tier", Operator: OpExists}}}, true},
		{"Exists empty value", &Selector{MatchExpressions: []Requirement{{Key: "empty", Operator: OpExists}}}, true},
		{"Exists absent", &Selector{MatchExpressions: []Requirement{{Key: "zone", Operator: OpExists}}}, false},
		{"DoesNotExist", &Selector{MatchExpressions: []Requirement{{Key: "zone", Operator: OpDoesNotExist}}}, true},
		{"DoesNotExist present", &Selector{MatchExpressions: []Requirement{{Key: "app", Operator: OpDoesNotExist}}}, false},
		{"labels and expressions are ANDed", &Selector{
			MatchLabels:      map[string]string{"app": "web"},
			MatchExpressions: []Requirement{{Key: "tier", Operator: OpIn, Values: []string{"back"}}},
		}, false},
		{"unknown operator matches nothing", &Selector{MatchExpressions: []Requirement{{Key: "app", Operator: "Gt", Values: []string{"1"}}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sel.Matches(labels); got != tc.want {
				t.Fatalf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	if !(&Selector{}).Matches(nil) {
		t.Fatal("empty selector must match an interface without labels")
	}
	if (&Selector{MatchExpressions: []Requirement{{Key: "a", Operator: OpExists}}}).Matches(nil) {
		t.Fatal("Exists must not match nil labels")
	}
}

func TestValidateSelector(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name string
		sel  *Selector
		err  string
	}{
		{"nil", nil, ""},
		{"ok", &Selector{MatchLabels: map[string]string{"example.com/app": "web-1"}, MatchExpressions: []Requirement{{Key: "tier", Operator: OpExists}}}, ""},
		{"bad key char", &Selector{MatchLabels: map[string]string{"a b": "x"}}, `sel.matchLabels: key "a b": "a b": character ' '`},
		{"long key", &Selector{MatchLabels: map[string]string{long: "x"}}, "name part is 64 characters, at most 63"},
		{"bad prefix", &Selector{MatchLabels: map[string]string{"Example.com/app": "x"}}, `prefix "Example.com"`},
		{"empty name part", &Selector{MatchLabels: map[string]string{"example.com/": "x"}}, "name part is empty"},
		{"bad value", &Selector{MatchLabels: map[string]string{"app": "-web"}}, `sel.matchLabels[app]: "-web" must start and end`},
		{"long value", &Selector{MatchLabels: map[string]string{"app": long}}, "value is 64 characters"},
		{"In without values", &Selector{MatchExpressions: []Requirement{{Key: "a", Operator: OpIn}}}, "sel.matchExpressions[0].values: operator In needs at least one value"},
		{"Exists with values", &Selector{MatchExpressions: []Requirement{{Key: "a", Operator: OpExists, Values: []string{"x"}}}}, "operator Exists takes no values"},
		{"missing operator", &Selector{MatchExpressions: []Requirement{{Key: "a"}}}, "sel.matchExpressions[0].operator: required"},
		{"unknown operator", &Selector{MatchExpressions: []Requirement{{Key: "a", Operator: "Gt", Values: []string{"1"}}}}, `"Gt" is not In, NotIn, Exists or DoesNotExist`},
		{"bad expression key", &Selector{MatchExpressions: []Requirement{{Key: "", Operator: OpExists}}}, "sel.matchExpressions[0].key: name part is empty"},
		{"bad expression value", &Selector{MatchExpressions: []Requirement{{Key: "a", Operator: OpIn, Values: []string{"ok", "not ok"}}}}, "sel.matchExpressions[0].values[1]"},
		{"too many values", &Selector{MatchExpressions: []Requirement{{Key: "a", Operator: OpIn, Values: make([]string, MaxSelectorValues+1)}}}, "values: 65 values, at most 64"},
		{"too many expressions", &Selector{MatchExpressions: make([]Requirement, MaxSelectorExprs+1)}, "33 entries, at most 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, ValidateSelector("sel", tc.sel), tc.err)
		})
	}
}

// checkErr fails unless err contains want, or is nil when want is empty.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want %q", err, want)
	}
}
