package journey

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tracebloc/edge/internal/release/archives"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/chartrelease"
	"github.com/tracebloc/edge/internal/release/helmplugin"
)

// Published is a release that tracebloc-release (`make release`) made and pushed to a
// registry, as a user finds it: the chart and the Helm 4 plugin in the registry, the
// archives and SHA256SUMS in Dist, and the public keys that verify them.
type Published struct {
	Dist, Version        string
	Registry, RegistryCA string // host:port, and the CA its certificate chains to
	CosignPub, Pubring   string // cosign's public key, the OpenPGP public keyring
	// Artifacts are the lines of artifacts.txt: kind -> "<reference> <digest>".
	Artifacts map[string]string
}

// PublishOptions say how to run the release.
type PublishOptions struct {
	Root, Dist, Keys     string // the repository; the output folder; the throwaway keys' folder
	Version              string
	Registry, RegistryCA string
	Helm, Helm4          string
	ClientChart          string // the tracebloc/client chart .tgz
	// Platforms of the post-renderer (default: this machine's only, the one installed
	// here: `make release` builds all six).
	Platforms []string
	Log       io.Writer
}

// Publish runs the release of root's work tree (uncommitted changes included, as the
// journey tests and the demo run the code as it is) into o.Dist and o.Registry.
func Publish(ctx context.Context, o PublishOptions) (*Published, error) {
	platforms := o.Platforms
	if len(platforms) == 0 {
		platforms = []string{runtime.GOOS + "/" + runtime.GOARCH}
	}
	args := []string{"run", "./internal/release/cmd/tracebloc-release", "--version", o.Version, "--out", o.Dist,
		"--registry", o.Registry, "--registry-ca", o.RegistryCA, "--keys", o.Keys, "--worktree",
		"--helm", o.Helm, "--helm4", o.Helm4, "--platforms", strings.Join(platforms, ",")}
	if o.ClientChart != "" {
		args = append(args, "--client-chart", o.ClientChart)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = o.Root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if o.Log != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, o.Log), io.MultiWriter(&out, o.Log)
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("tracebloc-release: %w\n%s", err, out.String())
	}
	p := &Published{Dist: o.Dist, Version: o.Version, Registry: o.Registry, RegistryCA: o.RegistryCA,
		CosignPub: filepath.Join(o.Keys, "cosign.pub"), Pubring: filepath.Join(o.Keys, "pubring.gpg"), Artifacts: map[string]string{}}
	list, err := os.ReadFile(filepath.Join(o.Dist, "artifacts.txt"))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		if kind, rest, ok := strings.Cut(line, " "); ok && kind != "signature" {
			p.Artifacts[kind] = rest
		}
	}
	return p, nil
}

// FileVersion is the version as the chart and the plugin carry it (no "v").
func (p *Published) FileVersion() string { return archives.FileVersion(p.Version) }

// ChartRef is the chart's OCI reference (helm install <ref> --version <FileVersion>).
func (p *Published) ChartRef() string {
	return "oci://" + p.Registry + "/" + chartrelease.EdgeRepository
}

// PluginRef is the Helm 4 plugin's OCI reference (helm plugin install <ref>).
func (p *Published) PluginRef() string {
	return "oci://" + p.Registry + "/" + helmplugin.Repository + ":" + p.FileVersion()
}

// Digest is the digest artifacts.txt lists for kind ("image", "chart", "plugin").
func (p *Published) Digest(kind string) string {
	_, d, _ := strings.Cut(p.Artifacts[kind], " ")
	return d
}

// Ref is kind's repository as artifacts.txt lists it, by the digest listed there: what
// scripts/sign-keyless signs.
func (p *Published) Ref(kind string) string {
	listed, digest, _ := strings.Cut(p.Artifacts[kind], " ")
	ref, err := name.ParseReference(strings.TrimPrefix(listed, "oci://"))
	if err != nil {
		return listed + "@" + digest // a test that uses it fails and shows it
	}
	return ref.Context().Name() + "@" + digest
}

// InstallFlags are the flags of `helm install <ChartRef>` that pull this release's chart
// and verify its provenance.
func (p *Published) InstallFlags() []string {
	return []string{"--version", p.FileVersion(), "--verify", "--keyring", p.Pubring, "--ca-file", p.RegistryCA}
}

// PostRenderer installs the post-renderer for this machine as a user does: it checks the
// signature of SHA256SUMS with cosign.pub, the archive's checksum, and unpacks the binary
// into dir.
func (p *Published) PostRenderer(dir string) (string, error) {
	sums, err := os.ReadFile(filepath.Join(p.Dist, "SHA256SUMS"))
	if err != nil {
		return "", err
	}
	sig, err := os.ReadFile(filepath.Join(p.Dist, "SHA256SUMS.sig"))
	if err != nil {
		return "", err
	}
	pubPEM, err := os.ReadFile(p.CosignPub)
	if err != nil {
		return "", err
	}
	pub, err := blobsig.ParsePublicKey(pubPEM)
	if err != nil {
		return "", err
	}
	if err := blobsig.Verify(pub, bytes.NewReader(sums), sig); err != nil {
		return "", fmt.Errorf("SHA256SUMS.sig: %w", err)
	}
	name := archives.ArchiveName(p.Version, archives.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH})
	archive, err := os.ReadFile(filepath.Join(p.Dist, name))
	if err != nil {
		return "", err
	}
	if err := checkSum(sums, name, archive); err != nil {
		return "", err
	}
	return unpackBinary(archive, archives.BinaryName, dir)
}

// checkSum checks data against its line of SHA256SUMS, as sha256sum -c does.
func checkSum(sums []byte, name string, data []byte) error {
	sum := sha256.Sum256(data)
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		want, file, ok := strings.Cut(sc.Text(), "  ")
		if ok && file == name {
			if want != hex.EncodeToString(sum[:]) {
				return fmt.Errorf("%s: checksum mismatch with SHA256SUMS", name)
			}
			return nil
		}
	}
	return fmt.Errorf("SHA256SUMS lists no %s", name)
}

// unpackBinary writes the archive's entry named bin (at any depth) to dir/bin.
func unpackBinary(archive []byte, bin, dir string) (string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("the archive holds no %s", bin)
		}
		if err != nil {
			return "", err
		}
		if path.Base(h.Name) != bin || h.Typeflag != tar.TypeReg {
			continue
		}
		out := filepath.Join(dir, bin)
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return "", err
		}
		if _, err := io.Copy(f, io.LimitReader(tr, 256<<20)); err != nil {
			f.Close()
			return "", err
		}
		return out, f.Close()
	}
}
