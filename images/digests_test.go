package images

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// zeroDigestRE is the all-zero sha256 digest, which stood for "not known yet" once.
var zeroDigestRE = regexp.MustCompile(`sha256:0{64}`)

// TestNoZeroDigest: no committed file holds the all-zero sha256 digest. A digest the
// project does not know is left out (images.yaml) or unpinned (the Dockerfile), and the
// release writes the bootstrap's real one into what it publishes.
func TestNoZeroDigest(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git work tree (%v): nothing to list", err)
	}
	root := strings.TrimSpace(string(out))
	files, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var found []string
	for _, name := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		found = append(found, zeroDigests(t, root, name)...)
	}
	if len(found) > 0 {
		t.Errorf("committed files hold the all-zero digest, which no image has: remove the pin (or the @sha256 part of the reference) or write the real digest, and build a test's all-zero digest with strings.Repeat:\n%s", strings.Join(found, "\n"))
	}
}

// zeroDigests lists file:line of each all-zero digest in the committed file name.
func zeroDigests(t *testing.T, root, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, name))
	if os.IsNotExist(err) {
		return nil // deleted in the work tree, not yet committed
	}
	if err != nil {
		if info, statErr := os.Stat(filepath.Join(root, name)); statErr == nil && info.IsDir() {
			return nil // a submodule
		}
		t.Fatalf("read %s: %v", name, err)
	}
	if !zeroDigestRE.Match(data) {
		return nil
	}
	var at []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		if zeroDigestRE.Match(sc.Bytes()) {
			at = append(at, name+":"+strconv.Itoa(n))
		}
	}
	return at
}
