// Package releasetest provides what the release packages' tests share: a copy of the
// repository's committed tree to build from, the Helm 4 CLI, an OpenPGP key pair, the
// tracebloc/client chart, a package changed without breaking it (Recompress) and the
// files of one (TarFiles), and the real cosign CLI run offline with a P-256 key pair
// (Cosign, CosignVerify, ECKey).
//
// The tests build the post-renderer from `git archive HEAD`, not from the working tree,
// because a release is made of a commit, and so that edits in progress elsewhere in the
// tree do not break the release tests; with -trimpath the go command's cache is shared.
package releasetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/blobsig"
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
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zw.Comment = "recompressed"
	if _, err := io.Copy(zw, gunzip(t, path)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TarFiles lists the regular files of the .tgz at path.
func TarFiles(t testing.TB, path string) map[string]bool {
	t.Helper()
	tr := tar.NewReader(gunzip(t, path))
	files := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			files[hdr.Name] = true
		}
	}
}

// gunzip reads the gzip file at path, which the test's cleanup closes.
func gunzip(t testing.TB, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

// ECKey is a new P-256 key, the kind cosign's key pairs hold.
func ECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// WritePublicKey writes pub in cosign.pub's form, a PEM "PUBLIC KEY" (PKIX) block.
func WritePublicKey(t testing.TB, path string, pub *ecdsa.PublicKey) {
	t.Helper()
	pem, err := blobsig.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Cosign runs the real cosign CLI of the tool cache in dir, offline: a home of its own,
// no proxy, the environment env added (COSIGN_PASSWORD for the key files it writes). A
// TUF mirror on loopback with no cached root keeps cosign from looking up its public TUF
// repository (it warns and goes on): the key-pair checks need no trusted root.
func Cosign(t testing.TB, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(clustertest.Tool(t, "cosign"), args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append([]string{"HOME=" + home, "TUF_ROOT=" + filepath.Join(home, "tuf"), "TUF_MIRROR=http://127.0.0.1:9", "PATH=/usr/bin:/bin"}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// CosignVerify runs `cosign verify --key pub` of ref (transparency log skipped, as it is
// for a key pair that never reached one) against a registry trusted through the CA file
// ca; command, when given, replaces verify (verify-attestation --type spdxjson). A pass
// that does not say the key verified the signatures fails the test.
func CosignVerify(t testing.TB, dir, ca, pub, ref string, command ...string) (string, error) {
	t.Helper()
	if len(command) == 0 {
		command = []string{"verify"}
	}
	args := append(command[:len(command):len(command)], "--key", pub, "--insecure-ignore-tlog=true", "--registry-cacert", ca, ref)
	out, err := Cosign(t, dir, nil, args...)
	if err == nil && !strings.Contains(out, "The signatures were verified against the specified public key") {
		t.Errorf("cosign %s %s passed without saying the key verified the signatures:\n%s", command[0], ref, out)
	}
	return out, err
}

// WantRefused fails the test unless cosign failed (err) for the reason given, which its
// output out must say: a check that fails for any other reason (the registry's TLS, a
// wrong reference) proves nothing about the signatures.
func WantRefused(t testing.TB, what, out string, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Errorf("cosign %s passed:\n%s", what, out)
	} else if !strings.Contains(out, reason) {
		t.Errorf("cosign %s failed (%v) without saying %q:\n%s", what, err, reason, out)
	}
}

// Helm is a Helm CLI with homes of its own (HOME, Helm's data, config and cache folders,
// TMPDIR), so that a test sees none of the machine's repositories, plugins or registry
// logins.
type Helm struct {
	Bin, Home string
	// Path is the PATH the CLI runs with (a post-renderer or plugin command is looked up
	// there); default /usr/bin:/bin.
	Path string
	t    testing.TB
}

// NewHelm returns the Helm CLI bin with fresh homes.
func NewHelm(t testing.TB, bin string) *Helm {
	return &Helm{Bin: bin, Home: t.TempDir(), Path: "/usr/bin:/bin", t: t}
}

// Env is the CLI's whole environment.
func (h *Helm) Env() []string {
	return []string{
		"HOME=" + h.Home, "PATH=" + h.Path,
		"HELM_DATA_HOME=" + filepath.Join(h.Home, "data"), "HELM_CONFIG_HOME=" + filepath.Join(h.Home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(h.Home, "cache"), "TMPDIR=" + h.t.TempDir(),
	}
}

// Run runs the CLI with args and returns its stdout and stderr together.
func (h *Helm) Run(args ...string) (string, error) {
	h.t.Helper()
	cmd := exec.Command(h.Bin, args...)
	cmd.Env = h.Env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
