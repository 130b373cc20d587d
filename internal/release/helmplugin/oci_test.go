package helmplugin_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/bootstrapimage"
	"github.com/tracebloc/edge/internal/release/helmplugin"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

// TestOCIManifest: the artifact Helm 4's OCI installer takes: its artifact type, an
// empty config, the package and the .prov as layers of the two OCI layer types it copies,
// titled as it looks them up.
func TestOCIManifest(t *testing.T) {
	body, blobs, err := helmplugin.OCIManifest("tracebloc-0.4.0.tgz", []byte("tgz"), []byte("prov"))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		ArtifactType string `json:"artifactType"`
	}
	_ = json.Unmarshal(body, &raw)
	if raw.ArtifactType != "application/vnd.helm.plugin.v1+json" {
		t.Errorf("artifactType = %q, want application/vnd.helm.plugin.v1+json", raw.ArtifactType)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.empty.v1+json" {
		t.Errorf("manifest %s with config %s, want an OCI image manifest with the empty config", m.MediaType, m.Config.MediaType)
	}
	want := []struct{ mt, title string }{
		{"application/vnd.oci.image.layer.v1.tar+gzip", "tracebloc-0.4.0.tgz"},
		{"application/vnd.oci.image.layer.v1.tar", "tracebloc-0.4.0.tgz.prov"},
	}
	if len(m.Layers) != len(want) || len(blobs) != len(want)+1 {
		t.Fatalf("OCIManifest = %d layers, %d blobs; want %d layers and the config", len(m.Layers), len(blobs), len(want))
	}
	for i, w := range want {
		if l := m.Layers[i]; string(l.MediaType) != w.mt || l.Annotations["org.opencontainers.image.title"] != w.title {
			t.Errorf("layer %d = %s titled %q, want %s titled %q", i, l.MediaType, l.Annotations["org.opencontainers.image.title"], w.mt, w.title)
		}
	}
	if _, _, err := helmplugin.OCIManifest("other-0.4.0.tgz", nil, nil); err == nil {
		t.Error("OCIManifest(other-0.4.0.tgz) = nil error, want one: Helm looks for tracebloc-<version>.tgz")
	}
}

// TestPushOCIInstall pushes the signed plugin to the cluster instance's registry and
// installs it with the real Helm 4 CLI from oci://, verifying the .prov with the public
// keyring, then renders through it. An unsigned push and a changed package are refused,
// and the unsigned one installs with --verify=false.
func TestPushOCIInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the post-renderer and runs the Helm 4 CLI")
	}
	helm := releasetest.Helm4(t)
	c := clustertest.Get(t)
	ctx := context.Background()
	tgz, prov, pubring := signedPlugin(t, helm)

	g, err := bootstrapimage.NewRegistry(c.RegistryAddr()+"/"+helmplugin.Repository, c.CAFile(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	repo := g.Repo
	push := func(tgz, prov string) string {
		t.Helper()
		tag := freshTag(t)
		d, err := helmplugin.PushOCI(ctx, g, tgz, prov, tag)
		if err != nil {
			t.Fatalf("PushOCI(%s) error = %v", tag, err)
		}
		desc, err := remote.Head(repo.Tag(tag), g.Options(ctx)...)
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest != d {
			t.Errorf("PushOCI(%s) = %s, the registry serves %s", tag, d, desc.Digest)
		}
		return "oci://" + repo.String() + ":" + tag
	}
	install := func(h *releasetest.Helm, src string, args ...string) (string, error) {
		t.Helper()
		return h.Run(append([]string{"plugin", "install", src, "--ca-file", c.CAFile()}, args...)...)
	}

	signed := push(tgz, prov)
	h := newHelm(t, helm)
	if out, err := install(h, signed, "--keyring", pubring); err != nil || !strings.Contains(out, "Signed by: Release Signer") {
		t.Fatalf("helm plugin install %s --keyring: %v\n%s", signed, err, out)
	}
	out, err := h.Run("template", "tiny", tinyChart(t), "-n", "ns1", "--post-renderer", helmplugin.Name,
		"--post-renderer-args", "--offline", "--post-renderer-args", "--cluster-id=oci1")
	if err != nil || !strings.Contains(out, "tracebloc.io/cluster-id: oci1") {
		t.Errorf("helm template through the plugin installed from %s: %v\n%s\nwant the tracebloc.io/cluster-id: oci1 label", signed, err, out)
	}

	unsigned := push(tgz, "")
	if out, err := install(newHelm(t, helm), unsigned, "--keyring", pubring); err == nil || !strings.Contains(out, "no provenance file") {
		t.Errorf("helm plugin install of an unsigned plugin: %v\n%s\nwant a refusal for the missing provenance", err, out)
	}
	if out, err := install(newHelm(t, helm), unsigned, "--verify=false"); err != nil {
		t.Errorf("helm plugin install --verify=false of the unsigned plugin: %v\n%s", err, out)
	}

	// The same files compressed anew: a valid package whose bytes the .prov did not sign.
	tampered := filepath.Join(t.TempDir(), filepath.Base(tgz))
	writeFile(t, tampered, string(releasetest.Recompress(t, tgz)), 0o644)
	if out, err := install(newHelm(t, helm), push(tampered, prov), "--keyring", pubring); err == nil || !strings.Contains(out, "plugin verification failed") {
		t.Errorf("helm plugin install of a changed package: %v\n%s\nwant a verification failure", err, out)
	} else {
		t.Logf("helm plugin install of the changed package says: %s", strings.TrimSpace(out))
	}
}

// TestPushOCIRepositoryName: Helm names the plugin after the repository, so another
// name is refused before anything is uploaded.
func TestPushOCIRepositoryName(t *testing.T) {
	repo, err := name.NewRepository("127.0.0.1:1/tracebloc/plugins/postrender")
	if err != nil {
		t.Fatal(err)
	}
	_, err = helmplugin.PushOCI(context.Background(), bootstrapimage.Registry{Repo: repo}, "tracebloc-0.4.0.tgz", "", "0.4.0")
	if err == nil || !strings.Contains(err.Error(), "so it must be "+helmplugin.Name) {
		t.Errorf("PushOCI to .../postrender = %v, want the error that the repository must be named %s", err, helmplugin.Name)
	}
}

// freshTag is a tag no earlier run pushed: the registry keeps them.
func freshTag(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "0.4.0-t" + hex.EncodeToString(b)
}
