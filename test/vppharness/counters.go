package vppharness

import (
	"strconv"
	"strings"
	"testing"
)

// ErrorCounter is one line of "show errors".
type ErrorCounter struct {
	Count                  uint64
	Node, Reason, Severity string
}

// Errors returns the non-zero error counters ("show errors").
func (v *VPP) Errors(t testing.TB) []ErrorCounter {
	t.Helper()
	return ParseErrors(v.MustCLI(t, "show errors"))
}

// ParseErrors parses "show errors" output.
func ParseErrors(out string) []ErrorCounter {
	var cs []ErrorCounter
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		c := ErrorCounter{Count: n, Node: f[1]}
		rest := f[2:]
		if len(rest) > 1 {
			switch rest[len(rest)-1] {
			case "error", "warn", "info", "unknown":
				c.Severity = rest[len(rest)-1]
				rest = rest[:len(rest)-1]
			}
		}
		c.Reason = strings.Join(rest, " ")
		cs = append(cs, c)
	}
	return cs
}

// ErrorCount sums the counters whose node contains node and whose reason
// contains reason (both case-insensitive; "" matches all).
func (v *VPP) ErrorCount(t testing.TB, node, reason string) uint64 {
	t.Helper()
	var n uint64
	for _, c := range v.Errors(t) {
		if containsFold(c.Node, node) && containsFold(c.Reason, reason) {
			n += c.Count
		}
	}
	return n
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
