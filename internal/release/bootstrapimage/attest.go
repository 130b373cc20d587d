package bootstrapimage

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tracebloc/edge/internal/release/blobsig"
)

// cosign's attestation format, as `cosign attest --key --type spdxjson` writes it and
// `cosign verify-attestation --key --type spdxjson` reads it: an image tagged
// sha256-<hex>.att next to the attested manifest, one layer per attestation. A layer is a
// DSSE envelope (secure-systems-lab's DSSE v1) of an in-toto Statement v0.1 whose subject
// is the manifest's digest and whose predicate is the SPDX document; its annotations are
// the statement's predicate type and an empty cosign signature (the signature is inside
// the envelope). The envelope's signature is the key pair's: ECDSA P-256, ASN.1 DER, over
// the SHA-256 of the DSSE pre-authentication encoding (PAE), base64.
const (
	DSSEMediaType     = "application/vnd.dsse.envelope.v1+json"
	InTotoPayloadType = "application/vnd.in-toto+json"
	StatementType     = "https://in-toto.io/Statement/v0.1"
	SPDXPredicateType = "https://spdx.dev/Document"
	// PredicateTypeAnnotation is the layer annotation cosign filters attestations by.
	PredicateTypeAnnotation = "predicateType"
)

// ErrNotAttested means the registry holds no attestation of the manifest that verifies
// with the public key.
var ErrNotAttested = errors.New("no SBOM attestation of the image verifies with the public key: attest it (make release does), or check that it was attested with this key")

// Statement is an in-toto Statement v0.1.
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []Subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is what a statement is about: a name and its digests by algorithm.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Envelope is a DSSE envelope: the payload and its type, and the signatures over their
// PAE. Payload and Sig are standard base64.
type Envelope struct {
	PayloadType string              `json:"payloadType"`
	Payload     string              `json:"payload"`
	Signatures  []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one signature of an envelope; a key pair's has no key id.
type EnvelopeSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// AttestationTag is where cosign keeps the attestations of a manifest.
func AttestationTag(repo name.Repository, d v1.Hash) name.Tag {
	return repo.Tag(d.Algorithm + "-" + d.Hex + ".att")
}

// SBOMStatement is the statement that the SPDX JSON document describes the manifest d of
// the repository, as cosign attest makes it: one subject named by the repository.
func SBOMStatement(repo name.Repository, d v1.Hash, sbom []byte) ([]byte, error) {
	if !json.Valid(sbom) {
		return nil, errors.New("the SBOM is not JSON: attest the SPDX JSON document the build wrote")
	}
	return json.Marshal(Statement{
		Type:          StatementType,
		PredicateType: SPDXPredicateType,
		Subject:       []Subject{{Name: repo.Name(), Digest: map[string]string{d.Algorithm: d.Hex}}},
		Predicate:     sbom,
	})
}

// PAE is DSSE's pre-authentication encoding of a payload, what the signatures cover:
// "DSSEv1", then the type and the payload, each after its length in bytes, separated by
// spaces.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// SignEnvelope wraps the payload in a DSSE envelope signed with the key.
func SignEnvelope(rand io.Reader, key *ecdsa.PrivateKey, payloadType string, payload []byte) ([]byte, error) {
	sig, err := blobsig.Sign(rand, key, bytes.NewReader(PAE(payloadType, payload)))
	if err != nil {
		return nil, err
	}
	return json.Marshal(Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []EnvelopeSignature{{Sig: string(sig)}},
	})
}

// OpenEnvelope returns the payload of an in-toto envelope one of whose signatures
// verifies with the public key; ErrNotAttested when none does.
func OpenEnvelope(pub *ecdsa.PublicKey, envelope []byte) ([]byte, error) {
	var e Envelope
	if err := json.Unmarshal(envelope, &e); err != nil {
		return nil, fmt.Errorf("read the DSSE envelope: %w", err)
	}
	if e.PayloadType != InTotoPayloadType {
		return nil, fmt.Errorf("the DSSE envelope holds %q, want %q: %w", e.PayloadType, InTotoPayloadType, ErrNotAttested)
	}
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("the DSSE payload is not base64: %w", err)
	}
	pae := PAE(e.PayloadType, payload)
	for _, s := range e.Signatures {
		if blobsig.Verify(pub, bytes.NewReader(pae), []byte(s.Sig)) == nil {
			return payload, nil
		}
	}
	return nil, ErrNotAttested
}

// AttestationLayer is the layer cosign attest adds for one envelope.
func AttestationLayer(envelope []byte) mutate.Addendum {
	return mutate.Addendum{
		Layer:       static.NewLayer(envelope, DSSEMediaType),
		Annotations: map[string]string{PredicateTypeAnnotation: SPDXPredicateType, SignatureAnnotation: ""},
	}
}

// Attest signs the statement that sbom (SPDX JSON) describes the manifest subject of g's
// repository and adds it to the manifest's attestations under the .att tag; it returns
// the attestation manifest's digest. Attestations already there are kept, as cosign
// attest keeps them, so the index can carry the SBOM of each of its platforms; the same
// statement already signed with the key is not added twice, which keeps a re-run of a
// release from growing the list.
func Attest(ctx context.Context, g Registry, rand io.Reader, key *ecdsa.PrivateKey, subject v1.Hash, sbom []byte) (string, error) {
	statement, err := SBOMStatement(g.Repo, subject, sbom)
	if err != nil {
		return "", err
	}
	tag := AttestationTag(g.Repo, subject)
	existing, err := attestations(ctx, g, tag)
	if err != nil {
		return "", err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	var adds []mutate.Addendum
	if existing != nil {
		m, err := existing.Manifest()
		if err != nil {
			return "", fmt.Errorf("read the attestations %s: %w", tag, err)
		}
		for _, desc := range m.Layers {
			l, err := existing.LayerByDigest(desc.Digest)
			if err != nil {
				return "", fmt.Errorf("read the attestations %s: %w", tag, err)
			}
			if desc.MediaType == DSSEMediaType && sameStatement(l, &key.PublicKey, statement) {
				d, err := existing.Digest()
				if err != nil {
					return "", err
				}
				return d.String(), nil
			}
			adds = append(adds, mutate.Addendum{Layer: l, MediaType: desc.MediaType, Annotations: desc.Annotations})
		}
	}
	envelope, err := SignEnvelope(rand, key, InTotoPayloadType, statement)
	if err != nil {
		return "", fmt.Errorf("sign the SBOM attestation of %s: %w", subject, err)
	}
	img, err := mutate.Append(base, append(adds, AttestationLayer(envelope))...)
	if err != nil {
		return "", fmt.Errorf("make the attestation image: %w", err)
	}
	if err := remote.Write(tag, img, g.Options(ctx)...); err != nil {
		return "", fmt.Errorf("push the attestations %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// sameStatement: the layer is an envelope of the statement that verifies with the key.
func sameStatement(l v1.Layer, pub *ecdsa.PublicKey, statement []byte) bool {
	data, err := readLayer(l)
	if err != nil {
		return false
	}
	payload, err := OpenEnvelope(pub, data)
	return err == nil && bytes.Equal(payload, statement)
}

// attestations is the image under the .att tag, nil when there is none.
func attestations(ctx context.Context, g Registry, tag name.Tag) (v1.Image, error) {
	img, err := remote.Image(tag, g.Options(ctx)...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pull the attestations %s: %w", tag, err)
	}
	return img, nil
}

// AttestedSBOMs returns the SPDX documents of the manifest's attestations that verify
// with the public key and whose statement names the manifest: cosign verify-attestation
// --key --type spdxjson with the transparency log skipped. ErrNotAttested when there is
// none.
func AttestedSBOMs(ctx context.Context, g Registry, pub *ecdsa.PublicKey, d v1.Hash) ([][]byte, error) {
	tag := AttestationTag(g.Repo, d)
	img, err := attestations(ctx, g, tag)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, fmt.Errorf("%s: %w", g.Repo.Digest(d.String()), ErrNotAttested)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read the attestations %s: %w", tag, err)
	}
	var out [][]byte
	for _, desc := range m.Layers {
		if desc.MediaType != DSSEMediaType {
			continue
		}
		l, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("read the attestations %s: %w", tag, err)
		}
		data, err := readLayer(l)
		if err != nil {
			return nil, fmt.Errorf("pull an attestation of %s: %w", tag, err)
		}
		payload, err := OpenEnvelope(pub, data)
		if err != nil {
			continue
		}
		if sbom, ok := sbomFor(payload, d); ok {
			out = append(out, sbom)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", g.Repo.Digest(d.String()), ErrNotAttested)
	}
	return out, nil
}

// sbomFor is the predicate of an SPDX statement one of whose subjects is d.
func sbomFor(statement []byte, d v1.Hash) ([]byte, bool) {
	var s Statement
	if json.Unmarshal(statement, &s) != nil || s.PredicateType != SPDXPredicateType {
		return nil, false
	}
	for _, sub := range s.Subject {
		if sub.Digest[d.Algorithm] == d.Hex {
			return s.Predicate, true
		}
	}
	return nil, false
}
