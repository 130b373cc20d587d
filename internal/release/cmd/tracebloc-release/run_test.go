package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tracebloc/edge/internal/release/archives"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

// TestRelease makes a whole release twice from one commit: the files are the ones named,
// sha256sum -c accepts SHA256SUMS, its signature verifies against the public key (and
// not once SHA256SUMS changes), the plugin package verifies with Helm 4, and the second
// run's archives and SHA256SUMS are byte for byte the first's.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles six binaries and runs the Helm 4 CLI")
	}
	helm := releasetest.Helm4(t)
	src := releasetest.Source(t)
	work := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := blobsig.MarshalPrivateKey(key)
	keyFile := filepath.Join(work, "cosign.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	secring, pubring := releasetest.PGPKey(t, work, "Release Signer")
	release := func(out string) []string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"--version", "v0.4.0", "--out", out, "--repo", src,
			"--helm", helm, "--cosign-key", keyFile, "--plugin-key", "Release Signer", "--plugin-keyring", secring,
			"--mtime", "1767225600"}, &stdout, &stderr)
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

	var want []string
	for _, p := range archives.Platforms {
		want = append(want, filepath.Join(out1, archives.ArchiveName("v0.4.0", p)))
	}
	want = append(want, filepath.Join(out1, "tracebloc-0.4.0.tgz"), filepath.Join(out1, "tracebloc-0.4.0.tgz.prov"),
		filepath.Join(out1, "SHA256SUMS"), filepath.Join(out1, "SHA256SUMS.sig"))
	if !slices.Equal(listed, want) {
		t.Errorf("run listed\n%s\nwant\n%s", strings.Join(listed, "\n"), strings.Join(want, "\n"))
	}

	check := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
	check.Dir = out1
	if out, err := check.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 7 {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s\nwant 7 files OK", err, out)
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

	release(out2)
	for _, f := range want {
		if strings.HasSuffix(f, ".prov") || strings.HasSuffix(f, ".sig") {
			continue // signatures carry a fresh random nonce or date
		}
		a, _ := os.ReadFile(f)
		b, _ := os.ReadFile(filepath.Join(out2, filepath.Base(f)))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs on one commit", filepath.Base(f))
		}
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
		{"key without keyring", []string{"--version", "v1.0.0", "--plugin-key", "x", "--mtime", "1767225600"}, "go together"},
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
