// Package version holds the build's version, set at link time:
//
//	go build -ldflags "-X github.com/cloudnat/cloudnat/agent/internal/version.Version=v1.2.3"
//
// Without it the module version or VCS revision from the build info is used.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set by the linker; empty means "from build info".
var Version = ""

// String returns the version, e.g. "v1.2.3" or "devel (abc1234, modified)".
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		return fmt.Sprintf("devel (%s, modified)", rev)
	}
	return fmt.Sprintf("devel (%s)", rev)
}

// Full is String plus the Go version, for --version.
func Full(program string) string {
	return fmt.Sprintf("%s %s (%s %s/%s)", program, String(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
