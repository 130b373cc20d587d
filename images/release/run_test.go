package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/bootstrapimage"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "nothing", wantErr: "missing --version, --revision, --registry, --out"},
		{name: "no registry", args: []string{"--version", "v1", "--revision", "abc", "--out", "d"}, wantErr: "missing --registry"},
		{name: "complete", args: []string{"--version", "v1", "--revision", "abc", "--out", "d", "--registry", "127.0.0.1:5000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, &bytes.Buffer{})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("parseFlags(%q) = %v, want error %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

// TestRun: the command pushes the index to the cluster's registry, prints its digests,
// and signs it with the key so that the printed public key verifies it.
func TestRun(t *testing.T) {
	c := clustertest.Get(t)
	src := releasetest.Source(t)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := blobsig.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "cosign.key")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "dist")
	var stdout, stderr bytes.Buffer
	args := []string{"--version", "v0.1.0-run", "--revision", strings.Repeat("a", 40), "--registry", c.RegistryAddr(),
		"--registry-ca", c.CAFile(), "--key", keyFile, "--out", out, "--source", src}
	env := map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := run(context.Background(), args, lookup, &stdout, &stderr); err != nil {
		t.Fatalf("run() error = %v\n%s", err, stderr.String())
	}
	t.Logf("stdout:\n%s", stdout.String())
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		f := strings.Fields(line)
		fields[strings.Join(f[:len(f)-1], " ")] = f[len(f)-1]
	}
	for _, k := range []string{"index", "manifest linux/amd64", "manifest linux/arm64", "sbom linux/amd64", "sbom linux/arm64", "referrers"} {
		if fields[k] == "" {
			t.Errorf("run() printed no %q line", k)
		}
	}
	pub, err := os.ReadFile(filepath.Join(out, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pubKey, err := blobsig.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bootstrapimage.RegistryTransport(c.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(c.RegistryAddr() + "/" + bootstrapimage.Repository)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := v1.NewHash(fields["index"])
	if err != nil {
		t.Fatalf("index line %q: %v", fields["index"], err)
	}
	if err := bootstrapimage.Verify(context.Background(), bootstrapimage.Registry{Repo: repo, Transport: tr}, pubKey, idx); err != nil {
		t.Errorf("Verify(printed index) with the written cosign.pub = %v, want nil", err)
	}
	if _, err := os.Stat(filepath.Join(out, "sbom-linux-arm64.spdx.json")); err != nil {
		t.Errorf("run() wrote no arm64 SBOM: %v", err)
	}
}
