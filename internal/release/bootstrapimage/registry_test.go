package bootstrapimage

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

// testRegistry is the cluster instance's registry, trusted through its CA.
func testRegistry(t *testing.T) Registry {
	t.Helper()
	return clusterRegistry(t, clustertest.Get(t))
}

// clusterRegistry is the registry of the cluster c, trusted through its CA.
func clusterRegistry(tb testing.TB, c *cluster.Cluster) Registry {
	tb.Helper()
	g, err := NewRegistry(c.RegistryAddr()+"/"+Repository, c.CAFile(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.CloseIdleConnections)
	return g
}

// TestNewRegistryRefuses: a repository that is not host[:port]/path, or a CA file that
// cannot be read or holds no certificate, is an error before any request.
func TestNewRegistryRefuses(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, repository, caFile string }{
		{"upper case repository", "127.0.0.1:5000/Tracebloc/edge", ""},
		{"no path", "127.0.0.1:5000", ""},
		{"no registry", "tracebloc/edge", ""}, // strict: Docker Hub is never implied
		{"missing CA file", "127.0.0.1:5000/tracebloc/edge", filepath.Join(t.TempDir(), "none.crt")},
		{"CA file without a certificate", "127.0.0.1:5000/tracebloc/edge", notPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRegistry(tc.repository, tc.caFile, nil); err == nil {
				t.Errorf("NewRegistry(%q, %q) = nil error, want one", tc.repository, tc.caFile)
			}
		})
	}
}

// freshRelease is testRelease with a revision of its own, so that its digests are new
// to the registry, which keeps what earlier runs pushed.
func freshRelease(t *testing.T) Release {
	t.Helper()
	r := testRelease(t)
	rev := make([]byte, 20)
	if _, err := rand.Read(rev); err != nil {
		t.Fatal(err)
	}
	r.Revision = hex.EncodeToString(rev)
	return r
}

// TestPushSBOMReferrers: after a push, each platform's manifest lists its SBOM among
// its referrers, and the SBOM pulled back is the one built.
func TestPushSBOMReferrers(t *testing.T) {
	ctx := context.Background()
	g := testRegistry(t)
	b := assemble(t, freshRelease(t))
	pushed, err := Push(ctx, g, b, "v0.1.0")
	if err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	t.Logf("registry serves the referrers API: %v", pushed.ReferrersAPI)
	if want := digestOf(t, b.Index).String(); pushed.Index != want {
		t.Errorf("Push() index = %s, want %s", pushed.Index, want)
	}
	for i, pi := range b.Images {
		sboms, err := SBOMs(ctx, g, digestOf(t, pi.Image))
		if err != nil {
			t.Fatalf("SBOMs(%s) error = %v", pi.Platform, err)
		}
		if len(sboms) != 1 || !bytes.Equal(sboms[0], pi.SBOM) {
			t.Errorf("SBOMs(%s) = %d documents, want the one built (%d bytes)", pi.Platform, len(sboms), len(pi.SBOM))
		}
		if pushed.Manifests[i] != digestOf(t, pi.Image).String() {
			t.Errorf("Push() manifest %d = %s, want the %s image's", i, pushed.Manifests[i], pi.Platform)
		}
	}
	// The index as pulled by tag is the one built, with both platforms.
	idx, err := remote.Index(g.Repo.Tag("v0.1.0"), g.Options(ctx)...)
	if err != nil {
		t.Fatalf("pull the index: %v", err)
	}
	if d := digestOf(t, idx); d.String() != pushed.Index {
		t.Errorf("pulled index = %s, want %s", d, pushed.Index)
	}
}

// TestSignVerify: a signed index and SBOM manifest verify with the public key; another
// key, an unsigned image and a changed signature do not.
func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	g := testRegistry(t)
	key := releasetest.ECKey(t)
	b := assemble(t, freshRelease(t))
	pushed, err := Push(ctx, g, b, "v0.1.0-signed")
	if err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	for _, d := range []string{pushed.Index, pushed.SBOMs[0]} {
		h, _ := v1.NewHash(d)
		if _, err := Sign(ctx, g, rand.Reader, key, h); err != nil {
			t.Fatalf("Sign(%s) error = %v", d, err)
		}
		if err := Verify(ctx, g, &key.PublicKey, h); err != nil {
			t.Errorf("Verify(%s) with the signing key = %v, want nil", d, err)
		}
		if err := Verify(ctx, g, &releasetest.ECKey(t).PublicKey, h); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify(%s) with another key = %v, want ErrBadSignature", d, err)
		}
	}

	t.Run("unsigned", func(t *testing.T) {
		r := freshRelease(t)
		r.Version = "v0.1.0-unsigned"
		other := assemble(t, r)
		p, err := Push(ctx, g, other, r.Version)
		if err != nil {
			t.Fatalf("Push() error = %v", err)
		}
		h, _ := v1.NewHash(p.Index)
		if err := Verify(ctx, g, &key.PublicKey, h); !errors.Is(err, ErrUnsigned) {
			t.Errorf("Verify(unsigned %s) = %v, want ErrUnsigned", p.Index, err)
		}
	})

	t.Run("tampered signature", func(t *testing.T) {
		h, _ := v1.NewHash(pushed.Index)
		payload, err := Payload(g.Repo, h)
		if err != nil {
			t.Fatal(err)
		}
		sig := signBytes(t, key, payload)
		sig[len(sig)/2] ^= 0x01
		pushSignature(t, ctx, g, h, payload, sig)
		if err := Verify(ctx, g, &key.PublicKey, h); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify(%s) with a changed signature = %v, want ErrBadSignature", h, err)
		}
	})

	t.Run("signature of another image", func(t *testing.T) {
		// A valid signature whose payload names the SBOM's manifest, put under the
		// index's .sig tag, does not vouch for the index.
		idx, _ := v1.NewHash(pushed.Index)
		sbom, _ := v1.NewHash(pushed.SBOMs[0])
		payload, err := Payload(g.Repo, sbom)
		if err != nil {
			t.Fatal(err)
		}
		pushSignature(t, ctx, g, idx, payload, signBytes(t, key, payload))
		if err := Verify(ctx, g, &key.PublicKey, idx); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify(%s) with a signature of %s = %v, want ErrBadSignature", idx, sbom, err)
		}
	})
}

// signBytes is the raw DER signature of the payload, to be changed before encoding.
func signBytes(t *testing.T, key *ecdsa.PrivateKey, payload []byte) []byte {
	t.Helper()
	sig, err := blobsig.Sign(rand.Reader, key, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	der, err := base64.StdEncoding.DecodeString(string(sig))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pushSignature(t *testing.T, ctx context.Context, g Registry, d v1.Hash, payload, der []byte) {
	t.Helper()
	img, err := SignatureImage(payload, []byte(base64.StdEncoding.EncodeToString(der)))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(SignatureTag(g.Repo, d), img, g.Options(ctx)...); err != nil {
		t.Fatalf("push the signature: %v", err)
	}
}
