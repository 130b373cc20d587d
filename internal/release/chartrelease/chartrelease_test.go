package chartrelease_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/bootstrapimage"
	"github.com/tracebloc/edge/internal/release/chartrelease"
	"github.com/tracebloc/edge/internal/release/helmplugin"
	"github.com/tracebloc/edge/internal/release/releasetest"
	"github.com/tracebloc/edge/postrender/pins"
)

// newHelm is the Helm 3 CLI with homes of its own.
func newHelm(t *testing.T) *releasetest.Helm {
	t.Helper()
	return releasetest.NewHelm(t, clustertest.Tool(t, "helm"))
}

// release is what a test packages: a fresh version, so that the registry, which keeps
// earlier runs' tags, gets new ones, and a digest of its own.
type release struct {
	version, digest string
}

func freshRelease(t *testing.T) release {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return release{version: "v0.4.0-t" + hex.EncodeToString(b[:6]), digest: "sha256:" + hex.EncodeToString(b)}
}

// sources are the committed chart folder and the client chart's package.
func sources(t *testing.T) (chart, dependency string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the Helm CLI")
	}
	withClient := chartdeps.DirWithClient(t)
	return filepath.Join(releasetest.Source(t), "chart"), filepath.Join(withClient, "charts", chartdeps.ClientArchive)
}

func packageChart(t *testing.T, h *releasetest.Helm, r release, chart, dependency string, signing *helmplugin.Signing) (tgz, prov string) {
	t.Helper()
	tgz, prov, err := chartrelease.Package(context.Background(), chartrelease.Options{
		Helm: h.Bin, Chart: chart, Dependency: dependency, Version: r.version, BootstrapDigest: r.digest,
		Signing: signing, Dest: filepath.Join(t.TempDir(), "dist"), Env: h.Env(),
	})
	if err != nil {
		t.Fatalf("Package(%s) error = %v", r.version, err)
	}
	return tgz, prov
}

// TestPackage packages the committed chart with the real helm, signed, and reads the
// package back with helm: the version, appVersion and digest are the release's, the rest
// of values.yaml is the source's byte for byte (its comments included), the package holds
// the dependency and none of the files .helmignore keeps out, and helm verify accepts it
// until a byte changes.
func TestPackage(t *testing.T) {
	chart, dependency := sources(t)
	h := newHelm(t)
	r := freshRelease(t)
	secring, pubring := releasetest.PGPKey(t, t.TempDir(), "Chart Signer")
	tgz, prov := packageChart(t, h, r, chart, dependency, &helmplugin.Signing{Key: "Chart Signer", Keyring: secring})
	version := strings.TrimPrefix(r.version, "v")
	if filepath.Base(tgz) != "edge-"+version+".tgz" || prov != tgz+".prov" {
		t.Errorf("Package = %s, %s; want edge-%s.tgz and its .prov", tgz, prov, version)
	}

	out, err := h.Run("show", "chart", tgz)
	if err != nil {
		t.Fatalf("helm show chart: %v\n%s", err, out)
	}
	type chartMeta struct {
		Version     string            `yaml:"version"`
		AppVersion  string            `yaml:"appVersion"`
		Annotations map[string]string `yaml:"annotations"`
	}
	var meta, srcMeta chartMeta
	if err := yaml.Unmarshal([]byte(out), &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Version != version || meta.AppVersion != version {
		t.Errorf("helm show chart = version %q, appVersion %q; want %q for both", meta.Version, meta.AppVersion, version)
	}
	// Artifact Hub lists the release's bootstrap image; the rest of the block stays.
	srcChart, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(srcChart, &srcMeta); err != nil {
		t.Fatal(err)
	}
	srcImages := srcMeta.Annotations[chartrelease.ImagesAnnotation]
	bootstrapLine := regexp.MustCompile(`(?m)^(- name: ` + chartrelease.BootstrapEntry + `\n  image: )\S+$`)
	if !bootstrapLine.MatchString(srcImages) {
		t.Fatalf("chart/Chart.yaml's %s has no edge-bootstrap entry with an image:\n%s", chartrelease.ImagesAnnotation, srcImages)
	}
	wantImages := bootstrapLine.ReplaceAllString(srcImages, "${1}ghcr.io/tracebloc/edge-bootstrap:"+version)
	if diff := cmp.Diff(wantImages, meta.Annotations[chartrelease.ImagesAnnotation]); diff != "" {
		t.Errorf("helm show chart's %s (-want +got):\n%s", chartrelease.ImagesAnnotation, diff)
	}

	got, err := h.Run("show", "values", tgz)
	if err != nil {
		t.Fatalf("helm show values: %v\n%s", err, got)
	}
	src, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(src), "    digest: \"\"\n", "    digest: \""+r.digest+"\"\n", 1)
	if want == string(src) {
		t.Fatal(`chart/values.yaml has no "    digest: """ line: update the test with the chart`)
	}
	// helm show values ends the file with a newline of its own.
	if diff := cmp.Diff(want, strings.TrimSuffix(got, "\n")); diff != "" {
		t.Errorf("helm show values = values.yaml with the digest? (-want +got):\n%s", diff)
	}

	files := releasetest.TarFiles(t, tgz)
	// helm package stores a dependency unpacked, as charts/<name>/.
	if !files["edge/charts/client/Chart.yaml"] {
		t.Errorf("the package has no edge/charts/client/Chart.yaml: the dependency %s is not vendored", chartdeps.ClientArchive)
	}
	for f := range files {
		if strings.HasSuffix(f, ".go") || strings.Contains(f, "/testdata/") || strings.HasSuffix(f, ".gotmpl") {
			t.Errorf("the package holds %s, which chart/.helmignore keeps out", f)
		}
	}
	if !files["edge/values.schema.json"] || !files["edge/templates/_helpers.tpl"] || !files["edge/README.md"] {
		t.Errorf("the package lacks files helm package chart/ takes: %v", files)
	}

	if out, err := h.Run("verify", tgz, "--keyring", pubring); err != nil {
		t.Errorf("helm verify %s: %v\n%s", filepath.Base(tgz), err, out)
	}
	// The same files compressed anew: a valid package whose bytes the .prov did not sign.
	tampered := filepath.Join(t.TempDir(), filepath.Base(tgz))
	writeFile(t, tampered, releasetest.Recompress(t, tgz))
	provData, _ := os.ReadFile(prov)
	writeFile(t, tampered+".prov", provData)
	if out, err := h.Run("verify", tampered, "--keyring", pubring); err == nil || !strings.Contains(out, "sha256 sum does not match") {
		t.Errorf("helm verify of a changed package: %v\n%s\nwant a mismatch of the signed sum", err, out)
	}
}

// TestPackageRefusesPlaceholders: no package without a real digest and a semver version.
func TestPackageRefusesPlaceholders(t *testing.T) {
	for _, tc := range []struct {
		name, version, digest string
		zero                  bool   // the error is pins.ErrZeroDigest
		want                  string // in the error: the check refused it, not the missing chart
	}{
		{"no digest", "v0.4.0", "", false, "is not sha256:"},
		{"zero digest", "v0.4.0", "sha256:" + strings.Repeat("0", 64), true, "bootstrap image's digest"},
		{"upper case digest", "v0.4.0", "sha256:" + strings.Repeat("AB", 32), false, "is not sha256:"},
		{"version not semver", "a2a6208-dirty", "sha256:" + strings.Repeat("ab", 32), false, "is not semver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			_, _, err := chartrelease.Package(context.Background(), chartrelease.Options{
				Helm: "/nonexistent/helm", Chart: "/nonexistent/chart", Version: tc.version, BootstrapDigest: tc.digest, Dest: dest,
			})
			if err == nil {
				t.Fatalf("Package(version %q, digest %q) = nil error, want one", tc.version, tc.digest)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Package(version %q, digest %q) = %v, want an error with %q", tc.version, tc.digest, err, tc.want)
			}
			if errors.Is(err, pins.ErrZeroDigest) != tc.zero {
				t.Errorf("Package(digest %q) = %v: errors.Is(err, pins.ErrZeroDigest) = %v, want %v", tc.digest, err, !tc.zero, tc.zero)
			}
		})
	}
}

// chartRegistry is the edge chart's repository in the cluster instance's registry,
// trusted through its CA.
func chartRegistry(t *testing.T, c *cluster.Cluster) bootstrapimage.Registry {
	t.Helper()
	g, err := bootstrapimage.NewRegistry(c.RegistryAddr()+"/"+chartrelease.Repository+"/edge", c.CAFile(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.CloseIdleConnections)
	return g
}

// TestPushPull pushes a signed and an unsigned package to the cluster instance's
// registry, pulls them back with helm pull --verify, and renders the signed one from the
// registry: the bootstrap image is pinned by the release's digest.
func TestPushPull(t *testing.T) {
	chart, dependency := sources(t)
	c := clustertest.Get(t)
	h := newHelm(t)
	reg, ca := c.RegistryAddr(), c.CAFile()
	g := chartRegistry(t, c)
	secring, pubring := releasetest.PGPKey(t, t.TempDir(), "Chart Signer")
	signed := freshRelease(t)
	tgz, _ := packageChart(t, h, signed, chart, dependency, &helmplugin.Signing{Key: "Chart Signer", Keyring: secring})
	ref, digest, err := chartrelease.Push(context.Background(), h.Bin, tgz, g, ca, h.Env())
	if err != nil {
		t.Fatalf("Push(%s) error = %v", filepath.Base(tgz), err)
	}
	version := strings.TrimPrefix(signed.version, "v")
	if want := reg + "/tracebloc/charts/edge:" + version; ref != want {
		t.Errorf("Push() ref = %s, want %s", ref, want)
	}
	t.Logf("pushed %s@%s", ref, digest)

	oci := "oci://" + reg + "/tracebloc/charts/edge"
	dest := t.TempDir()
	if out, err := h.Run("pull", oci, "--version", version, "--verify", "--keyring", pubring, "--ca-file", ca, "-d", dest); err != nil {
		t.Errorf("helm pull --verify of the signed chart: %v\n%s", err, out)
	}
	// The client chart asks for a StorageClass of its own unless it is told to use one.
	out, err := h.Run("template", "edge", oci, "--version", version, "--ca-file", ca, "-n", "tracebloc",
		"--set", "client.storageClass.create=false,client.storageClass.name=standard")
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", oci, err, out)
	}
	if want := "image: ghcr.io/tracebloc/edge-bootstrap@" + signed.digest; !strings.Contains(out, want) {
		t.Errorf("helm template %s --version %s renders no %q", oci, version, want)
	}

	unsigned := freshRelease(t)
	utgz, uprov := packageChart(t, h, unsigned, chart, dependency, nil)
	if uprov != "" {
		t.Errorf("Package() without signing = .prov %s, want none", uprov)
	}
	if _, _, err := chartrelease.Push(context.Background(), h.Bin, utgz, g, ca, h.Env()); err != nil {
		t.Fatalf("Push(%s) error = %v", filepath.Base(utgz), err)
	}
	uversion := strings.TrimPrefix(unsigned.version, "v")
	out, err = h.Run("pull", oci, "--version", uversion, "--verify", "--keyring", pubring, "--ca-file", ca, "-d", t.TempDir())
	if err == nil || !strings.Contains(out, "provenance") {
		t.Errorf("helm pull --verify of a chart pushed without .prov: %v\n%s\nwant a failure that names the provenance", err, out)
	}
	t.Logf("helm pull --verify of the unsigned chart says: %s", strings.TrimSpace(out))
}

// TestPackageDropsAStaleProvenance packages one version signed, then unsigned into the same
// folder: the second package leaves no .prov beside it, which helm push would upload.
func TestPackageDropsAStaleProvenance(t *testing.T) {
	chart, dependency := sources(t)
	h := newHelm(t)
	secring, _ := releasetest.PGPKey(t, t.TempDir(), "Chart Signer")
	r := freshRelease(t)
	dest := filepath.Join(t.TempDir(), "dist")
	opts := chartrelease.Options{Helm: h.Bin, Chart: chart, Dependency: dependency, Version: r.version,
		BootstrapDigest: r.digest, Dest: dest, Env: h.Env(),
		Signing: &helmplugin.Signing{Key: "Chart Signer", Keyring: secring}}
	tgz, prov, err := chartrelease.Package(context.Background(), opts)
	if err != nil || prov == "" {
		t.Fatalf("Package(signed) = %s, %q, %v; want a .prov", tgz, prov, err)
	}
	opts.Signing = nil
	if _, prov, err = chartrelease.Package(context.Background(), opts); err != nil || prov != "" {
		t.Fatalf("Package(unsigned) = .prov %q, %v; want none", prov, err)
	}
	if _, err := os.Stat(tgz + ".prov"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after an unsigned package, %s.prov: %v; want it gone", filepath.Base(tgz), err)
	}
}

// mkdirs makes the folder of path and returns path.
func mkdirs(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPackageDependencyBuild: without a Dependency, Package vendors what `helm dependency
// build` fetches from the Chart.lock's repository, here a chart repository on loopback.
func TestPackageDependencyBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Helm CLI")
	}
	h := newHelm(t)
	depSrc, repoDir := filepath.Join(t.TempDir(), "dep"), t.TempDir()
	writeFile(t, mkdirs(t, filepath.Join(depSrc, "Chart.yaml")), []byte("apiVersion: v2\nname: dep\nversion: 0.2.0\n"))
	if out, err := h.Run("package", depSrc, "-d", repoDir); err != nil {
		t.Fatalf("helm package dep: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	t.Cleanup(srv.Close)
	if out, err := h.Run("repo", "index", repoDir, "--url", srv.URL); err != nil {
		t.Fatalf("helm repo index: %v\n%s", err, out)
	}

	chart := filepath.Join(t.TempDir(), "edge")
	writeFile(t, mkdirs(t, filepath.Join(chart, "Chart.yaml")), []byte("apiVersion: v2\nname: edge\nversion: 0.1.0\nappVersion: \"0.1.0\"\n"+
		"annotations:\n  artifacthub.io/images: |\n    - name: edge-bootstrap\n      image: ghcr.io/tracebloc/edge-bootstrap:0.1.0\n"+
		"dependencies:\n  # the dependency, from the loopback repository\n  - name: dep\n    version: 0.2.0\n    repository: "+srv.URL+"\n"))
	writeFile(t, filepath.Join(chart, "values.yaml"), []byte("bootstrap:\n  image:\n    repository: ghcr.io/tracebloc/edge-bootstrap\n    # -- pins the image.\n    digest: \"\"\n"))
	if out, err := h.Run("dependency", "update", chart); err != nil { // writes Chart.lock as the repository's chart/ has one
		t.Fatalf("helm dependency update: %v\n%s", err, out)
	}
	if err := os.RemoveAll(filepath.Join(chart, "charts")); err != nil {
		t.Fatal(err)
	}
	r := freshRelease(t)
	tgz, _ := packageChart(t, h, r, chart, "", nil)
	if files := releasetest.TarFiles(t, tgz); !files["edge/charts/dep/Chart.yaml"] {
		t.Errorf("Package without a Dependency = %v, want edge/charts/dep/ from helm dependency build", files)
	}
}

// TestPushRepositoryName: helm push names the repository after the chart, so a Registry
// of another repository is refused before helm runs, naming the one it must be.
func TestPushRepositoryName(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, mkdirs(t, filepath.Join(dir, "edge", "Chart.yaml")), []byte("apiVersion: v2\nname: edge\nversion: 0.4.0\n"))
	ch, err := loader.LoadDir(filepath.Join(dir, "edge"))
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository("127.0.0.1:1/"+chartrelease.Repository+"/other", name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = chartrelease.Push(context.Background(), "/nonexistent/helm", tgz, bootstrapimage.Registry{Repo: repo}, "", nil)
	if err == nil || !strings.Contains(err.Error(), "must be edge") {
		t.Errorf("Push(%s) to %s = %v, want an error saying the repository must be edge", filepath.Base(tgz), repo, err)
	}
}
