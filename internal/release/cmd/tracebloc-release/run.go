package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
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

	"github.com/tracebloc/edge/internal/ociimage"
	"github.com/tracebloc/edge/internal/release/archives"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/bootstrapimage"
	"github.com/tracebloc/edge/internal/release/helmplugin"
)

var errUsage = errors.New("usage")

type config struct {
	version, out, repo, goCmd string
	helm3, helm4              string
	registry, registryCA      string
	revision, licenses        string
	caBundle, clientChart     string
	cosignKey                 string
	pgpSigning                *helmplugin.Signing
	platforms                 []archives.Platform
	mtime                     time.Time
	env                       []string
	worktree                  bool
}

// release is one run: its config, what it built and the files and artefacts it made.
type release struct {
	config
	stderr          io.Writer
	src             string // the staged HEAD (stageSource)
	key             *ecdsa.PrivateKey
	image           *bootstrapimage.Built
	bootstrapDigest string
	binaries        map[archives.Platform]string
	pluginFile      string   // the plugin package's name in the output folder
	chartFile       string   // the packaged chart's path
	files           []string // in the output folder, in the order written
	artifacts       []string // "<kind> <reference> <digest>" (one word each), in the order made
}

type step struct {
	name string
	run  func(context.Context) error
	push bool // needs --registry
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	r := &release{config: cfg, stderr: stderr}
	for _, s := range []step{
		{name: "stage the source", run: r.stageSource},
		{name: "read the signing key", run: r.readCosignKey},
		{name: "build the bootstrap image", run: r.buildImage},
		{name: "push and sign the bootstrap image", run: r.pushImage, push: true},
		{name: "pin the bootstrap image", run: r.pinBootstrap},
		{name: "build the post-renderer", run: r.buildBinaries},
		{name: "write the archives", run: r.writeArchives},
		{name: "package the Helm 4 plugin", run: r.packagePlugin},
		{name: "push and sign the Helm 4 plugin", run: r.pushPlugin, push: true},
		{name: "package the chart", run: r.packageChart},
		{name: "push and sign the chart", run: r.pushChart, push: true},
		{name: "write SHA256SUMS", run: r.writeChecksums},
		{name: "sign SHA256SUMS", run: r.signChecksums},
		{name: "list the artefacts", run: r.writeArtifacts},
	} {
		if s.push && r.registry == "" {
			fmt.Fprintf(stderr, "tracebloc-release: no --registry: skipped: %s\n", s.name)
			continue
		}
		fmt.Fprintf(stderr, "tracebloc-release: %s\n", s.name)
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	for _, f := range r.files {
		fmt.Fprintln(stdout, filepath.Join(r.out, f))
	}
	return nil
}

// rawFlags are the flags that parseFlags turns into config fields of other types.
type rawFlags struct {
	platforms, mtime                        string
	pgpKey, pgpKeyring, pgpPassphrase, keys string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("tracebloc-release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var raw rawFlags
	defineFlags(fs, &c, &raw)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := c.complete(raw); err != nil {
		return c, err
	}
	c.env = os.Environ()
	return c, nil
}

func defineFlags(fs *flag.FlagSet, c *config, raw *rawFlags) {
	fs.StringVar(&c.version, "version", "", "the release version, such as v0.4.0 (required)")
	fs.StringVar(&c.out, "out", "dist", "the folder the release files go to")
	fs.StringVar(&c.repo, "repo", ".", "the repository root; the release is made of its HEAD commit")
	fs.BoolVar(&c.worktree, "worktree", false, "release the work tree as it is, uncommitted changes included (a local release of work in progress)")
	fs.StringVar(&c.goCmd, "go", "go", "the go command")
	fs.StringVar(&c.helm3, "helm", "helm", "the Helm 3 CLI (packages and pushes the chart)")
	fs.StringVar(&c.helm4, "helm4", "helm4", "the Helm 4 CLI (packages the plugin)")
	fs.StringVar(&c.registry, "registry", "", "the registry host[:port] the image, chart and plugin go to (tracebloc/... below it); empty: build the files only")
	fs.StringVar(&c.registryCA, "registry-ca", "", "a PEM CA to trust for the registry besides the system's")
	fs.StringVar(&c.revision, "revision", "", "the git commit of org.opencontainers.image.revision (default: HEAD of --repo)")
	fs.StringVar(&c.licenses, "licenses", "NOASSERTION", "the SPDX license expression of the image and its SBOM")
	fs.StringVar(&c.caBundle, "ca-bundle", ociimage.DebianCABundle, "the CA bundle to copy into the image")
	fs.StringVar(&c.clientChart, "client-chart", "", "the tracebloc/client chart .tgz to package as the dependency (default: helm dependency build from its repository)")
	fs.StringVar(&c.cosignKey, "cosign-key", "", "ECDSA P-256 private key (PEM) that signs the image, the SBOMs, the chart, the plugin and SHA256SUMS")
	fs.StringVar(&raw.pgpKey, "pgp-key", "", "name of the OpenPGP key that signs the chart and the plugin package (.prov)")
	fs.StringVar(&raw.pgpKeyring, "pgp-keyring", "", "the OpenPGP secret keyring of --pgp-key")
	fs.StringVar(&raw.pgpPassphrase, "pgp-passphrase-file", "", "the passphrase of --pgp-key")
	fs.StringVar(&raw.keys, "keys", "", "a folder of throwaway key pairs (made there the first time) that sign what --cosign-key and --pgp-key do not: for a release to a local registry")
	fs.StringVar(&raw.platforms, "platforms", "", "comma-separated os/arch list of the post-renderer (default: all six)")
	fs.StringVar(&raw.mtime, "mtime", "", "Unix seconds every archive entry and the image are dated (default $SOURCE_DATE_EPOCH, then HEAD's commit time)")
}

// complete checks the parsed flags and fills in what they leave to defaults.
func (c *config) complete(raw rawFlags) error {
	if c.version == "" {
		return fmt.Errorf("%w: --version is required (such as --version v0.4.0)", errUsage)
	}
	if _, err := helmplugin.PluginVersion(c.version); err != nil {
		return fmt.Errorf("%w: --version: %v", errUsage, err)
	}
	c.platforms = archives.Platforms
	if raw.platforms != "" {
		c.platforms = nil
		for _, s := range strings.Split(raw.platforms, ",") {
			p, err := archives.ParsePlatform(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("%w: --platforms: %v", errUsage, err)
			}
			c.platforms = append(c.platforms, p)
		}
	}
	if (raw.pgpKey == "") != (raw.pgpKeyring == "") {
		return fmt.Errorf("%w: --pgp-key and --pgp-keyring go together", errUsage)
	}
	if raw.pgpPassphrase != "" && raw.pgpKey == "" {
		return fmt.Errorf("%w: --pgp-passphrase-file is the passphrase of --pgp-key: pass --pgp-key and --pgp-keyring too, or leave it out", errUsage)
	}
	if raw.pgpKey != "" {
		c.pgpSigning = &helmplugin.Signing{Key: raw.pgpKey, Keyring: raw.pgpKeyring, PassphraseFile: raw.pgpPassphrase}
	}
	if raw.keys != "" {
		if err := useLocalKeys(c, raw.keys); err != nil {
			return err
		}
	}
	t, err := releaseTime(raw.mtime, c.repo)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	c.mtime = t
	if c.revision == "" {
		out, err := exec.Command("git", "-C", c.repo, "rev-parse", "HEAD").Output()
		if err != nil {
			return fmt.Errorf("%w: no --revision and no git HEAD in %s (%v): pass --revision", errUsage, c.repo, err)
		}
		c.revision = strings.TrimSpace(string(out))
	}
	return nil
}

// fileVersion is the version without its "v": the chart's, the plugin's and the image tag.
func (r *release) fileVersion() string { return archives.FileVersion(r.version) }

// artifact records something the release pushed or built, for artifacts.txt.
func (r *release) artifact(kind, ref, digest string) {
	r.artifacts = append(r.artifacts, kind+" "+ref+" "+digest)
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
		Root: r.src, Version: r.version, Platforms: r.platforms,
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
		files, err := archives.ArchiveFiles(r.src, p, bin)
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
		Helm: r.helm4, Dir: stage, Dest: r.out, Signing: r.pgpSigning,
		Env: r.env, Output: r.stderr, Version: r.version,
	})
	if err != nil {
		return err
	}
	r.pluginFile = filepath.Base(tgz)
	r.files = append(r.files, r.pluginFile)
	if prov != "" {
		r.files = append(r.files, filepath.Base(prov))
	}
	return nil
}

// checksummed are the files SHA256SUMS lists: the archives, the plugin package, the
// chart and the SBOMs; not the .prov files (each is itself a signature over its package)
// nor cosign.pub (a checksum signed by the key it lists proves nothing).
func (r *release) checksummed() []string {
	var names []string
	for _, f := range r.files {
		if !strings.HasSuffix(f, ".prov") && f != "cosign.pub" {
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
	if r.key == nil {
		return nil
	}
	sums, err := os.Open(filepath.Join(r.out, "SHA256SUMS"))
	if err != nil {
		return err
	}
	defer sums.Close()
	sig, err := blobsig.Sign(rand.Reader, r.key, sums)
	if err != nil {
		return err
	}
	return r.write("SHA256SUMS.sig", sig)
}

// writeArtifacts writes artifacts.txt: each artefact the release built or pushed, with
// its reference and digest (what the keyless signing of the release workflow signs); the
// files' digests are SHA256SUMS.
func (r *release) writeArtifacts(context.Context) error {
	var b strings.Builder
	for _, a := range r.artifacts {
		b.WriteString(a + "\n")
	}
	fmt.Fprint(r.stderr, b.String())
	return r.write("artifacts.txt", []byte(b.String()))
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
