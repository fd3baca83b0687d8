// Package gendoc writes the man pages and shell completions of a cobra
// command tree, for the Debian packages (scripts/deb.sh). The commands that
// use it keep it hidden: it is a build step, not a user feature.
package gendoc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Write generates into dir: man/<name>.<section> (one page per command) and,
// when completion is set, completion/bash/<name> (bash-completion v2).
// The pages' date is $SOURCE_DATE_EPOCH when set (reproducible builds).
func Write(root *cobra.Command, section, dir string, completion bool) error {
	date := time.Now().UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
		}
		date = time.Unix(sec, 0).UTC()
	}
	root.DisableAutoGenTag = true
	mandir := filepath.Join(dir, "man")
	if err := os.MkdirAll(mandir, 0o755); err != nil {
		return err
	}
	hdr := &doc.GenManHeader{Section: section, Date: &date, Source: "cloudnat", Manual: "cloudnat"}
	if err := doc.GenManTree(root, hdr, mandir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	if !completion {
		return nil
	}
	cdir := filepath.Join(dir, "completion", "bash")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(cdir, root.Name()))
	if err != nil {
		return err
	}
	if err := root.GenBashCompletionV2(f, true); err != nil {
		f.Close()
		return fmt.Errorf("bash completion: %w", err)
	}
	return f.Close()
}
