package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tracebloc/edge/internal/release/archives"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/helmplugin"
)

var errUsage = errors.New("usage")

type config struct {
	version, out, repo, goCmd, helm string
	cosignKey                       string
	pluginSigning                   *helmplugin.Signing
	platforms                       []archives.Platform
	mtime                           time.Time
}

// release is one run: its config, the binaries it built and the files it wrote.
type release struct {
	config
	stderr   io.Writer
	binaries map[archives.Platform]string
	files    []string // in the output folder, in the order written
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	r := &release{config: cfg, stderr: stderr}
	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"build the binaries", r.buildBinaries},
		{"write the archives", r.writeArchives},
		{"package the Helm 4 plugin", r.packagePlugin},
		{"write SHA256SUMS", r.writeChecksums},
		{"sign SHA256SUMS", r.signChecksums},
	} {
		fmt.Fprintf(stderr, "tracebloc-release: %s\n", step.name)
		if err := step.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	for _, f := range r.files {
		fmt.Fprintln(stdout, filepath.Join(r.out, f))
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("tracebloc-release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var platforms, mtime string
	var pluginKey, pluginKeyring, pluginPassphrase string
	fs.StringVar(&c.version, "version", "", "the release version, such as v0.4.0 (required)")
	fs.StringVar(&c.out, "out", "dist", "the folder the release files go to")
	fs.StringVar(&c.repo, "repo", ".", "the repository root")
	fs.StringVar(&c.goCmd, "go", "go", "the go command")
	fs.StringVar(&c.helm, "helm", "helm", "the Helm 4 CLI")
	fs.StringVar(&c.cosignKey, "cosign-key", "", "ECDSA P-256 private key (PEM) that signs SHA256SUMS")
	fs.StringVar(&pluginKey, "plugin-key", "", "name of the OpenPGP key that signs the plugin package")
	fs.StringVar(&pluginKeyring, "plugin-keyring", "", "the OpenPGP secret keyring of --plugin-key")
	fs.StringVar(&pluginPassphrase, "plugin-passphrase-file", "", "the passphrase of --plugin-key")
	fs.StringVar(&platforms, "platforms", "", "comma-separated os/arch list (default: all six)")
	fs.StringVar(&mtime, "mtime", "", "Unix seconds every archive entry is dated (default $SOURCE_DATE_EPOCH, then HEAD's commit time)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if c.version == "" {
		return c, fmt.Errorf("%w: --version is required (such as --version v0.4.0)", errUsage)
	}
	if _, err := helmplugin.PluginVersion(c.version); err != nil {
		return c, fmt.Errorf("%w: --version: %v", errUsage, err)
	}
	c.platforms = archives.Platforms
	if platforms != "" {
		c.platforms = nil
		for _, s := range strings.Split(platforms, ",") {
			p, err := archives.ParsePlatform(strings.TrimSpace(s))
			if err != nil {
				return c, fmt.Errorf("%w: --platforms: %v", errUsage, err)
			}
			c.platforms = append(c.platforms, p)
		}
	}
	if (pluginKey == "") != (pluginKeyring == "") {
		return c, fmt.Errorf("%w: --plugin-key and --plugin-keyring go together", errUsage)
	}
	if pluginKey != "" {
		c.pluginSigning = &helmplugin.Signing{Key: pluginKey, Keyring: pluginKeyring, PassphraseFile: pluginPassphrase}
	}
	t, err := releaseTime(mtime, c.repo)
	if err != nil {
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	c.mtime = t
	return c, nil
}

// releaseTime is the date of every archive entry: the flag, then SOURCE_DATE_EPOCH (the
// reproducible-builds convention), then the HEAD commit's time, so a rebuild of one
// commit gives the same archives.
func releaseTime(flagValue, repo string) (time.Time, error) {
	from, s := "--mtime", flagValue
	if s == "" {
		from, s = "SOURCE_DATE_EPOCH", os.Getenv("SOURCE_DATE_EPOCH")
	}
	if s == "" {
		out, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%ct").Output()
		if err != nil {
			return time.Time{}, fmt.Errorf("no --mtime, no SOURCE_DATE_EPOCH and no git commit time (%v): pass --mtime with Unix seconds", err)
		}
		from, s = "the HEAD commit time", strings.TrimSpace(string(out))
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 315532800 { // zip dates start in 1980
		return time.Time{}, fmt.Errorf("%s %q: want Unix seconds from 1980 on", from, s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func (r *release) buildBinaries(ctx context.Context) error {
	bins, err := archives.Build(ctx, archives.BuildOptions{
		Root: r.repo, Version: r.version, Platforms: r.platforms,
		OutDir: filepath.Join(r.out, "build"), Go: r.goCmd, Stderr: r.stderr,
	})
	r.binaries = bins
	return err
}

func (r *release) writeArchives(context.Context) error {
	for _, p := range r.platforms {
		bin, err := os.ReadFile(r.binaries[p])
		if err != nil {
			return err
		}
		files, err := archives.ArchiveFiles(r.repo, p, bin)
		if err != nil {
			return err
		}
		name := archives.ArchiveName(r.version, p)
		var buf bytes.Buffer
		if err := archives.WriteArchive(&buf, name, files, r.mtime); err != nil {
			return err
		}
		if err := r.write(name, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func (r *release) packagePlugin(ctx context.Context) error {
	stage := filepath.Join(r.out, "build", "plugin", helmplugin.Name)
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	if err := helmplugin.Stage(stage, r.version, r.binaries, r.mtime); err != nil {
		return err
	}
	tgz, prov, err := helmplugin.Package(ctx, helmplugin.PackageOptions{
		Helm: r.helm, Dir: stage, Dest: r.out, Signing: r.pluginSigning,
		Env: os.Environ(), Output: r.stderr, Version: r.version,
	})
	if err != nil {
		return err
	}
	r.files = append(r.files, filepath.Base(tgz))
	if prov != "" {
		r.files = append(r.files, filepath.Base(prov))
	}
	return nil
}

// checksummed are the files SHA256SUMS lists: the archives and the plugin package,
// not the plugin's .prov (it is itself a signature over the package).
func (r *release) checksummed() []string {
	var names []string
	for _, f := range r.files {
		if !strings.HasSuffix(f, ".prov") {
			names = append(names, f)
		}
	}
	return names
}

func (r *release) writeChecksums(context.Context) error {
	var buf bytes.Buffer
	if err := archives.WriteChecksums(&buf, r.out, r.checksummed()); err != nil {
		return err
	}
	return r.write("SHA256SUMS", buf.Bytes())
}

func (r *release) signChecksums(context.Context) error {
	if r.cosignKey == "" {
		fmt.Fprintln(r.stderr, "tracebloc-release: no --cosign-key: SHA256SUMS is not signed")
		return nil
	}
	pemData, err := os.ReadFile(r.cosignKey)
	if err != nil {
		return fmt.Errorf("read --cosign-key: %w", err)
	}
	key, err := blobsig.ParsePrivateKey(pemData)
	if err != nil {
		return fmt.Errorf("--cosign-key %s: %w", r.cosignKey, err)
	}
	sums, err := os.Open(filepath.Join(r.out, "SHA256SUMS"))
	if err != nil {
		return err
	}
	defer sums.Close()
	sig, err := blobsig.Sign(rand.Reader, key, sums)
	if err != nil {
		return err
	}
	return r.write("SHA256SUMS.sig", sig)
}

func (r *release) write(name string, data []byte) error {
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.out, name), data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	r.files = append(r.files, name)
	return nil
}
