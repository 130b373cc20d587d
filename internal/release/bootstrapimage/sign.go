package bootstrapimage

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

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

// cosign's signature format (its specs/SIGNATURE_SPEC.md): an image tagged
// sha256-<hex>.sig next to the signed manifest, one layer per signature whose content is
// the simple-signing payload and whose annotation holds the base64 ECDSA signature of it.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	SignatureAnnotation    = "dev.cosignproject.cosign/signature"
	simpleSigningType      = "cosign container image signature"
)

// ErrUnsigned means the registry holds no signature for the manifest.
var ErrUnsigned = errors.New("the image has no cosign signature: sign it (make release signs it), or pull the digest the release notes name")

// ErrBadSignature means no signature of the manifest verifies with the public key.
var ErrBadSignature = errors.New("no signature of the image verifies with the public key: the image or its signature was changed, or it was signed with another key")

var errTooLarge = errors.New("the blob is larger than an SBOM or a signature can be")

// simpleSigning is the payload cosign signs (containers/image's "atomic container
// signature", with cosign's type).
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]string `json:"optional"`
}

// SignatureTag is where cosign keeps the signatures of a manifest.
func SignatureTag(repo name.Repository, d v1.Hash) name.Tag {
	return repo.Tag(d.Algorithm + "-" + d.Hex + ".sig")
}

// Payload is the simple-signing payload of a manifest of the repository.
func Payload(repo name.Repository, d v1.Hash) ([]byte, error) {
	var p simpleSigning
	p.Critical.Identity.DockerReference = repo.Name()
	p.Critical.Image.DockerManifestDigest = d.String()
	p.Critical.Type = simpleSigningType
	return json.Marshal(p)
}

// SignatureImage is the image cosign's `sign --key` pushes for one signature.
func SignatureImage(payload, sig []byte) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(payload, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: string(sig)},
	})
	if err != nil {
		return nil, fmt.Errorf("make the signature image: %w", err)
	}
	return img, nil
}

// Sign signs a manifest of the repository (the index, or an SBOM's manifest) with the
// key and pushes the signature under its .sig tag; it returns the signature manifest's
// digest. Signing again replaces the signature, as `cosign sign` does with a fresh tag.
func Sign(ctx context.Context, g Registry, rand io.Reader, key *ecdsa.PrivateKey, d v1.Hash) (string, error) {
	payload, err := Payload(g.Repo, d)
	if err != nil {
		return "", err
	}
	sig, err := blobsig.Sign(rand, key, bytes.NewReader(payload))
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", d, err)
	}
	img, err := SignatureImage(payload, sig)
	if err != nil {
		return "", err
	}
	tag := SignatureTag(g.Repo, d)
	if err := remote.Write(tag, img, g.Options(ctx)...); err != nil {
		return "", fmt.Errorf("push the signature %s: %w", tag, err)
	}
	sd, err := img.Digest()
	if err != nil {
		return "", err
	}
	return sd.String(), nil
}

// Verify checks that a signature of the manifest under its .sig tag verifies with the
// public key and names that manifest: cosign verify --key with the transparency log
// skipped. ErrUnsigned when there is no signature, ErrBadSignature when none verifies.
func Verify(ctx context.Context, g Registry, pub *ecdsa.PublicKey, d v1.Hash) error {
	tag := SignatureTag(g.Repo, d)
	img, err := remote.Image(tag, g.Options(ctx)...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %w", g.Repo.Digest(d.String()), ErrUnsigned)
	}
	if err != nil {
		return fmt.Errorf("pull the signature %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("read the signature %s: %w", tag, err)
	}
	for _, desc := range m.Layers {
		if desc.MediaType != SimpleSigningMediaType {
			continue
		}
		l, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			return fmt.Errorf("read the signature %s: %w", tag, err)
		}
		payload, err := readLayer(l)
		if err != nil {
			return fmt.Errorf("pull the signature payload of %s: %w", tag, err)
		}
		if verifies(pub, payload, desc.Annotations[SignatureAnnotation], d) {
			return nil
		}
	}
	return fmt.Errorf("%s: %w", g.Repo.Digest(d.String()), ErrBadSignature)
}

// verifies: the signature is the key's over the payload, and the payload names d.
func verifies(pub *ecdsa.PublicKey, payload []byte, sig string, d v1.Hash) bool {
	if blobsig.Verify(pub, bytes.NewReader(payload), []byte(sig)) != nil {
		return false
	}
	var p simpleSigning
	if json.Unmarshal(payload, &p) != nil {
		return false
	}
	return p.Critical.Type == simpleSigningType && p.Critical.Image.DockerManifestDigest == d.String()
}
