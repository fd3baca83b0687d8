package natgw

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Matches says whether labels satisfy the selector, exactly as a
// Kubernetes metav1.LabelSelector does: every matchLabels pair must be
// present with that value, and every expression must hold (In: the key is
// present with one of the values; NotIn: the key is absent or its value is
// none of the values; Exists: present; DoesNotExist: absent). A nil
// selector matches nothing, an empty one everything.
func (s *Selector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// Matches evaluates one requirement. An unknown operator matches nothing
// (validation refuses it before).
func (r Requirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case OpIn:
		return ok && slices.Contains(r.Values, v)
	case OpNotIn:
		return !ok || !slices.Contains(r.Values, v)
	case OpExists:
		return ok
	case OpDoesNotExist:
		return !ok
	}
	return false
}

// ValidateSelector checks a selector as Kubernetes does (keys are
// qualified names, values label values; In and NotIn need values, Exists
// and DoesNotExist none), plus this package's count limits. field names
// the selector in errors.
func ValidateSelector(field string, s *Selector) error {
	if s == nil {
		return nil
	}
	if len(s.MatchLabels) > MaxSelectorLabels {
		return fmt.Errorf("%s.matchLabels: %d entries, at most %d", field, len(s.MatchLabels), MaxSelectorLabels)
	}
	if err := ValidateLabels(field+".matchLabels", s.MatchLabels); err != nil {
		return err
	}
	if len(s.MatchExpressions) > MaxSelectorExprs {
		return fmt.Errorf("%s.matchExpressions: %d entries, at most %d", field, len(s.MatchExpressions), MaxSelectorExprs)
	}
	for i, r := range s.MatchExpressions {
		f := fmt.Sprintf("%s.matchExpressions[%d]", field, i)
		if err := ValidateLabelKey(r.Key); err != nil {
			return fmt.Errorf("%s.key: %w", f, err)
		}
		switch r.Operator {
		case OpIn, OpNotIn:
			if len(r.Values) == 0 {
				return fmt.Errorf("%s.values: operator %s needs at least one value", f, r.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(r.Values) != 0 {
				return fmt.Errorf("%s.values: operator %s takes no values", f, r.Operator)
			}
		case "":
			return fmt.Errorf("%s.operator: required (In, NotIn, Exists or DoesNotExist)", f)
		default:
			return fmt.Errorf("%s.operator: %q is not In, NotIn, Exists or DoesNotExist", f, r.Operator)
		}
		if len(r.Values) > MaxSelectorValues {
			return fmt.Errorf("%s.values: %d values, at most %d", f, len(r.Values), MaxSelectorValues)
		}
		for j, v := range r.Values {
			if err := ValidateLabelValue(v); err != nil {
				return fmt.Errorf("%s.values[%d]: %w", f, j, err)
			}
		}
	}
	return nil
}

// ValidateLabels checks label keys and values (sorted, so the first error
// is the same every time).
func ValidateLabels(field string, labels map[string]string) error {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := ValidateLabelKey(k); err != nil {
			return fmt.Errorf("%s: key %q: %w", field, k, err)
		}
		if err := ValidateLabelValue(labels[k]); err != nil {
			return fmt.Errorf("%s[%s]: %w", field, k, err)
		}
	}
	return nil
}

// ValidateLabelKey checks a Kubernetes qualified name: an optional DNS
// subdomain prefix and "/", then a name of 1-63 alphanumerics, '-', '_',
// '.', starting and ending alphanumeric.
func ValidateLabelKey(k string) error {
	name := k
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		prefix := k[:i]
		name = k[i+1:]
		if err := validateDNSSubdomain(prefix, labelPrefixMaxLen); err != nil {
			return fmt.Errorf("prefix %q: %w", prefix, err)
		}
	}
	if name == "" {
		return errors.New("name part is empty")
	}
	if len(name) > labelNameMaxLen {
		return fmt.Errorf("name part is %d characters, at most %d", len(name), labelNameMaxLen)
	}
	return checkLabelChars(name)
}

// ValidateLabelValue checks a Kubernetes label value: empty, or 1-63
// alphanumerics, '-', '_', '.', starting and ending alphanumeric.
func ValidateLabelValue(v string) error {
	if v == "" {
		return nil
	}
	if len(v) > labelValueMaxLen {
		return fmt.Errorf("value is %d characters, at most %d", len(v), labelValueMaxLen)
	}
	return checkLabelChars(v)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func checkLabelChars(s string) error {
	if !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return fmt.Errorf("%q must start and end with a letter or digit", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return fmt.Errorf("%q: character %q is not a letter, digit, '-', '_' or '.'", s, c)
		}
	}
	return nil
}

// validateDNSSubdomain checks lower-case DNS labels joined by dots.
func validateDNSSubdomain(s string, max int) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > max {
		return fmt.Errorf("%d characters, at most %d", len(s), max)
	}
	for _, l := range strings.Split(s, ".") {
		if err := validateDNSLabel(l); err != nil {
			return err
		}
	}
	return nil
}

// validateDNSLabel checks 1-63 lower-case alphanumerics and '-', starting
// and ending alphanumeric.
func validateDNSLabel(s string) error {
	if s == "" {
		return errors.New("empty DNS label")
	}
	if len(s) > 63 {
		return fmt.Errorf("DNS label %q is %d characters, at most 63", s, len(s))
	}
	lowerAlnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !lowerAlnum(s[0]) || !lowerAlnum(s[len(s)-1]) {
		return fmt.Errorf("%q must start and end with a lower-case letter or digit", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !lowerAlnum(c) && c != '-' {
			return fmt.Errorf("%q: character %q is not a lower-case letter, digit or '-'", s, c)
		}
	}
	return nil
}
