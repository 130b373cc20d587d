package chartrelease_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/bootstrapimage"
	"github.com/tracebloc/edge/internal/release/chartrelease"
)

// TestCosignVerifyChart signs the pushed chart's manifest with bootstrapimage.Sign (the
// cosign key-pair format, on <registry>/tracebloc/charts/edge) and checks it with the real
// cosign CLI offline: verify --key passes, and fails for another key and for a chart
// pushed without a signature.
func TestCosignVerifyChart(t *testing.T) {
	chart, dependency := sources(t)
	c := clustertest.Get(t)
	h := newHelm(t)
	ca := c.CAFile()
	ctx := context.Background()
	g := chartRegistry(t, c)
	repo := g.Repo

	dir := t.TempDir()
	key, other := ecKey(t), ecKey(t)
	writePEM(t, filepath.Join(dir, "cosign.pub"), &key.PublicKey)
	writePEM(t, filepath.Join(dir, "other.pub"), &other.PublicKey)

	tgz, _ := packageChart(t, h, freshRelease(t), chart, dependency, nil)
	_, digest, err := chartrelease.Push(ctx, h.bin, tgz, g, ca, h.env())
	if err != nil {
		t.Fatal(err)
	}
	ref := repo.Name() + "@" + digest.String()
	if out, err := cosignVerify(t, dir, ca, "cosign.pub", ref); err == nil {
		t.Errorf("cosign verify of the chart before signing passed:\n%s", out)
	}
	if _, err := bootstrapimage.Sign(ctx, g, rand.Reader, key, digest); err != nil {
		t.Fatalf("Sign(%s) error = %v", ref, err)
	}
	if out, err := cosignVerify(t, dir, ca, "cosign.pub", ref); err != nil {
		t.Errorf("cosign verify --key cosign.pub %s: %v\n%s", ref, err, out)
	}
	if out, err := cosignVerify(t, dir, ca, "other.pub", ref); err == nil {
		t.Errorf("cosign verify --key of another key passed:\n%s", out)
	}
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path string, pub *ecdsa.PublicKey) {
	t.Helper()
	data, err := blobsig.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)
}

// cosignVerify runs the real cosign verify offline (transparency log skipped) against
// the instance's registry, trusted through --registry-cacert.
func cosignVerify(t *testing.T, dir, ca, pub, ref string) (string, error) {
	t.Helper()
	cmd := exec.Command(clustertest.Tool(t, "cosign"), "verify", "--key", pub, "--insecure-ignore-tlog=true", "--registry-cacert", ca, ref)
	cmd.Dir = dir
	home := t.TempDir()
	// A TUF mirror on loopback with no cached root keeps cosign from looking up its public
	// TUF repository (it warns and goes on): the key-pair checks need no trusted root.
	cmd.Env = []string{"HOME=" + home, "TUF_ROOT=" + filepath.Join(home, "tuf"), "TUF_MIRROR=http://127.0.0.1:9", "PATH=/usr/bin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
