package bootstrapimage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// emptyConfig is the OCI empty descriptor's content, the config of an artifact manifest.
var emptyConfig = []byte("{}")

// Registry is where the image goes: a repository and how to reach it.
type Registry struct {
	Repo      name.Repository
	Transport http.RoundTripper // nil: the default transport
	Auth      authn.Authenticator
}

// NewRegistry is the repository (host[:port]/path, strictly validated) of a registry
// reached with auth (nil: anonymous) over TLS that trusts the CA file caFile on top of
// the system's roots ("": the system's alone).
func NewRegistry(repository, caFile string, auth authn.Authenticator) (Registry, error) {
	repo, err := name.NewRepository(repository, name.StrictValidation)
	if err != nil {
		return Registry{}, fmt.Errorf("the repository %q is not host[:port]/path: name the registry, in lowercase, e.g. ghcr.io/tracebloc/edge-bootstrap: %w", repository, err)
	}
	g := Registry{Repo: repo, Auth: auth}
	if caFile != "" {
		if g.Transport, err = RegistryTransport(caFile); err != nil {
			return Registry{}, err
		}
	}
	return g, nil
}

// CloseIdleConnections closes the idle connections of g's own transport; the default
// transport's stay.
func (g Registry) CloseIdleConnections() {
	if tr, ok := g.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
}

// Options are the go-containerregistry options that reach g: ctx, g.Auth (anonymous
// when nil) and g.Transport (the default when nil). Every access of the release to a
// registry goes through them.
func (g Registry) Options(ctx context.Context) []remote.Option {
	auth := g.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	if g.Transport != nil {
		opts = append(opts, remote.WithTransport(g.Transport))
	}
	return opts
}

// PutArtifact uploads an artifact to g.Repo: its blobs, then its manifest (an OCI image
// manifest, sent as it is) under tag, or under its digest when tag is "". It returns the
// manifest's digest. remote.Put lists a manifest with a subject under that subject: the
// registry does when it serves the referrers API, else go-containerregistry updates the
// fallback tag's index.
func (g Registry) PutArtifact(ctx context.Context, tag string, manifest []byte, blobs []v1.Layer) (v1.Hash, error) {
	opts := g.Options(ctx)
	for _, l := range blobs {
		if err := remote.WriteLayer(g.Repo, l, opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("upload a blob to %s: %w", g.Repo, err)
		}
	}
	d, _, err := v1.SHA256(bytesReader(manifest))
	if err != nil {
		return v1.Hash{}, err
	}
	var ref name.Reference = g.Repo.Digest(d.String())
	if tag != "" {
		ref = g.Repo.Tag(tag)
	}
	if err := remote.Put(ref, rawManifest{manifest, types.OCIManifestSchema1}, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push the manifest %s: %w", ref, err)
	}
	return d, nil
}

// EmptyConfig is the config of an artifact manifest: the OCI empty descriptor's blob
// ({}) and its descriptor, which carries the content inline as the image spec advises.
func EmptyConfig() (v1.Layer, v1.Descriptor, error) {
	config := static.NewLayer(emptyConfig, types.MediaType("application/vnd.oci.empty.v1+json"))
	d, err := LayerDescriptor(config)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	d.Data = emptyConfig
	return config, d, nil
}

// RegistryTransport trusts the certificate authorities of caFile (PEM) on top of the
// system's, for a registry whose certificate a private CA signed.
func RegistryTransport(caFile string) (*http.Transport, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the registry's CA: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read the registry's CA %s: no PEM certificate in it", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// Pushed are the digests a push gave.
type Pushed struct {
	Index string
	// Manifests and SBOMs are per platform, in Platforms' order: the image manifest and
	// the SBOM's artifact manifest whose subject it is.
	Manifests, SBOMs []string
	// ReferrersAPI says whether the registry serves GET /v2/<name>/referrers/<digest>;
	// without it the referrers are listed under the OCI fallback tag sha256-<hex>.
	ReferrersAPI bool
}

// Push uploads the index under tag (with its images) and attaches each platform's SBOM
// to its image manifest as an OCI 1.1 referrer.
func Push(ctx context.Context, g Registry, b *Built, tag string) (*Pushed, error) {
	ref := g.Repo.Tag(tag)
	if err := remote.WriteIndex(ref, b.Index, g.Options(ctx)...); err != nil {
		return nil, fmt.Errorf("push %s: %w", ref, err)
	}
	idx, err := b.Index.Digest()
	if err != nil {
		return nil, err
	}
	out := &Pushed{Index: idx.String()}
	for _, pi := range b.Images {
		sbom, err := attachSBOM(ctx, g, pi)
		if err != nil {
			return nil, err
		}
		d, _ := pi.Image.Digest()
		out.Manifests = append(out.Manifests, d.String())
		out.SBOMs = append(out.SBOMs, sbom.String())
	}
	if out.ReferrersAPI, err = ReferrersAPI(ctx, g, idx); err != nil {
		return nil, err
	}
	return out, nil
}

// ArtifactManifest is an OCI 1.1 image manifest of an artifact: an empty config
// (EmptyConfig), the artifact's files as layers and, for an artifact about an image such
// as its SBOM, that image as its subject.
type ArtifactManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// rawManifest is a manifest remote.Put can upload as it is.
type rawManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// SBOMManifest is the artifact manifest of a platform's SBOM, with its blobs.
func SBOMManifest(pi PlatformImage, created string) (manifest []byte, blobs []v1.Layer, err error) {
	subject, err := descriptorOf(pi.Image)
	if err != nil {
		return nil, nil, err
	}
	config, cd, err := EmptyConfig()
	if err != nil {
		return nil, nil, err
	}
	sbom := static.NewLayer(pi.SBOM, SBOMMediaType)
	sd, err := LayerDescriptor(sbom)
	if err != nil {
		return nil, nil, err
	}
	sd.Annotations = map[string]string{"org.opencontainers.image.title": "sbom-" + pi.Platform.OS + "-" + pi.Platform.Arch + ".spdx.json"}
	m := ArtifactManifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: SBOMMediaType,
		Config: cd, Layers: []v1.Descriptor{sd}, Subject: subject,
		Annotations: map[string]string{"org.opencontainers.image.created": created},
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the SBOM manifest: %w", err)
	}
	return body, []v1.Layer{config, sbom}, nil
}

func attachSBOM(ctx context.Context, g Registry, pi PlatformImage) (v1.Hash, error) {
	created := ""
	if m, err := pi.Image.Manifest(); err == nil {
		created = m.Annotations["org.opencontainers.image.created"]
	}
	body, blobs, err := SBOMManifest(pi, created)
	if err != nil {
		return v1.Hash{}, err
	}
	d, err := g.PutArtifact(ctx, "", body, blobs)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("attach the %s SBOM: %w", pi.Platform, err)
	}
	return d, nil
}

func descriptorOf(img v1.Image) (*v1.Descriptor, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	size, err := img.Size()
	if err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}

// LayerDescriptor is a blob's descriptor: its media type, digest and size.
func LayerDescriptor(l v1.Layer) (v1.Descriptor, error) {
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}

// ReferrersAPI asks the registry whether it serves the OCI 1.1 referrers API for a
// digest of the repository: 200 yes, 404 (or 400, as go-containerregistry allows) no
// (distribution-spec, "Listing Referrers"). Registries are reached over TLS only.
func ReferrersAPI(ctx context.Context, g Registry, d v1.Hash) (bool, error) {
	u := fmt.Sprintf("https://%s/v2/%s/referrers/%s", g.Repo.RegistryStr(), g.Repo.RepositoryStr(), d)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	rt := g.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return false, fmt.Errorf("ask %s for the referrers API: %w", g.Repo.RegistryStr(), err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK, http.StatusNotFound, http.StatusBadRequest); err != nil {
		return false, fmt.Errorf("ask %s for the referrers API: %w", g.Repo.RegistryStr(), err)
	}
	return resp.StatusCode == http.StatusOK, nil
}

// SBOMs pulls back the SPDX documents attached to a manifest, through the referrers API
// or its fallback tag.
func SBOMs(ctx context.Context, g Registry, manifest v1.Hash) ([][]byte, error) {
	subject := g.Repo.Digest(manifest.String())
	opts := append(g.Options(ctx), remote.WithFilter("artifactType", SBOMMediaType))
	idx, err := remote.Referrers(subject, opts...)
	if err != nil {
		return nil, fmt.Errorf("list the referrers of %s: %w", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, desc := range im.Manifests {
		img, err := remote.Image(g.Repo.Digest(desc.Digest.String()), g.Options(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("pull the SBOM manifest %s: %w", desc.Digest, err)
		}
		layers, err := img.Layers()
		if err != nil {
			return nil, fmt.Errorf("read the SBOM manifest %s: %w", desc.Digest, err)
		}
		for _, l := range layers {
			if mt, _ := l.MediaType(); mt != SBOMMediaType {
				continue
			}
			data, err := readLayer(l)
			if err != nil {
				return nil, fmt.Errorf("pull the SBOM of %s: %w", desc.Digest, err)
			}
			out = append(out, data)
		}
	}
	return out, nil
}
