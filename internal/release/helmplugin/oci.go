package helmplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tracebloc/edge/internal/release/bootstrapimage"
)

// Helm 4's plugin artifact in an OCI registry, as `helm plugin install oci://...` pulls
// it: an OCI image manifest whose artifactType is PluginArtifactType, with the package
// and its .prov as layers titled <name>-<version>.tgz and <name>-<version>.tgz.prov
// (org.opencontainers.image.title), where <name> is the repository's last element. Helm
// copies only layers of the two OCI layer types below and skips the rest, so the .prov
// travels as a plain "tar" layer although it is text: under any other type Helm finds no
// provenance and refuses to install with verification on (its default).
const (
	PluginArtifactType = "application/vnd.helm.plugin.v1+json"
	PackageMediaType   = types.OCILayer             // application/vnd.oci.image.layer.v1.tar+gzip
	ProvMediaType      = types.OCIUncompressedLayer // application/vnd.oci.image.layer.v1.tar
	titleAnnotation    = "org.opencontainers.image.title"
	emptyMediaType     = "application/vnd.oci.empty.v1+json"
)

// Repository is where the plugin goes in a registry: <registry>/tracebloc/plugins/tracebloc,
// installed with `helm plugin install oci://<registry>/tracebloc/plugins/tracebloc:<version>`.
const Repository = "tracebloc/plugins/" + Name

type ociManifest struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     types.MediaType `json:"mediaType"`
	ArtifactType  string          `json:"artifactType"`
	Config        v1.Descriptor   `json:"config"`
	Layers        []v1.Descriptor `json:"layers"`
}

type rawManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// OCIManifest is the plugin artifact's manifest for the package (named
// <Name>-<version>.tgz, as Package writes it) and its .prov (nil: unsigned), with the
// blobs to upload first.
func OCIManifest(tgzName string, tgz, prov []byte) (manifest []byte, blobs []v1.Layer, err error) {
	if !strings.HasPrefix(tgzName, Name+"-") || !strings.HasSuffix(tgzName, ".tgz") {
		return nil, nil, fmt.Errorf("the plugin package is named %s: want %s-<version>.tgz, which Helm looks for in the artifact", tgzName, Name)
	}
	config := static.NewLayer([]byte("{}"), emptyMediaType)
	cd, err := descriptor(config)
	if err != nil {
		return nil, nil, err
	}
	cd.Data = []byte("{}")
	blobs = []v1.Layer{config}
	m := ociManifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: PluginArtifactType, Config: cd}
	type file struct {
		data  []byte
		mt    types.MediaType
		title string
	}
	layers := []file{{tgz, PackageMediaType, tgzName}}
	if prov != nil {
		layers = append(layers, file{prov, ProvMediaType, tgzName + ".prov"})
	}
	for _, l := range layers {
		blob := static.NewLayer(l.data, l.mt)
		d, err := descriptor(blob)
		if err != nil {
			return nil, nil, err
		}
		d.Annotations = map[string]string{titleAnnotation: l.title}
		m.Layers = append(m.Layers, d)
		blobs = append(blobs, blob)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the plugin manifest: %w", err)
	}
	return body, blobs, nil
}

// PushOCI uploads the plugin package and its .prov ("": unsigned, which Helm 4 installs
// only with --verify=false) to g.Repo under tag, as Helm 4's plugin artifact, and returns
// the manifest's digest. The repository's last element must be the plugin's name, which
// is how Helm names the plugin it installs from there.
func PushOCI(ctx context.Context, g bootstrapimage.Registry, tgz, prov, tag string) (v1.Hash, error) {
	if last := path.Base(g.Repo.RepositoryStr()); last != Name {
		return v1.Hash{}, fmt.Errorf("push the plugin to %s: Helm names a plugin from OCI after the repository's last element (%s), so it must be %s, e.g. %s", g.Repo, last, Name, Repository)
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push the plugin: %w", err)
	}
	var provData []byte
	if prov != "" {
		if provData, err = os.ReadFile(prov); err != nil {
			return v1.Hash{}, fmt.Errorf("push the plugin: %w", err)
		}
	}
	body, blobs, err := OCIManifest(filepath.Base(tgz), data, provData)
	if err != nil {
		return v1.Hash{}, err
	}
	opts := registryOptions(ctx, g)
	for _, b := range blobs {
		if err := remote.WriteLayer(g.Repo, b, opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("upload the plugin to %s: %w", g.Repo, err)
		}
	}
	ref := g.Repo.Tag(tag)
	if err := remote.Put(ref, rawManifest{body, types.OCIManifestSchema1}, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push the plugin manifest %s: %w", ref, err)
	}
	d, _, err := v1.SHA256(strings.NewReader(string(body)))
	return d, err
}

func registryOptions(ctx context.Context, g bootstrapimage.Registry) []remote.Option {
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

func descriptor(l v1.Layer) (v1.Descriptor, error) {
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
