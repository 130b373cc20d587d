package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/archives"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

// TestRelease makes a whole release (without a registry) twice from one commit: the files
// are the ones named, sha256sum -c accepts SHA256SUMS, its signature verifies against
// the public key (and not once SHA256SUMS changes), the plugin package verifies with
// Helm 4 and the chart with Helm 3, the chart's defaults and the shipped post-renderer's
// pins name the image's digest, and the second run's archives, image and SHA256SUMS are
// byte for byte the first's.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles eight binaries and runs the Helm CLIs")
	}
	helm := releasetest.Helm4(t)
	helm3 := clustertest.Tool(t, "helm")
	client := releasetest.ClientChart(t)
	src := releasetest.Source(t)
	work := t.TempDir()
	key := releasetest.ECKey(t)
	keyPEM, _ := blobsig.MarshalPrivateKey(key)
	keyFile := filepath.Join(work, "cosign.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	secring, pubring := releasetest.PGPKey(t, work, "Release Signer")
	release := func(out string) []string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"--version", "v0.4.0", "--out", out, "--repo", src, "--worktree",
			"--revision", "0123456789abcdef0123456789abcdef01234567",
			"--helm4", helm, "--helm", helm3, "--client-chart", client, "--cosign-key", keyFile,
			"--pgp-key", "Release Signer", "--pgp-keyring", secring, "--mtime", "1767225600"}, &stdout, &stderr)
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
		if strings.Contains(stderr.String(), string(keyPEM)) {
			t.Errorf("the signing key reached stderr")
		}
		return strings.Fields(stdout.String())
	}
	out1, out2 := filepath.Join(work, "dist1"), filepath.Join(work, "dist2")
	listed := release(out1)

	want := []string{filepath.Join(out1, "cosign.pub"),
		filepath.Join(out1, "sbom-linux-amd64.spdx.json"), filepath.Join(out1, "sbom-linux-arm64.spdx.json")}
	for _, p := range archives.Platforms {
		want = append(want, filepath.Join(out1, archives.ArchiveName("v0.4.0", p)))
	}
	want = append(want, filepath.Join(out1, "tracebloc-0.4.0.tgz"), filepath.Join(out1, "tracebloc-0.4.0.tgz.prov"),
		filepath.Join(out1, "edge-0.4.0.tgz"), filepath.Join(out1, "edge-0.4.0.tgz.prov"),
		filepath.Join(out1, "SHA256SUMS"), filepath.Join(out1, "SHA256SUMS.sig"), filepath.Join(out1, "artifacts.txt"))
	if !slices.Equal(listed, want) {
		t.Errorf("run listed\n%s\nwant\n%s", strings.Join(listed, "\n"), strings.Join(want, "\n"))
	}

	check := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
	check.Dir = out1
	if out, err := check.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 10 {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s\nwant 10 files OK", err, out)
	}

	sums, _ := os.ReadFile(filepath.Join(out1, "SHA256SUMS"))
	sig, _ := os.ReadFile(filepath.Join(out1, "SHA256SUMS.sig"))
	if err := blobsig.Verify(&key.PublicKey, bytes.NewReader(sums), sig); err != nil {
		t.Errorf("SHA256SUMS.sig: %v", err)
	}
	changed := bytes.Replace(sums, []byte("tracebloc-0.4.0.tgz"), []byte("tracebloc-0.4.1.tgz"), 1)
	if err := blobsig.Verify(&key.PublicKey, bytes.NewReader(changed), sig); !errors.Is(err, blobsig.ErrBadSignature) {
		t.Errorf("SHA256SUMS.sig over a changed SHA256SUMS: %v, want ErrBadSignature", err)
	}

	verify := exec.Command(helm, "plugin", "verify", filepath.Join(out1, "tracebloc-0.4.0.tgz"), "--keyring", pubring)
	verify.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := verify.CombinedOutput(); err != nil {
		t.Errorf("helm plugin verify: %v\n%s", err, out)
	}

	verifyChart := exec.Command(helm3, "verify", filepath.Join(out1, "edge-0.4.0.tgz"), "--keyring", pubring)
	verifyChart.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := verifyChart.CombinedOutput(); err != nil {
		t.Errorf("helm verify edge-0.4.0.tgz: %v\n%s", err, out)
	}
	assertPinned(t, helm3, out1)

	release(out2)
	for _, f := range want {
		switch {
		case strings.HasSuffix(f, ".prov") || strings.HasSuffix(f, ".sig"):
			continue // signatures carry a fresh random nonce or date
		case strings.HasSuffix(f, "edge-0.4.0.tgz") || strings.HasSuffix(f, "SHA256SUMS") || strings.HasSuffix(f, "cosign.pub"):
			continue // helm package dates the chart's entries now; so SHA256SUMS differs too; cosign.pub is the test's key
		}
		a, _ := os.ReadFile(f)
		b, _ := os.ReadFile(filepath.Join(out2, filepath.Base(f)))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs on one commit", filepath.Base(f))
		}
	}
}

// assertPinned checks that the digest of the release's image (artifacts.txt) is the
// packaged chart's default and in the pins of the shipped post-renderer.
func assertPinned(t *testing.T, helm3, dist string) {
	t.Helper()
	list, err := os.ReadFile(filepath.Join(dist, "artifacts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var digest string
	for _, line := range strings.Split(string(list), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "image" {
			digest = f[2]
		}
	}
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("artifacts.txt lists no image digest:\n%s", list)
	}
	values, err := exec.Command(helm3, "show", "values", filepath.Join(dist, "edge-0.4.0.tgz")).Output()
	if err != nil || !strings.Contains(string(values), `digest: "`+digest+`"`) {
		t.Errorf("the chart's values (%v) do not pin the bootstrap to %s", err, digest)
	}
	chart, err := exec.Command(helm3, "show", "chart", filepath.Join(dist, "edge-0.4.0.tgz")).Output()
	if err != nil || !strings.Contains(string(chart), "appVersion: 0.4.0") || !strings.Contains(string(chart), "version: 0.4.0") {
		t.Errorf("the chart (%v) is not version 0.4.0 with appVersion 0.4.0:\n%s", err, chart)
	}
	bin := filepath.Join(dist, "build", "linux-amd64", archives.BinaryName)
	render := exec.Command(bin, "--offline", "--cluster-id", "c1")
	render.Stdin = strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: n\nspec:\n  containers:\n  - name: b\n    image: ghcr.io/tracebloc/edge-bootstrap:0.4.0\n")
	if out, err := render.CombinedOutput(); err != nil || !strings.Contains(string(out), "ghcr.io/tracebloc/edge-bootstrap@"+digest) {
		t.Errorf("the shipped post-renderer (%v) does not pin the bootstrap:0.4.0 to %s:\n%s", err, digest, out)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no version", []string{"--mtime", "1767225600"}, "--version is required"},
		{"not semver", []string{"--version", "a2a6208-dirty", "--mtime", "1767225600"}, "not semver"},
		{"bad platform", []string{"--version", "v1.0.0", "--platforms", "linux", "--mtime", "1767225600"}, "want os/arch"},
		{"key without keyring", []string{"--version", "v1.0.0", "--pgp-key", "x", "--mtime", "1767225600"}, "go together"},
		{"passphrase without key", []string{"--version", "v1.0.0", "--pgp-passphrase-file", "p", "--mtime", "1767225600"}, "pass --pgp-key"},
		{"mtime before zip", []string{"--version", "v1.0.0", "--mtime", "0"}, "from 1980 on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, new(bytes.Buffer))
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseFlags(%q) = %v, want a usage error with %q", tc.args, err, tc.wantErr)
			}
		})
	}
}
