package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tracebloc/edge/internal/ociimage"
	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/bootstrapimage"
)

// options are the command line.
type options struct {
	version, revision, licenses, registry, registryCA, key, out, root, caBundle, goCmd string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.version, "version", "", "the release version: the image tag and org.opencontainers.image.version (required)")
	fs.StringVar(&o.revision, "revision", "", "the git commit of the release: org.opencontainers.image.revision (required)")
	fs.StringVar(&o.licenses, "licenses", "NOASSERTION", "the SPDX license expression of org.opencontainers.image.licenses and the SBOM")
	fs.StringVar(&o.registry, "registry", "", "the registry host[:port] to push "+bootstrapimage.Repository+" to (required)")
	fs.StringVar(&o.registryCA, "registry-ca", "", "a PEM CA to trust for the registry besides the system's")
	fs.StringVar(&o.key, "key", "", "a PEM ECDSA P-256 private key to sign with (no signature without it)")
	fs.StringVar(&o.out, "out", "", "the folder for the binaries, SBOMs and cosign.pub (required)")
	fs.StringVar(&o.root, "source", ".", "the repository to build the bootstrap from")
	fs.StringVar(&o.caBundle, "ca-bundle", ociimage.DebianCABundle, "the CA bundle to copy into the image")
	fs.StringVar(&o.goCmd, "go", "go", "the go command")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var missing []string
	for _, f := range []struct{ flag, v string }{{"--version", o.version}, {"--revision", o.revision}, {"--registry", o.registry}, {"--out", o.out}} {
		if f.v == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return o, fmt.Errorf("missing %s: see --help", strings.Join(missing, ", "))
	}
	return o, nil
}

func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	created, err := bootstrapimage.CreatedFromEnv(lookup)
	if err != nil {
		return err
	}
	release := bootstrapimage.Release{Version: o.version, Revision: o.revision, Licenses: o.licenses, Created: created, CABundle: o.caBundle}
	if err := release.Validate(); err != nil {
		return err
	}
	key, err := readKey(o.key)
	if err != nil {
		return err
	}
	g, err := registry(o)
	if err != nil {
		return err
	}
	built, err := build(ctx, o, release, stderr)
	if err != nil {
		return err
	}
	pushed, err := bootstrapimage.Push(ctx, g, built, o.version)
	if err != nil {
		return err
	}
	printPushed(stdout, built, pushed)
	if key != nil {
		if err := sign(ctx, g, key, o.out, pushed, stdout); err != nil {
			return err
		}
	}
	return printSizes(stdout, built)
}

func readKey(file string) (*ecdsa.PrivateKey, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the signing key: %w", err)
	}
	key, err := blobsig.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", file, err)
	}
	return key, nil
}

func registry(o options) (bootstrapimage.Registry, error) {
	repo, err := name.NewRepository(o.registry+"/"+bootstrapimage.Repository, name.StrictValidation)
	if err != nil {
		return bootstrapimage.Registry{}, fmt.Errorf("--registry %q is not a registry host[:port]: %w", o.registry, err)
	}
	g := bootstrapimage.Registry{Repo: repo}
	if o.registryCA != "" {
		var tr *http.Transport
		if tr, err = bootstrapimage.RegistryTransport(o.registryCA); err != nil {
			return g, err
		}
		g.Transport = tr
	}
	return g, nil
}

// build compiles the bootstrap into <out>/bootstrap, assembles the index and writes each
// platform's SBOM to <out>/sbom-<os>-<arch>.spdx.json.
func build(ctx context.Context, o options, r bootstrapimage.Release, stderr io.Writer) (*bootstrapimage.Built, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, fmt.Errorf("make the output folder: %w", err)
	}
	bins, err := bootstrapimage.BuildBinaries(ctx, bootstrapimage.BuildOptions{
		Root: o.root, Version: o.version, OutDir: filepath.Join(o.out, "bootstrap"), Go: o.goCmd, Stderr: stderr,
	})
	if err != nil {
		return nil, err
	}
	built, err := bootstrapimage.Assemble(r, bins)
	if err != nil {
		return nil, err
	}
	for _, pi := range built.Images {
		file := filepath.Join(o.out, "sbom-"+pi.Platform.OS+"-"+pi.Platform.Arch+".spdx.json")
		if err := os.WriteFile(file, pi.SBOM, 0o644); err != nil {
			return nil, fmt.Errorf("write the SBOM: %w", err)
		}
	}
	return built, nil
}

func printPushed(stdout io.Writer, b *bootstrapimage.Built, p *bootstrapimage.Pushed) {
	fmt.Fprintf(stdout, "index %s\n", p.Index)
	for i, pi := range b.Images {
		fmt.Fprintf(stdout, "manifest %s %s\n", pi.Platform, p.Manifests[i])
		fmt.Fprintf(stdout, "sbom %s %s\n", pi.Platform, p.SBOMs[i])
	}
	scheme := "fallback-tag"
	if p.ReferrersAPI {
		scheme = "api"
	}
	fmt.Fprintf(stdout, "referrers %s\n", scheme)
}

// sign signs the index and each SBOM manifest, checks each signature with the public
// key, and writes the public key to <out>/cosign.pub.
func sign(ctx context.Context, g bootstrapimage.Registry, key *ecdsa.PrivateKey, out string, p *bootstrapimage.Pushed, stdout io.Writer) error {
	pub, err := blobsig.MarshalPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "cosign.pub"), pub, 0o644); err != nil {
		return fmt.Errorf("write the public key: %w", err)
	}
	for _, d := range append([]string{p.Index}, p.SBOMs...) {
		h, err := v1.NewHash(d)
		if err != nil {
			return err
		}
		sig, err := bootstrapimage.Sign(ctx, g, rand.Reader, key, h)
		if err != nil {
			return err
		}
		if err := bootstrapimage.Verify(ctx, g, &key.PublicKey, h); err != nil {
			return fmt.Errorf("check the new signature of %s: %w", d, err)
		}
		fmt.Fprintf(stdout, "signature %s %s\n", d, sig)
	}
	return nil
}

func printSizes(stdout io.Writer, b *bootstrapimage.Built) error {
	sizes, err := bootstrapimage.Sizes(b)
	if err != nil {
		return err
	}
	for _, s := range sizes {
		fmt.Fprintf(stdout, "size %s compressed %d uncompressed %d\n", s.Platform, s.Compressed, s.Uncompressed)
	}
	return nil
}
