package chartrelease_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/bootstrapimage"
	"github.com/tracebloc/edge/internal/release/chartrelease"
	"github.com/tracebloc/edge/internal/release/releasetest"
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
	key, other := releasetest.ECKey(t), releasetest.ECKey(t)
	releasetest.WritePublicKey(t, filepath.Join(dir, "cosign.pub"), &key.PublicKey)
	releasetest.WritePublicKey(t, filepath.Join(dir, "other.pub"), &other.PublicKey)

	tgz, _ := packageChart(t, h, freshRelease(t), chart, dependency, nil)
	_, digest, err := chartrelease.Push(ctx, h.Bin, tgz, g, ca, h.Env())
	if err != nil {
		t.Fatal(err)
	}
	ref := repo.Name() + "@" + digest.String()
	out, err := releasetest.CosignVerify(t, dir, ca, "cosign.pub", ref)
	releasetest.WantRefused(t, "verify of the chart before signing", out, err, "no signatures found")
	if _, err := bootstrapimage.Sign(ctx, g, rand.Reader, key, digest); err != nil {
		t.Fatalf("Sign(%s) error = %v", ref, err)
	}
	if out, err := releasetest.CosignVerify(t, dir, ca, "cosign.pub", ref); err != nil {
		t.Errorf("cosign verify --key cosign.pub %s: %v\n%s", ref, err, out)
	}
	out, err = releasetest.CosignVerify(t, dir, ca, "other.pub", ref)
	releasetest.WantRefused(t, "verify --key of another key", out, err, "no matching signatures")
}
