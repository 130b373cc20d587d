// Package helmplugin provides the post-renderer's Helm 4 plugin package: a plugin folder
// staged with the binary of every release platform under bin/<os>-<arch>/ and a
// plugin.yaml whose runtimeConfig.platformCommand picks the one of the machine
// ($HELM_PLUGIN_DIR/bin/<os>-<arch>/tracebloc-postrender), packaged by the real
// `helm plugin package` (optionally signed: --sign writes the .prov file), so that
// `helm plugin install tracebloc-<version>.tgz` needs no download and nothing on PATH.
// PushOCI puts the package and its .prov into an OCI registry as the artifact
// `helm plugin install oci://<registry>/tracebloc/plugins/tracebloc:<version>` installs.
//
// Helm 4 picks the platformCommand entry whose os and arch equal its own GOOS and GOARCH
// (case-insensitive), expands $HELM_PLUGIN_DIR in the command, and passes
// --post-renderer-args as the command's arguments. It installs a .tgz from the folder
// named like the file up to "-<version>", which is the plugin name: `helm plugin package`
// writes <name>-<version>.tgz with that folder, and the version must be strict semver.
//
// The development plugin, postrender/plugin/plugin.yaml, stays a single command found on
// PATH; it is the one `helm plugin install postrender/plugin` installs from the folder.
package helmplugin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/release/archives"
)

// Name is the plugin's name: `--post-renderer tracebloc` with Helm 4.
const Name = "tracebloc"

// semverPattern is semver 2.0.0's own pattern, which Helm's strict parse follows.
var semverPattern = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// PluginVersion is the plugin's version for a release version: without its leading "v"
// (v0.4.0 -> 0.4.0); an error when that is not strict semver, which Helm requires.
func PluginVersion(version string) (string, error) {
	v := archives.FileVersion(version)
	if !semverPattern.MatchString(v) {
		return "", fmt.Errorf("the plugin version %q is not semver (X.Y.Z[-pre][+build]), which Helm requires of a plugin: pass --version v0.4.0 or tag the commit", v)
	}
	return v, nil
}

type platformCommand struct {
	OS      string `yaml:"os"`
	Arch    string `yaml:"arch"`
	Command string `yaml:"command"`
}

type manifest struct {
	APIVersion    string `yaml:"apiVersion"`
	Name          string `yaml:"name"`
	Version       string `yaml:"version"`
	Type          string `yaml:"type"`
	Runtime       string `yaml:"runtime"`
	RuntimeConfig struct {
		PlatformCommand []platformCommand `yaml:"platformCommand"`
	} `yaml:"runtimeConfig"`
}

const manifestHeader = `# Helm 4 post-renderer plugin with its binaries: each platform's tracebloc-postrender is
# in bin/<os>-<arch>/, and Helm runs the one of its own os and arch.
#
#   helm plugin install tracebloc-VERSION.tgz
#   helm install edge oci://ghcr.io/tracebloc/charts/edge -n edge --post-renderer tracebloc \
#     [--post-renderer-args --kube-context=prod]
#
# Helm 4 hides a plugin's stderr: set TRACEBLOC_POSTRENDER_LOG_FILE (or pass --log-file)
# to read the post-renderer's diagnostics.
`

// Manifest is the packaged plugin.yaml: one platformCommand per platform, each running
// the binary in the plugin's own folder.
func Manifest(version string, platforms []archives.Platform) ([]byte, error) {
	v, err := PluginVersion(version)
	if err != nil {
		return nil, err
	}
	m := manifest{APIVersion: "v1", Name: Name, Version: v, Type: "postrenderer/v1", Runtime: "subprocess"}
	for _, p := range platforms {
		m.RuntimeConfig.PlatformCommand = append(m.RuntimeConfig.PlatformCommand, platformCommand{
			OS: p.OS, Arch: p.Arch, Command: "${HELM_PLUGIN_DIR}/" + binPath(p),
		})
	}
	var buf bytes.Buffer
	buf.WriteString(manifestHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// binPath is where a platform's binary lives inside the plugin folder.
func binPath(p archives.Platform) string {
	return "bin/" + p.OS + "-" + p.Arch + "/" + p.Binary()
}

// Stage writes the plugin folder dir: plugin.yaml and each platform's binary, every file
// and folder dated mtime so the package's entries do not depend on when it was staged.
func Stage(dir, version string, binaries map[archives.Platform]string, mtime time.Time) error {
	var platforms []archives.Platform
	for _, p := range archives.Platforms {
		if _, ok := binaries[p]; ok {
			platforms = append(platforms, p)
		}
	}
	if len(platforms) != len(binaries) {
		return fmt.Errorf("stage the plugin: a binary for a platform outside the release's list %v", archives.Platforms)
	}
	yml, err := Manifest(version, platforms)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("stage the plugin: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.yaml"), yml, 0o644); err != nil {
		return fmt.Errorf("stage the plugin: %w", err)
	}
	for _, p := range platforms {
		if err := copyFile(binaries[p], filepath.Join(dir, filepath.FromSlash(binPath(p)))); err != nil {
			return fmt.Errorf("stage the plugin's %s binary: %w", p, err)
		}
	}
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(path, mtime, mtime)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Signing names the OpenPGP key `helm plugin package --sign` signs with.
type Signing struct {
	Key            string // a name (or part of one) of the key's identity
	Keyring        string // the secret keyring file (binary or armored)
	PassphraseFile string // the key's passphrase; empty for a key without one
}

// PackageOptions say how to run `helm plugin package`.
type PackageOptions struct {
	Helm    string    // the Helm 4 CLI
	Dir     string    // the staged plugin folder
	Dest    string    // where the .tgz (and .prov) go
	Signing *Signing  // nil: --sign=false
	Env     []string  // the CLI's environment; default os.Environ()
	Output  io.Writer // the CLI's messages
	Version string    // the release version, for the file name
}

// Package runs the Helm 4 CLI's `helm plugin package` on the staged folder and returns
// the .tgz's path and, when signed, the .prov's.
func Package(ctx context.Context, o PackageOptions) (tgz, prov string, err error) {
	v, err := PluginVersion(o.Version)
	if err != nil {
		return "", "", err
	}
	args := []string{"plugin", "package", o.Dir, "--destination", o.Dest}
	if s := o.Signing; s != nil {
		args = append(args, "--sign", "--key", s.Key, "--keyring", s.Keyring)
		if s.PassphraseFile != "" {
			args = append(args, "--passphrase-file", s.PassphraseFile)
		}
	} else {
		args = append(args, "--sign=false")
	}
	cmd := exec.CommandContext(ctx, o.Helm, args...)
	cmd.Env = o.Env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("%s %s: %w: %s (is %s Helm 4? `helm version` says)", o.Helm, strings.Join(args, " "), err, strings.TrimSpace(out.String()), o.Helm)
	}
	if o.Output != nil {
		_, _ = o.Output.Write(out.Bytes())
	}
	tgz = filepath.Join(o.Dest, Name+"-"+v+".tgz")
	if _, err := os.Stat(tgz); err != nil {
		return "", "", fmt.Errorf("helm plugin package wrote no %s: %w", filepath.Base(tgz), err)
	}
	if o.Signing != nil {
		prov = tgz + ".prov"
		if _, err := os.Stat(prov); err != nil {
			return "", "", fmt.Errorf("helm plugin package --sign wrote no %s: %w", filepath.Base(prov), err)
		}
	}
	return tgz, prov, nil
}
