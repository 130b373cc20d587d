// Package chartrelease provides the edge chart as a release artifact: a copy of chart/
// with the release's version and appVersion in Chart.yaml, the bootstrap image's digest as
// the default of values.yaml's bootstrap.image.digest, the tracebloc/client chart vendored
// into charts/, packaged (and signed: the .prov) by the real `helm package`, and pushed to
// an OCI registry by `helm push`, which uploads the .prov beside the .tgz as a layer of
// the same manifest.
//
// The copy takes what `helm package chart/` would take (chartfiles: chart/.helmignore
// keeps the Go files, testdata/ and README.md.gotmpl out). Chart.yaml and values.yaml are
// edited token by token (SetScalar, and SetImage for the bootstrap's entry of Chart.yaml's
// artifacthub.io/images), so their comments, which helm-docs and users read, stay.
package chartrelease

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/release/chartfiles"
	"github.com/tracebloc/edge/internal/release/helmplugin"
	"github.com/tracebloc/edge/postrender/pins"
)

// Options say what Package makes.
type Options struct {
	Helm  string // the Helm 3 CLI (helm package, helm dependency build)
	Chart string // the chart folder (the repository's chart/): read, never written
	// Dependency is the client chart's .tgz to vendor into charts/; "": what `helm
	// dependency build` fetches from Chart.lock's repositories (the network's).
	Dependency string
	// Version is the release (v0.4.0): Chart.yaml's version and appVersion become 0.4.0.
	Version string
	// BootstrapDigest (sha256:<64 hex>) becomes values.yaml's bootstrap.image.digest, the
	// chart's default; required.
	BootstrapDigest string
	Signing         *helmplugin.Signing // the OpenPGP key of `helm package --sign` (the .prov); nil: unsigned
	Dest            string              // where <name>-<version>.tgz (and its .prov) go
	Env             []string            // the Helm CLI's environment; nil: this process's
	Output          io.Writer           // Helm's messages; nil: discarded
}

// Package writes the release's chart package into o.Dest and returns its path and, when
// signed, its .prov's.
func Package(ctx context.Context, o Options) (tgz, prov string, err error) {
	// A chart's version is strict semver too, as a plugin's is.
	version, err := helmplugin.PluginVersion(o.Version)
	if err != nil {
		return "", "", fmt.Errorf("package the chart: the version %q is not semver (X.Y.Z[-pre][+build]), which Helm requires of a chart: pass --version v0.4.0 or tag the commit", o.Version)
	}
	if err := pins.CheckDigest(o.BootstrapDigest); err != nil {
		return "", "", fmt.Errorf("package the chart: the bootstrap image's %w: push the image and pass the index digest the push printed", err)
	}
	name, err := chartName(o.Chart)
	if err != nil {
		return "", "", err
	}
	work, err := os.MkdirTemp("", "chartrelease-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, name)
	if err := chartfiles.Copy(o.Chart, dir); err != nil {
		return "", "", fmt.Errorf("copy the chart %s: %w", o.Chart, err)
	}
	if err := stamp(dir, version, o.BootstrapDigest); err != nil {
		return "", "", err
	}
	if err := vendor(ctx, o, dir, work); err != nil {
		return "", "", err
	}
	return pack(ctx, o, dir, name+"-"+version+".tgz")
}

// pack runs `helm package` on the prepared copy (signed with o.Signing) and checks that
// it wrote file and, when signed, file.prov into o.Dest. A file.prov an earlier run left
// there goes first: helm push uploads whatever .prov lies beside the package, and an old
// one signs other bytes.
func pack(ctx context.Context, o Options, dir, file string) (tgz, prov string, err error) {
	if err := os.MkdirAll(o.Dest, 0o755); err != nil {
		return "", "", err
	}
	if err := os.Remove(filepath.Join(o.Dest, file+".prov")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("remove the provenance file an earlier release left: %w", err)
	}
	args := []string{"package", dir, "--destination", o.Dest}
	if s := o.Signing; s != nil {
		args = append(args, "--sign", "--key", s.Key, "--keyring", s.Keyring)
		if s.PassphraseFile != "" {
			args = append(args, "--passphrase-file", s.PassphraseFile)
		}
	}
	if _, err := runHelm(ctx, o.Helm, o.Env, o.Output, args...); err != nil {
		return "", "", err
	}
	tgz = filepath.Join(o.Dest, file)
	if _, err := os.Stat(tgz); err != nil {
		return "", "", fmt.Errorf("helm package wrote no %s: %w", file, err)
	}
	if o.Signing != nil {
		prov = tgz + ".prov"
		if _, err := os.Stat(prov); err != nil {
			return "", "", fmt.Errorf("helm package --sign wrote no %s.prov: %w", file, err)
		}
	}
	return tgz, prov, nil
}

// chartName is the name in the chart's Chart.yaml, which names the package.
func chartName(dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return "", fmt.Errorf("read the chart: %w", err)
	}
	var meta struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return "", fmt.Errorf("read %s: %w", filepath.Join(dir, "Chart.yaml"), err)
	}
	if meta.Name == "" || meta.Name != filepath.Base(meta.Name) {
		return "", fmt.Errorf("%s names the chart %q: want a plain name", filepath.Join(dir, "Chart.yaml"), meta.Name)
	}
	return meta.Name, nil
}

// BootstrapEntry is the bootstrap image's entry in Chart.yaml's ImagesAnnotation.
const BootstrapEntry = "edge-bootstrap"

// stamp writes the release's version, the bootstrap digest and the bootstrap image
// (values.yaml's bootstrap.image.repository at the version, the tag the chart defaults
// to) into the copy.
func stamp(dir, version, digest string) error {
	repository, err := bootstrapRepository(dir)
	if err != nil {
		return err
	}
	set := func(path ...string) func([]byte, string) ([]byte, error) {
		return func(src []byte, value string) ([]byte, error) { return SetScalar(src, path, value) }
	}
	setImage := func(src []byte, image string) ([]byte, error) { return SetImage(src, BootstrapEntry, image) }
	edits := []struct {
		file  string
		edit  func(src []byte, value string) ([]byte, error)
		value string
	}{
		{"Chart.yaml", set("version"), version},
		{"Chart.yaml", set("appVersion"), version},
		{"Chart.yaml", setImage, repository + ":" + version},
		{"values.yaml", set("bootstrap", "image", "digest"), digest},
	}
	for _, e := range edits {
		path := filepath.Join(dir, e.file)
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("stamp the chart: %w", err)
		}
		out, err := e.edit(raw, e.value)
		if err != nil {
			return fmt.Errorf("stamp the chart's %s: %w", e.file, err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return fmt.Errorf("stamp the chart: %w", err)
		}
	}
	return nil
}

// bootstrapRepository is the bootstrap image's repository in the chart's values.yaml.
func bootstrapRepository(dir string) (string, error) {
	path := filepath.Join(dir, "values.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("stamp the chart: %w", err)
	}
	var values struct {
		Bootstrap struct {
			Image struct {
				Repository string `yaml:"repository"`
			} `yaml:"image"`
		} `yaml:"bootstrap"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return "", fmt.Errorf("stamp the chart: read %s: %w", path, err)
	}
	if values.Bootstrap.Image.Repository == "" {
		return "", fmt.Errorf("stamp the chart: %s has no bootstrap.image.repository, the image the chart runs: set it", path)
	}
	return values.Bootstrap.Image.Repository, nil
}

// vendor puts the dependency into the copy's charts/: the given package, or what
// `helm dependency build` fetches for Chart.lock. Helm builds from a lock only from
// repositories it was told of with `helm repo add`, so the chart's are added to a
// repository config of the work folder's own, which leaves the user's untouched.
func vendor(ctx context.Context, o Options, dir, work string) error {
	if o.Dependency == "" {
		env := o.Env
		if env == nil {
			env = os.Environ()
		}
		env = append(env[:len(env):len(env)],
			"HELM_REPOSITORY_CONFIG="+filepath.Join(work, "repositories.yaml"),
			"HELM_REPOSITORY_CACHE="+filepath.Join(work, "repository"))
		repos, err := lockRepositories(dir)
		if err != nil {
			return err
		}
		for i, url := range repos {
			if _, err := runHelm(ctx, o.Helm, env, o.Output, "repo", "add", fmt.Sprintf("dependency-%d", i), url); err != nil {
				return fmt.Errorf("vendor the chart's dependencies: %w", err)
			}
		}
		if _, err := runHelm(ctx, o.Helm, env, o.Output, "dependency", "build", dir); err != nil {
			return fmt.Errorf("vendor the chart's dependencies: %w", err)
		}
		return nil
	}
	data, err := os.ReadFile(o.Dependency)
	if err != nil {
		return fmt.Errorf("vendor the chart's dependency: %w", err)
	}
	charts := filepath.Join(dir, "charts")
	if err := os.MkdirAll(charts, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(charts, filepath.Base(o.Dependency)), data, 0o644)
}

// lockRepositories are the chart repositories (http or https) of the chart's Chart.lock.
func lockRepositories(dir string) ([]string, error) {
	path := filepath.Join(dir, "Chart.lock")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vendor the chart's dependencies: %w (pass the dependency's .tgz instead)", err)
	}
	var lock struct {
		Dependencies []struct {
			Repository string `yaml:"repository"`
		} `yaml:"dependencies"`
	}
	if err := yaml.Unmarshal(raw, &lock); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var repos []string
	seen := map[string]bool{}
	for _, d := range lock.Dependencies {
		r := d.Repository
		if (strings.HasPrefix(r, "https://") || strings.HasPrefix(r, "http://")) && !seen[r] {
			seen[r] = true
			repos = append(repos, r)
		}
	}
	return repos, nil
}

// runHelm runs the Helm CLI; its output goes to out and is returned.
func runHelm(ctx context.Context, helm string, env []string, out io.Writer, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if out != nil {
		_, _ = out.Write(buf.Bytes())
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", helm, strings.Join(args, " "), err, strings.TrimSpace(buf.String()))
	}
	return buf.Bytes(), nil
}
