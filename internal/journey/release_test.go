package journey_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/journey"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

// releaseVersion is the version of the journey's release.
const releaseVersion = "v0.9.0-journey"

var (
	publishMu sync.Mutex
	published = map[string]*journey.Published{} // cluster dir -> the release pushed there
	releases  []string                          // their folders, throwaway keys included
)

// removeReleases removes the releases' folders; TestMain runs it at the end.
func removeReleases() {
	publishMu.Lock()
	defer publishMu.Unlock()
	for _, dir := range releases {
		os.RemoveAll(dir)
	}
	releases = nil
}

// published runs the release (`make release`'s command) of this commit once per cluster,
// to the cluster's registry, with throwaway keys.
func (w *world) published() *journey.Published {
	w.t.Helper()
	publishMu.Lock()
	defer publishMu.Unlock()
	if p := published[w.c.Dir]; p != nil {
		return p
	}
	dir, err := os.MkdirTemp("", "tracebloc-release-")
	if err != nil {
		w.t.Fatal(err)
	}
	releases = append(releases, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	p, err := journey.Publish(ctx, journey.PublishOptions{
		Root: w.stage.Root, Dist: filepath.Join(dir, "dist"), Keys: filepath.Join(dir, "keys"), Version: releaseVersion,
		Registry: w.c.RegistryAddr(), RegistryCA: w.c.CAFile(),
		Helm: clustertest.Tool(w.t, "helm"), Helm4: clustertest.Tool(w.t, "helm4"),
		ClientChart: filepath.Join(w.stage.Chart, "charts", chartdeps.ClientArchive),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	published[w.c.Dir] = p
	return p
}

// Scenario: the release, installed as a user installs it. Helm 3: the chart from the
// registry with its provenance verified, the post-renderer from the release archive whose
// checksum and signature are checked. Helm 4: the plugin from the registry (verified),
// then the chart. The pods pull the bootstrap by the digest the release pushed, and the
// client comes online.
func TestInstallFromRelease(t *testing.T) {
	t.Run("helm_3", func(t *testing.T) { installFromRelease(t, false) })
	t.Run("helm_4", func(t *testing.T) { installFromRelease(t, true) })
}

func installFromRelease(t *testing.T, helm4 bool) {
	w := newWorld(t, clusterName, withClient)
	pub := w.published()
	ctx := w.ctx()
	w.stage.ChartRef, w.stage.ChartFlags = pub.ChartRef(), pub.InstallFlags()
	since := time.Now()
	if helm4 {
		w.installWithReleasedPlugin(ctx, pub)
	} else {
		pr, err := pub.PostRenderer(t.TempDir())
		if err != nil {
			t.Fatalf("install the post-renderer from the release: %v", err)
		}
		w.stage.PostRender = pr
		w.enroll("edge", w.ns)
	}
	pod, err := w.stage.PodOf(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	want := journey.BootstrapRepo + "@" + pub.Digest("image")
	for _, c := range pod.Spec.InitContainers {
		if c.Name == "bootstrap" && c.Image != want {
			t.Errorf("the bootstrap runs %s, want the release's %s", c.Image, want)
		}
	}
	for _, st := range pod.Status.InitContainerStatuses {
		if st.Name == "bootstrap" && !strings.HasSuffix(st.ImageID, pub.Digest("image")) {
			t.Errorf("the node pulled the bootstrap as %q, want the release's digest %s", st.ImageID, pub.Digest("image"))
		}
	}
	w.waitOnline(ctx, w.ns, "edge", since)
}

// installWithReleasedPlugin installs the release's Helm 4 plugin from the registry and
// the chart through it.
func (w *world) installWithReleasedPlugin(ctx context.Context, pub *journey.Published) {
	t := w.t
	helm4 := clustertest.Tool(t, "helm4")
	home := t.TempDir()
	env := append(os.Environ(), "KUBECONFIG="+w.c.Kubeconfig, "SSL_CERT_FILE="+w.c.CAFile(),
		"HELM_DATA_HOME="+filepath.Join(home, "data"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"TRACEBLOC_POSTRENDER_KUBECONFIG="+w.c.Kubeconfig, "TRACEBLOC_POSTRENDER_IMAGES="+w.stage.Images)
	run := func(args ...string) {
		t.Helper()
		out, err := command(ctx, env, helm4, args...)
		_, _ = w.stage.Output.Write([]byte(out))
		if err != nil {
			t.Fatalf("helm4 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("plugin", "install", pub.PluginRef(), "--keyring", pub.Pubring)
	w.releases = append(w.releases, installed{"edge", w.ns})
	args := append([]string{"install", "edge"}, w.stage.ChartArgs()...)
	args = append(args, "-n", w.ns, "--post-renderer", "tracebloc")
	run(append(args, w.stage.Values(w.ns)...)...)
	f := w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
}

// TestReleaseSignatures: cosign verify with the release's public key passes for the
// bootstrap image and the chart the release pushed, verify-attestation for the image's
// SBOMs, and verify fails for an image pushed
// unsigned and for the signed image under another key.
func TestReleaseSignatures(t *testing.T) {
	w := newWorld(t, clusterName, withClient)
	pub := w.published()
	ctx := w.ctx()
	dir := t.TempDir()
	verify := func(key, ref string) (string, error) {
		return releasetest.CosignVerify(t, dir, w.c.CAFile(), key, ref)
	}
	// The references artifacts.txt lists, which scripts/sign-keyless signs: in the registry
	// the release was pushed to.
	image, chart := pub.Ref("image"), pub.Ref("chart")
	if want := w.c.RegistryAddr() + "/tracebloc/edge-bootstrap@" + pub.Digest("image"); image != want {
		t.Errorf("artifacts.txt lists the image as %s, want %s", image, want)
	}
	if want := w.c.RegistryAddr() + "/tracebloc/charts/edge@" + pub.Digest("chart"); chart != want {
		t.Errorf("artifacts.txt lists the chart as %s, want %s", chart, want)
	}
	for _, ref := range []string{image, chart} {
		if out, err := verify(pub.CosignPub, ref); err != nil {
			t.Errorf("cosign verify %s: %v\n%s", ref, err, out)
		}
	}
	// The SBOMs, as the signed attestation of the digest the chart pins.
	out, err := releasetest.CosignVerify(t, dir, w.c.CAFile(), pub.CosignPub, image, "verify-attestation", "--type", "spdxjson")
	if n := spdxStatements(out); err != nil || n != 2 {
		t.Errorf("cosign verify-attestation --type spdxjson %s: %v, %d SPDX statements (want one per platform)\n%s", image, err, n, out)
	}
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := w.c.PushImage(ctx, img, "ghcr.io/tracebloc/unsigned:1")
	if err != nil {
		t.Fatal(err)
	}
	out, err = verify(pub.CosignPub, w.c.RegistryAddr()+"/tracebloc/unsigned@"+digest)
	releasetest.WantRefused(t, "verify of an image pushed unsigned", out, err, "no signatures found")
	other := filepath.Join(dir, "other.pub")
	releasetest.WritePublicKey(t, other, &releasetest.ECKey(t).PublicKey)
	out, err = verify(other, image)
	releasetest.WantRefused(t, "verify of the release's image with another key", out, err, "no matching signatures")
}

// spdxStatements counts the attestations in cosign verify-attestation's output (one DSSE
// envelope per line) whose statement carries an SPDX 2.3 document.
func spdxStatements(out string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		var env struct {
			Payload string `json:"payload"`
		}
		if json.Unmarshal([]byte(line), &env) != nil {
			continue
		}
		statement, err := base64.StdEncoding.DecodeString(env.Payload)
		if err == nil && strings.Contains(string(statement), `"spdxVersion":"SPDX-2.3"`) {
			n++
		}
	}
	return n
}
