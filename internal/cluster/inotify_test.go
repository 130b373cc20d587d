package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRaiseInotifyLimits: a lower limit is raised, a higher one is left, and one that
// cannot be written is named with the sysctl command to run.
func TestRaiseInotifyLimits(t *testing.T) {
	dir := t.TempDir()
	low, high, readOnly := filepath.Join(dir, "low"), filepath.Join(dir, "high"), filepath.Join(dir, "ro", "limit")
	for file, v := range map[string]string{low: "128\n", high: "4096\n"} {
		if err := os.WriteFile(file, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(readOnly), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(readOnly, []byte("1\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	saved := inotifyLimits
	defer func() { inotifyLimits = saved }()
	inotifyLimits = map[string]int{low: 1024, high: 1024, readOnly: 8}
	var log bytes.Buffer
	raiseInotifyLimits(&log)

	for file, want := range map[string]string{low: "1024", high: "4096\n"} {
		if got, _ := os.ReadFile(file); string(got) != want {
			t.Errorf("%s = %q, want %q", filepath.Base(file), got, want)
		}
	}
	if os.Geteuid() != 0 { // root writes a 0444 file anyway
		if !strings.Contains(log.String(), "could not be raised to 8") || !strings.Contains(log.String(), "sysctl -w") {
			t.Errorf("no message naming the sysctl command for a read-only limit:\n%s", log.String())
		}
	}
}
