package bootstrapimage

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

// TestCosignVerify checks Sign's signatures with the real cosign CLI, offline, in key-pair
// mode (the transparency log skipped, as it is for a key pair that never reached one):
// `cosign verify --key cosign.pub --insecure-ignore-tlog=true <image>@<digest>` passes for
// the signed index and fails for an unsigned push and for a signature of another key.
func TestCosignVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the cosign CLI and the local cluster's registry")
	}
	ctx := context.Background()
	g := testRegistry(t)
	ca := clustertest.Get(t).CAFile()
	key, other := releasetest.ECKey(t), releasetest.ECKey(t)
	dir := t.TempDir()
	releasetest.WritePublicKey(t, filepath.Join(dir, "cosign.pub"), &key.PublicKey)
	verify := func(d string) (string, error) {
		return releasetest.CosignVerify(t, dir, ca, "cosign.pub", g.Repo.Name()+"@"+d)
	}

	b := assemble(t, freshRelease(t))
	pushed, err := Push(ctx, g, b, "v0.1.0-cosign")
	if err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	idx, _ := v1.NewHash(pushed.Index)
	if _, err := Sign(ctx, g, rand.Reader, key, idx); err != nil {
		t.Fatalf("Sign(%s) error = %v", idx, err)
	}
	if out, err := verify(pushed.Index); err != nil {
		t.Errorf("cosign verify of the signed index: %v\n%s", err, out)
	}

	t.Run("unsigned", func(t *testing.T) {
		r := freshRelease(t)
		p, err := Push(ctx, g, assemble(t, r), "v0.1.0-cosign-unsigned")
		if err != nil {
			t.Fatalf("Push() error = %v", err)
		}
		out, err := verify(p.Index)
		releasetest.WantRefused(t, "verify of an unsigned index", out, err, "no signatures found")
	})

	t.Run("another key", func(t *testing.T) {
		p, err := Push(ctx, g, assemble(t, freshRelease(t)), "v0.1.0-cosign-other")
		if err != nil {
			t.Fatalf("Push() error = %v", err)
		}
		d, _ := v1.NewHash(p.Index)
		if _, err := Sign(ctx, g, rand.Reader, other, d); err != nil {
			t.Fatal(err)
		}
		out, err := verify(p.Index)
		releasetest.WantRefused(t, "verify --key of an index signed with another key", out, err, "no matching signatures")
	})
}
