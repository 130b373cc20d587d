// Package chartfiles provides the copy of a chart folder that `helm package` would take:
// the chart's .helmignore and Helm's default rules apply, and charts/ is left out, since
// the copies (the release's package, the tests' and the demo's installs) get their
// dependency afresh. The copy keeps .helmignore, which helm package applies again.
package chartfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/ignore"
)

// Copy copies the chart in src into dst (created). A chart without .helmignore is copied
// under Helm's defaults alone. A file that is not regular (a symlink, a socket) is refused,
// since Helm would not package it as a file either.
func Copy(src, dst string) error {
	rules, err := ignore.ParseFile(filepath.Join(src, ignore.HelmIgnore))
	if errors.Is(err, fs.ErrNotExist) {
		rules, err = ignore.Parse(strings.NewReader(""))
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(src, ignore.HelmIgnore), err)
	}
	rules.AddDefaults()
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == "." {
			return os.MkdirAll(dst, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		skip := rules.Ignore(filepath.ToSlash(rel), info) || rel == "charts"
		switch {
		case skip && d.IsDir():
			return filepath.SkipDir
		case skip:
			return nil
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file: Helm would not package it as a file either; replace it with the file", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
}
