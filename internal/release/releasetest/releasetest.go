// Package releasetest provides what the release packages' tests share: a copy of the
// repository's committed tree to build from, the Helm 4 CLI, an OpenPGP key pair and the
// tracebloc/client chart, and a package changed without breaking it (Recompress).
//
// The tests build the post-renderer from `git archive HEAD`, not from the working tree,
// because a release is made of a commit, and so that edits in progress elsewhere in the
// tree do not break the release tests; with -trimpath the go command's cache is shared.
package releasetest

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// Source exports the repository's HEAD into a new folder and returns it.
func Source(t testing.TB) string {
	t.Helper()
	root, err := clustertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := exec.Command("git", "-C", root, "archive", "--format=tar", "HEAD")
	var tarball, stderr bytes.Buffer
	archive.Stdout, archive.Stderr = &tarball, &stderr
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive HEAD: %v: %s", err, stderr.String())
	}
	extract := exec.Command("tar", "-x", "-C", dir)
	extract.Stdin, extract.Stderr = &tarball, &stderr
	if err := extract.Run(); err != nil {
		t.Fatalf("tar -x: %v: %s", err, stderr.String())
	}
	return dir
}

// Helm4 is the Helm 4 CLI of the tool cache.
func Helm4(t testing.TB) string {
	t.Helper()
	return clustertest.Tool(t, "helm4")
}

// PGPKey generates an OpenPGP key named name and writes its secret and public keyrings
// (binary, as gpg --export-secret-keys and gpg --export write them) into dir.
func PGPKey(t testing.TB, dir, name string) (secring, pubring string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "release test", name+"@example.com", &packet.Config{RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	var sec, pub bytes.Buffer
	if err := e.SerializePrivate(&sec, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	secring, pubring = filepath.Join(dir, "secring.gpg"), filepath.Join(dir, "pubring.gpg")
	if err := os.WriteFile(secring, sec.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubring, pub.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return secring, pubring
}

// ClientChart is the tracebloc/client chart packaged as the edge chart's dependency
// (chartdeps); a test that needs it is skipped in a plain clone, which has none.
func ClientChart(t testing.TB) string {
	t.Helper()
	return filepath.Join(chartdeps.DirWithClient(t), "charts", chartdeps.ClientArchive)
}

// Recompress is the .tgz at path with its tar compressed again with other settings: a
// valid package of other bytes, whose signed sum must no longer match, where a flipped
// byte would fail as a broken archive before any signature is read.
func Recompress(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zw.Comment = "recompressed"
	if _, err := io.Copy(zw, zr); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
