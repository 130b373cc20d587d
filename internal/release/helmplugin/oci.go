package helmplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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
)

// Repository is where the plugin goes in a registry: <registry>/tracebloc/plugins/tracebloc,
// installed with `helm plugin install oci://<registry>/tracebloc/plugins/tracebloc:<version>`.
const Repository = "tracebloc/plugins/" + Name

// OCIManifest is the plugin artifact's manifest for the package (named
// <Name>-<version>.tgz, as Package writes it) and its .prov (nil: unsigned), with the
// blobs to upload first.
func OCIManifest(tgzName string, tgz, prov []byte) (manifest []byte, blobs []v1.Layer, err error) {
	if !strings.HasPrefix(tgzName, Name+"-") || !strings.HasSuffix(tgzName, ".tgz") {
		return nil, nil, fmt.Errorf("the plugin package is named %s: want %s-<version>.tgz, which Helm looks for in the artifact", tgzName, Name)
	}
	config, cd, err := bootstrapimage.EmptyConfig()
	if err != nil {
		return nil, nil, err
	}
	blobs = []v1.Layer{config}
	m := bootstrapimage.ArtifactManifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: PluginArtifactType, Config: cd}
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
		d, err := bootstrapimage.LayerDescriptor(blob)
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
	d, err := g.PutArtifact(ctx, tag, body, blobs)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push the plugin: %w", err)
	}
	return d, nil
}
