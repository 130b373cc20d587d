package helmplugin_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/release/archives"
	"github.com/tracebloc/edge/internal/release/helmplugin"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

var update = flag.Bool("update", false, "rewrite testdata/plugin.yaml")

func TestManifestGolden(t *testing.T) {
	got, err := helmplugin.Manifest("v0.4.0", archives.Platforms)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "plugin.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Manifest(v0.4.0) (-want +got):\n%s", diff)
	}
}

func TestPluginVersion(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"tag", "v0.4.0", "0.4.0"},
		{"bare", "1.2.3", "1.2.3"},
		{"prerelease", "v1.0.0-rc.1+g1234", "1.0.0-rc.1+g1234"},
		{"describe", "a2a6208-dirty", ""},
		{"dev", "dev", ""},
		{"leading zero", "v01.2.3", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := helmplugin.PluginVersion(tc.in)
			if got != tc.want || (err == nil) != (tc.want != "") {
				t.Errorf("PluginVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// hostPlatform is the machine the tests run Helm on.
var hostPlatform = archives.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}

// TestInstallAndRender packages the plugin with the real Helm 4 CLI, signed, installs the
// .tgz into fresh Helm homes with --verify, and renders a chart through it with nothing
// on PATH: Helm must run the binary of its own platform from the plugin's folder, with
// the --post-renderer-args. The other platforms' binaries are files that cannot run here,
// so picking one of them fails the render.
func TestInstallAndRender(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the post-renderer and runs the Helm 4 CLI")
	}
	helm := releasetest.Helm4(t)
	tgz, prov, pubring := signedPlugin(t, helm)
	if filepath.Base(tgz) != "tracebloc-0.4.0.tgz" || prov != tgz+".prov" {
		t.Errorf("Package = %s, %s; want tracebloc-0.4.0.tgz and its .prov", tgz, prov)
	}

	h := newHelm(t, helm)
	if out, err := h.Run("plugin", "verify", tgz, "--keyring", pubring); err != nil {
		t.Fatalf("helm plugin verify: %v\n%s", err, out)
	}
	if out, err := h.Run("plugin", "install", tgz, "--keyring", pubring); err != nil || !strings.Contains(out, "Signed by: Release Signer") {
		t.Fatalf("helm plugin install %s --keyring: %v\n%s", filepath.Base(tgz), err, out)
	}
	out, err := h.Run("template", "tiny", tinyChart(t), "-n", "ns1", "--post-renderer", helmplugin.Name,
		"--post-renderer-args", "--offline", "--post-renderer-args", "--cluster-id=c1")
	if err != nil {
		t.Fatalf("helm template through the installed plugin: %v\n%s", err, out)
	}
	if !strings.Contains(out, "tracebloc.io/cluster-id: c1") {
		t.Errorf("helm template through the plugin = \n%s\nwant the tracebloc.io/cluster-id: c1 label", out)
	}

	// A package changed after signing (the same files compressed anew, so that the
	// archive itself is valid) is refused.
	tampered := filepath.Join(t.TempDir(), filepath.Base(tgz))
	writeFile(t, tampered, string(releasetest.Recompress(t, tgz)), 0o644)
	provData, _ := os.ReadFile(prov)
	writeFile(t, tampered+".prov", string(provData), 0o644)
	h2 := newHelm(t, helm)
	if out, err := h2.Run("plugin", "install", tampered, "--keyring", pubring); err == nil || !strings.Contains(out, "sha256 sum does not match") {
		t.Errorf("helm plugin install of a changed package: %v\n%s\nwant a mismatch of the signed sum", err, out)
	}
}

// signedPlugin is the plugin package, signed by a new key, with the post-renderer built
// for this machine's platform; the other platforms' binaries are files that cannot run
// here, so a Helm that picks one of them fails the render.
func signedPlugin(t *testing.T, helm string) (tgz, prov, pubring string) {
	t.Helper()
	ctx := context.Background()
	work := t.TempDir()
	bins, err := archives.Build(ctx, archives.BuildOptions{
		Root: releasetest.Source(t), Version: "v0.4.0", Platforms: []archives.Platform{hostPlatform},
		OutDir: filepath.Join(work, "build"), Stderr: os.Stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range archives.Platforms {
		if p == hostPlatform {
			continue
		}
		path := filepath.Join(work, "build", p.OS+"-"+p.Arch, p.Binary())
		writeFile(t, path, "not a binary for "+p.String()+"\n", 0o755)
		bins[p] = path
	}
	stage := filepath.Join(work, "stage", helmplugin.Name)
	if err := helmplugin.Stage(stage, "v0.4.0", bins, time.Unix(1767225600, 0)); err != nil {
		t.Fatal(err)
	}
	secring, pubring := releasetest.PGPKey(t, work, "Release Signer")
	tgz, prov, err = helmplugin.Package(ctx, helmplugin.PackageOptions{
		Helm: helm, Dir: stage, Dest: filepath.Join(work, "dist"), Version: "v0.4.0",
		Signing: &helmplugin.Signing{Key: "Release Signer", Keyring: secring},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tgz, prov, pubring
}

// TestDevelopmentPlugin keeps postrender/plugin working for development: installed from
// the folder, it runs tracebloc-postrender from PATH.
func TestDevelopmentPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the post-renderer and runs the Helm 4 CLI")
	}
	helm := releasetest.Helm4(t)
	src := releasetest.Source(t)
	bins, err := archives.Build(context.Background(), archives.BuildOptions{
		Root: src, Version: "v0.4.0", Platforms: []archives.Platform{hostPlatform},
		OutDir: t.TempDir(), Stderr: os.Stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	root, err := clustertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	h := newHelm(t, helm)
	h.Path = filepath.Dir(bins[hostPlatform])
	if out, err := h.Run("plugin", "install", filepath.Join(root, "postrender", "plugin")); err != nil {
		t.Fatalf("helm plugin install postrender/plugin: %v\n%s", err, out)
	}
	out, err := h.Run("template", "tiny", tinyChart(t), "--post-renderer", helmplugin.Name,
		"--post-renderer-args", "--offline", "--post-renderer-args", "--cluster-id=dev1")
	if err != nil || !strings.Contains(out, "tracebloc.io/cluster-id: dev1") {
		t.Errorf("helm template through the development plugin: %v\n%s\nwant the tracebloc.io/cluster-id: dev1 label", err, out)
	}
}

// newHelm is the Helm 4 CLI bin with homes of its own and a PATH of one empty folder.
func newHelm(t *testing.T, bin string) *releasetest.Helm {
	h := releasetest.NewHelm(t, bin)
	h.Path = filepath.Join(h.Home, "empty-path")
	return h
}

func tinyChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	writeFile(t, filepath.Join(dir, "Chart.yaml"), "apiVersion: v2\nname: tiny\nversion: 0.1.0\n", 0o644)
	writeFile(t, filepath.Join(dir, "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tiny\ndata:\n  a: b\n", 0o644)
	return dir
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}
