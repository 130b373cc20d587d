package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

var (
	goInstallLine    = regexp.MustCompile("`go install (github\\.com/tracebloc/edge/[^ @`]+)@latest`")
	postRendererFlag = regexp.MustCompile(`--post-renderer ([A-Za-z0-9][-A-Za-z0-9_.]*)`)
	pluginName       = regexp.MustCompile(`(?m)^name: *(\S+)$`)
	pluginCommand    = regexp.MustCompile(`(?m)^ *- command: *(\S+)$`)
)

// TestREADMEGoInstall runs the README's `go install` line into an empty GOBIN and checks
// that it gives every binary the README passes to --post-renderer and the Helm 4 plugin
// runs. It runs offline, inside this module and without @latest, which selects a version
// only: the binary's name comes from the package path.
func TestREADMEGoInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the post-renderer with go install")
	}
	root := filepath.Join("..", "..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := goInstallLine.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("README.md has no `go install github.com/tracebloc/edge/...@latest` line, want the post-renderer's")
	}
	pkg := string(m[1])
	plugin, err := os.ReadFile(filepath.Join(root, "postrender", "plugin", "plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pn, pc := pluginName.FindSubmatch(plugin), pluginCommand.FindSubmatch(plugin)
	if pn == nil || pc == nil {
		t.Fatalf("postrender/plugin/plugin.yaml names no plugin or no command:\n%s", plugin)
	}
	// --post-renderer names the binary with Helm 3 and the plugin with Helm 4.
	want := []string{string(pc[1])}
	for _, f := range postRendererFlag.FindAllSubmatch(readme, -1) {
		if name := string(f[1]); name != string(pn[1]) && !slices.Contains(want, name) {
			want = append(want, name)
		}
	}

	gobin := t.TempDir()
	cmd := exec.Command("go", "install", pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOPROXY=off", "GOFLAGS=-mod=mod -buildvcs=false",
		"GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s (the README's line, offline): %v\n%s", pkg, err, out)
	}
	for _, name := range want {
		if _, err := os.Stat(filepath.Join(gobin, name)); err != nil {
			entries, _ := os.ReadDir(gobin)
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			t.Errorf("go install %s gave %q, want %s (the name the README and the plugin run)", pkg, got, name)
		}
	}
}
