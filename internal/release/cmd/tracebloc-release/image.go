package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/bootstrapimage"
)

// bootstrapName is the bootstrap image's published name, the one the chart and the pins
// use; with --registry elsewhere (the local cluster's), a mirror serves it by that name.
const bootstrapName = "ghcr.io/" + bootstrapimage.Repository

// target is a repository below --registry, reached with --registry-ca and the
// credentials of the Docker config (`docker login`; anonymous without one).
func (r *release) target(repository string) (bootstrapimage.Registry, error) {
	g, err := bootstrapimage.NewRegistry(r.registry+"/"+repository, r.registryCA, nil)
	if err != nil {
		return g, fmt.Errorf("--registry %q, --registry-ca %q: %w", r.registry, r.registryCA, err)
	}
	if g.Auth, err = authn.DefaultKeychain.Resolve(g.Repo); err != nil {
		return g, fmt.Errorf("read the registry credentials for %s (the Docker config): %w", g.Repo, err)
	}
	return g, nil
}

// buildImage compiles the bootstrap for the image's platforms, assembles the index and
// writes each platform's SBOM as sbom-<os>-<arch>.spdx.json; the index digest is known
// from here on, pushed or not.
func (r *release) buildImage(ctx context.Context) error {
	bins, err := bootstrapimage.BuildBinaries(ctx, bootstrapimage.BuildOptions{
		Root: r.src, Version: r.version, OutDir: filepath.Join(r.out, "build", "bootstrap"), Go: r.goCmd, Stderr: r.stderr,
	})
	if err != nil {
		return err
	}
	rel := bootstrapimage.Release{Version: r.version, Revision: r.revision, Licenses: r.licenses, Created: r.mtime, CABundle: r.caBundle}
	if err := rel.Validate(); err != nil {
		return err
	}
	if r.image, err = bootstrapimage.Assemble(rel, bins); err != nil {
		return err
	}
	for _, pi := range r.image.Images {
		if err := r.write("sbom-"+pi.Platform.OS+"-"+pi.Platform.Arch+".spdx.json", pi.SBOM); err != nil {
			return err
		}
	}
	d, err := r.image.Index.Digest()
	if err != nil {
		return err
	}
	r.bootstrapDigest = d.String()
	if r.registry == "" {
		// Not pushed: the name the chart pins. pushImage lists where it pushed it.
		r.artifact("image", bootstrapName+":"+r.fileVersion(), r.bootstrapDigest)
	}
	return nil
}

// pushImage uploads the index under the release's tag with each platform's SBOM as a
// referrer, signs the index and the SBOMs, and attests the SBOMs in cosign's format: the
// index (the digest the chart pins) with every platform's, each platform's manifest with
// its own, so that `cosign verify-attestation --type spdxjson` passes on either digest.
func (r *release) pushImage(ctx context.Context) error {
	g, err := r.target(bootstrapimage.Repository)
	if err != nil {
		return err
	}
	pushed, err := bootstrapimage.Push(ctx, g, r.image, r.fileVersion())
	if err != nil {
		return err
	}
	if pushed.Index != r.bootstrapDigest {
		return fmt.Errorf("the registry stored the index as %s, built as %s: check that nothing rewrites manifests on push", pushed.Index, r.bootstrapDigest)
	}
	r.artifact("image", g.Repo.Tag(r.fileVersion()).String(), pushed.Index)
	for i, pi := range r.image.Images {
		r.artifact("image-"+pi.Platform.OS+"-"+pi.Platform.Arch, g.Repo.String(), pushed.Manifests[i])
		r.artifact("sbom-"+pi.Platform.OS+"-"+pi.Platform.Arch, g.Repo.String(), pushed.SBOMs[i])
	}
	if err := r.signManifests(ctx, g, append([]string{pushed.Index}, pushed.SBOMs...)...); err != nil {
		return err
	}
	if r.key == nil {
		return nil
	}
	attest := func(digest string, sbom []byte) (string, error) {
		h, err := v1.NewHash(digest)
		if err != nil {
			return "", err
		}
		att, err := bootstrapimage.Attest(ctx, g, rand.Reader, r.key, h, sbom)
		if err != nil {
			return "", err
		}
		if _, err := bootstrapimage.AttestedSBOMs(ctx, g, &r.key.PublicKey, h); err != nil {
			return "", fmt.Errorf("check the new SBOM attestation of %s@%s: %w", g.Repo, digest, err)
		}
		return att, nil
	}
	var index string
	for i, pi := range r.image.Images {
		if index, err = attest(pushed.Index, pi.SBOM); err != nil {
			return err
		}
		platform := pi.Platform.OS + "-" + pi.Platform.Arch
		att, err := attest(pushed.Manifests[i], pi.SBOM)
		if err != nil {
			return err
		}
		r.artifact("attestation-"+platform, g.Repo.String(), att)
	}
	r.artifact("attestation", g.Repo.String(), index)
	return nil
}

// signManifests signs each manifest of g's repository with --cosign-key (cosign's
// key-pair signature, under the sha256-<hex>.sig tag) and checks the signature back.
func (r *release) signManifests(ctx context.Context, g bootstrapimage.Registry, digests ...string) error {
	if r.key == nil {
		return nil
	}
	for _, d := range digests {
		h, err := v1.NewHash(d)
		if err != nil {
			return err
		}
		sig, err := bootstrapimage.Sign(ctx, g, rand.Reader, r.key, h)
		if err != nil {
			return err
		}
		if err := bootstrapimage.Verify(ctx, g, &r.key.PublicKey, h); err != nil {
			return fmt.Errorf("check the new signature of %s@%s: %w", g.Repo, d, err)
		}
		r.artifact("signature", g.Repo.String(), sig)
	}
	return nil
}

// readCosignKey loads --cosign-key and writes its public half as cosign.pub.
func (r *release) readCosignKey(context.Context) error {
	if r.cosignKey == "" {
		fmt.Fprintln(r.stderr, "tracebloc-release: no --cosign-key: nothing is signed with cosign")
		return nil
	}
	data, err := os.ReadFile(r.cosignKey)
	if err != nil {
		return fmt.Errorf("read --cosign-key: %w", err)
	}
	if r.key, err = blobsig.ParsePrivateKey(data); err != nil {
		return fmt.Errorf("--cosign-key %s: %w", r.cosignKey, err)
	}
	pub, err := blobsig.MarshalPublicKey(&r.key.PublicKey)
	if err != nil {
		return err
	}
	return r.write("cosign.pub", pub)
}
