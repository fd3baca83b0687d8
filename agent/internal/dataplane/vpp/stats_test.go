package vpp

import (
	"os"
	"regexp"
	"testing"
)

// TestInfoCountersMatchPlugin keeps infoCounters equal to the INFO entries
// of the plugin's foreach_cn_error, the one source of truth.
func TestInfoCountersMatchPlugin(t *testing.T) {
	src, err := os.ReadFile("../../../../vpp-plugin/cloudnat/cloudnat_priv.h")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`_ \(\w+, (\w+), (INFO|WARN|ERROR)`)
	seen := 0
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		seen++
		if got, want := infoCounters[m[1]], m[2] == "INFO"; got != want {
			t.Errorf("counter %s: severity %s in the plugin, infoCounters says info=%v", m[1], m[2], got)
		}
	}
	if seen == 0 {
		t.Fatal("no counters found in cloudnat_priv.h: did foreach_cn_error move?")
	}
	info := 0
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		if m[2] == "INFO" {
			info++
		}
	}
	if info != len(infoCounters) {
		t.Errorf("plugin has %d INFO counters, infoCounters lists %d", info, len(infoCounters))
	}
}
