package bootstrapimage

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

const testSBOM = `{"spdxVersion": "SPDX-2.3", "name": "sbom"}`

func testSubject(t *testing.T) (name.Repository, v1.Hash) {
	t.Helper()
	repo, err := name.NewRepository("registry.example:5000/"+Repository, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	d, err := v1.NewHash("sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	return repo, d
}

// TestPAE: the pre-authentication encoding of the DSSE protocol's example.
func TestPAE(t *testing.T) {
	tests := []struct {
		name, payloadType, payload, want string
	}{
		{"protocol example", "http://example.com/HelloWorld", "hello world", "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{"empty", "", "", "DSSEv1 0  0 "},
		{"lengths in bytes", "t", "é", "DSSEv1 1 t 2 é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(PAE(tt.payloadType, []byte(tt.payload))); got != tt.want {
				t.Errorf("PAE(%q, %q) = %q, want %q", tt.payloadType, tt.payload, got, tt.want)
			}
		})
	}
}

// TestSBOMStatement: the statement names the manifest by its repository and digest, has
// the SPDX predicate type and the document as its predicate.
func TestSBOMStatement(t *testing.T) {
	repo, d := testSubject(t)
	got, err := SBOMStatement(repo, d, []byte(testSBOM))
	if err != nil {
		t.Fatalf("SBOMStatement() error = %v", err)
	}
	var s map[string]any
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://spdx.dev/Document",
		"subject": []any{map[string]any{
			"name":   "registry.example:5000/tracebloc/edge-bootstrap",
			"digest": map[string]any{"sha256": strings.Repeat("ab", 32)},
		}},
		"predicate": map[string]any{"spdxVersion": "SPDX-2.3", "name": "sbom"},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("SBOMStatement() (-want +got):\n%s", diff)
	}
	if _, err := SBOMStatement(repo, d, []byte("SPDXVersion: SPDX-2.3")); err == nil {
		t.Errorf("SBOMStatement(tag-value SBOM) error = nil, want one: cosign's spdxjson predicate is JSON")
	}
}

// TestSignEnvelope: the envelope carries the in-toto type, the payload in standard
// base64 and one signature without key id that is ECDSA over the SHA-256 of the PAE
// (checked here with crypto/ecdsa alone); OpenEnvelope accepts it with the key only.
func TestSignEnvelope(t *testing.T) {
	key := releasetest.ECKey(t)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`)
	env, err := SignEnvelope(rand.Reader, key, InTotoPayloadType, payload)
	if err != nil {
		t.Fatalf("SignEnvelope() error = %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(env, &raw); err != nil {
		t.Fatal(err)
	}
	sigs, _ := raw["signatures"].([]any)
	if len(sigs) != 1 {
		t.Fatalf("SignEnvelope() signatures = %v, want one", raw["signatures"])
	}
	sig0, _ := sigs[0].(map[string]any)
	if keyid, ok := sig0["keyid"]; !ok || keyid != "" {
		t.Errorf("SignEnvelope() keyid = %v (present %v), want \"\" as cosign writes for a key pair", keyid, ok)
	}
	if raw["payloadType"] != "application/vnd.in-toto+json" {
		t.Errorf("SignEnvelope() payloadType = %v, want application/vnd.in-toto+json", raw["payloadType"])
	}
	if raw["payload"] != base64.StdEncoding.EncodeToString(payload) {
		t.Errorf("SignEnvelope() payload = %v, want the standard base64 of the statement", raw["payload"])
	}
	der, err := base64.StdEncoding.DecodeString(sig0["sig"].(string))
	if err != nil {
		t.Fatalf("SignEnvelope() sig is not base64: %v", err)
	}
	pae := sha256.Sum256([]byte("DSSEv1 28 application/vnd.in-toto+json " + "45 " + string(payload)))
	if !ecdsa.VerifyASN1(&key.PublicKey, pae[:], der) {
		t.Errorf("SignEnvelope() sig is not the key's ECDSA signature of SHA-256(PAE)")
	}

	if got, err := OpenEnvelope(&key.PublicKey, env); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("OpenEnvelope(signing key) = %q, %v; want the payload", got, err)
	}
	if _, err := OpenEnvelope(&releasetest.ECKey(t).PublicKey, env); !errors.Is(err, ErrNotAttested) {
		t.Errorf("OpenEnvelope(another key) error = %v, want ErrNotAttested", err)
	}
	// The PAE binds the payload type: the same signature under another type fails.
	var e Envelope
	_ = json.Unmarshal(env, &e)
	e.PayloadType = "application/json"
	retyped, _ := json.Marshal(e)
	if _, err := OpenEnvelope(&key.PublicKey, retyped); !errors.Is(err, ErrNotAttested) {
		t.Errorf("OpenEnvelope(another payload type) error = %v, want ErrNotAttested", err)
	}
	_ = json.Unmarshal(env, &e)
	e.Payload = base64.StdEncoding.EncodeToString(append(payload, ' '))
	changed, _ := json.Marshal(e)
	if _, err := OpenEnvelope(&key.PublicKey, changed); !errors.Is(err, ErrNotAttested) {
		t.Errorf("OpenEnvelope(changed payload) error = %v, want ErrNotAttested", err)
	}
}

// TestAttestationLayer: the layer's media type and annotations are the ones cosign
// attest writes and verify-attestation --type filters by.
func TestAttestationLayer(t *testing.T) {
	add := AttestationLayer([]byte("{}"))
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), add)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Layers[0].MediaType; got != "application/vnd.dsse.envelope.v1+json" {
		t.Errorf("AttestationLayer() media type = %s, want application/vnd.dsse.envelope.v1+json", got)
	}
	want := map[string]string{"predicateType": "https://spdx.dev/Document", "dev.cosignproject.cosign/signature": ""}
	if diff := cmp.Diff(want, m.Layers[0].Annotations); diff != "" {
		t.Errorf("AttestationLayer() annotations (-want +got):\n%s", diff)
	}
}

// attestAll attests the index with every platform's SBOM and each platform's manifest
// with its own, as the release does.
func attestAll(t *testing.T, ctx context.Context, g Registry, key *ecdsa.PrivateKey, b *Built) (index string) {
	t.Helper()
	idx := digestOf(t, b.Index)
	for _, pi := range b.Images {
		var err error
		if index, err = Attest(ctx, g, rand.Reader, key, idx, pi.SBOM); err != nil {
			t.Fatalf("Attest(index, %s SBOM) error = %v", pi.Platform, err)
		}
		if _, err := Attest(ctx, g, rand.Reader, key, digestOf(t, pi.Image), pi.SBOM); err != nil {
			t.Fatalf("Attest(%s) error = %v", pi.Platform, err)
		}
	}
	return index
}

// TestAttest: after Attest the index carries one verified SBOM per platform and each
// manifest its own; attesting again adds nothing; an unattested index, another key and
// an attestation of another image under this one's tag give ErrNotAttested.
func TestAttest(t *testing.T) {
	ctx := context.Background()
	g := testRegistry(t)
	key := releasetest.ECKey(t)
	b := assemble(t, freshRelease(t))
	pushed, err := Push(ctx, g, b, "v0.1.0-attest")
	if err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	first := attestAll(t, ctx, g, key, b)
	idx := digestOf(t, b.Index)

	got, err := AttestedSBOMs(ctx, g, &key.PublicKey, idx)
	if err != nil {
		t.Fatalf("AttestedSBOMs(index) error = %v", err)
	}
	var want [][]byte
	for _, pi := range b.Images {
		want = append(want, compact(t, pi.SBOM))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AttestedSBOMs(index) (-want +got):\n%s", diff)
	}
	for i, pi := range b.Images {
		h, _ := v1.NewHash(pushed.Manifests[i])
		got, err := AttestedSBOMs(ctx, g, &key.PublicKey, h)
		if err != nil || len(got) != 1 || !bytes.Equal(got[0], compact(t, pi.SBOM)) {
			t.Errorf("AttestedSBOMs(%s) = %d documents, %v; want its own SBOM", pi.Platform, len(got), err)
		}
	}

	if again := attestAll(t, ctx, g, key, b); again != first {
		t.Errorf("Attest() again = %s, want the unchanged %s", again, first)
	}
	if _, err := AttestedSBOMs(ctx, g, &releasetest.ECKey(t).PublicKey, idx); !errors.Is(err, ErrNotAttested) {
		t.Errorf("AttestedSBOMs(another key) error = %v, want ErrNotAttested", err)
	}

	other := assemble(t, freshRelease(t))
	if _, err := Push(ctx, g, other, "v0.1.0-attest-other"); err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	oidx := digestOf(t, other.Index)
	if _, err := AttestedSBOMs(ctx, g, &key.PublicKey, oidx); !errors.Is(err, ErrNotAttested) {
		t.Errorf("AttestedSBOMs(unattested) error = %v, want ErrNotAttested", err)
	}
	// The first index's attestations copied under the other index's tag name the first.
	copyAttestations(t, ctx, g, idx, oidx)
	if _, err := AttestedSBOMs(ctx, g, &key.PublicKey, oidx); !errors.Is(err, ErrNotAttested) {
		t.Errorf("AttestedSBOMs(attestations of another image) error = %v, want ErrNotAttested", err)
	}
}

// TestCosignVerifyAttestation checks Attest with the real cosign CLI, offline:
// `cosign verify-attestation --key cosign.pub --type spdxjson --insecure-ignore-tlog=true
// <repo>@<index digest>` passes after Attest and prints one attestation per platform; it
// fails for another key, for an index without attestation and for another image's
// attestations under the index's tag.
func TestCosignVerifyAttestation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the cosign CLI and the local cluster's registry")
	}
	ctx := context.Background()
	g := testRegistry(t)
	ca := clustertest.Get(t).CAFile()
	key, other := releasetest.ECKey(t), releasetest.ECKey(t)
	dir := t.TempDir()
	releasetest.WritePublicKey(t, filepath.Join(dir, "cosign.pub"), &key.PublicKey)
	releasetest.WritePublicKey(t, filepath.Join(dir, "other.pub"), &other.PublicKey)
	verify := func(pub string, d v1.Hash) (string, error) {
		return releasetest.CosignVerify(t, dir, ca, pub, g.Repo.Name()+"@"+d.String(), "verify-attestation", "--type", "spdxjson")
	}

	b := assemble(t, freshRelease(t))
	if _, err := Push(ctx, g, b, "v0.1.0-cosign-attest"); err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	attestAll(t, ctx, g, key, b)
	idx := digestOf(t, b.Index)
	out, err := verify("cosign.pub", idx)
	if err != nil {
		t.Fatalf("cosign verify-attestation of the attested index: %v\n%s", err, out)
	}
	if n := strings.Count(out, `"payloadType":"application/vnd.in-toto+json"`); n != len(Platforms) {
		t.Errorf("cosign verify-attestation of the index printed %d attestations, want %d (one per platform):\n%s", n, len(Platforms), out)
	}
	if out, err := verify("cosign.pub", digestOf(t, b.Images[0].Image)); err != nil {
		t.Errorf("cosign verify-attestation of the %s manifest: %v\n%s", b.Images[0].Platform, err, out)
	}

	t.Run("another key", func(t *testing.T) {
		out, err := verify("other.pub", idx)
		releasetest.WantRefused(t, "verify-attestation --key of another key", out, err, "accepted signatures do not match threshold")
	})

	t.Run("no attestation", func(t *testing.T) {
		o := assemble(t, freshRelease(t))
		if _, err := Push(ctx, g, o, "v0.1.0-cosign-unattested"); err != nil {
			t.Fatalf("Push() error = %v", err)
		}
		out, err := verify("cosign.pub", digestOf(t, o.Index))
		releasetest.WantRefused(t, "verify-attestation of an index without attestation", out, err, "no matching attestations")
	})

	t.Run("attestations of another image", func(t *testing.T) {
		o := assemble(t, freshRelease(t))
		if _, err := Push(ctx, g, o, "v0.1.0-cosign-copied"); err != nil {
			t.Fatalf("Push() error = %v", err)
		}
		copyAttestations(t, ctx, g, idx, digestOf(t, o.Index))
		out, err := verify("cosign.pub", digestOf(t, o.Index))
		releasetest.WantRefused(t, "verify-attestation with another index's attestations", out, err, "no matching subject digest found")
	})
}

// copyAttestations puts the attestations of from under the .att tag of to.
func copyAttestations(t *testing.T, ctx context.Context, g Registry, from, to v1.Hash) {
	t.Helper()
	img, err := remote.Image(AttestationTag(g.Repo, from), g.Options(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(AttestationTag(g.Repo, to), img, g.Options(ctx)...); err != nil {
		t.Fatal(err)
	}
}

func compact(t *testing.T, doc []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
