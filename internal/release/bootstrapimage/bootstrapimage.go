// Package bootstrapimage provides the release's bootstrap image: the bootstrap compiled
// for linux/amd64 and linux/arm64, one single-layer image per platform (internal/ociimage)
// in an OCI image index, OCI annotations on the index and on each manifest, an SPDX 2.3
// SBOM per platform attached to its manifest as an OCI 1.1 referrer and signed as a cosign
// attestation (an in-toto statement in a DSSE envelope under the sha256-<hex>.att tag, on
// the index and on its platform's manifest), and signatures in cosign's key-pair format
// (the simple-signing payload under the sha256-<hex>.sig tag).
//
// Every input is explicit (version, revision, creation time, CA bundle, the go
// command), so the same inputs give the same index digest. The annotation keys are the
// image-spec's (annotations.md): org.opencontainers.image.*.
package bootstrapimage

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tracebloc/edge/internal/ociimage"
)

// Source is the repository the image is built from (org.opencontainers.image.source).
const Source = "https://github.com/tracebloc/edge"

// Repository is the image's name below the registry.
const Repository = "tracebloc/edge-bootstrap"

// Entrypoint is the bootstrap's path in the image, as in the root Dockerfile.
const Entrypoint = "/tracebloc-bootstrap"

// Title and Description are the image's org.opencontainers.image.title and .description.
const (
	Title       = "tracebloc edge bootstrap"
	Description = "Registers a Kubernetes cluster with tracebloc and keeps its machine credential; runs as a Helm hook of the tracebloc edge chart."
)

// Platform is one os/arch pair of the index.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Platforms are the index's platforms, in the index's order.
var Platforms = []Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}}

// Release is what a release's image is made of, besides the binaries.
type Release struct {
	Version  string // the release version, v0.1.0
	Revision string // the git commit the release is built from
	// Licenses is an SPDX license expression (org.opencontainers.image.licenses).
	Licenses string
	// Created is the fixed creation time of the image and its SBOM.
	Created time.Time
	// CABundle is the host's CA bundle copied into the image (ociimage.DebianCABundle).
	CABundle string
}

// Validate reports the first missing input.
func (r Release) Validate() error {
	switch {
	case r.Version == "":
		return errors.New("no version given: pass --version, such as v0.1.0")
	case r.Revision == "":
		return errors.New("no revision given: pass --revision $(git rev-parse HEAD)")
	case r.Licenses == "":
		return errors.New("no license given: pass --licenses with an SPDX expression")
	case r.CABundle == "":
		return errors.New("no CA bundle given: pass --ca-bundle " + ociimage.DebianCABundle)
	}
	return nil
}

// CreatedFromEnv is the creation time SOURCE_DATE_EPOCH (seconds since the epoch) gives,
// or the epoch when it is unset, as reproducible builds agree.
func CreatedFromEnv(lookup func(string) (string, bool)) (time.Time, error) {
	v, ok := lookup("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a count of seconds: set it to $(git log -1 --format=%%ct) or unset it", v)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// Annotations are the OCI annotations of the index and of each manifest.
func (r Release) Annotations() map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.revision":    r.Revision,
		"org.opencontainers.image.version":     r.Version,
		"org.opencontainers.image.licenses":    r.Licenses,
		"org.opencontainers.image.created":     r.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.title":       Title,
		"org.opencontainers.image.description": Description,
	}
}

// PlatformImage is one platform's image and its SBOM.
type PlatformImage struct {
	Platform Platform
	Image    v1.Image
	// SBOM is the SPDX 2.3 JSON document of the image.
	SBOM []byte
}

// Built is the release's image: the index and, in its order, each platform's image.
type Built struct {
	Index  v1.ImageIndex
	Images []PlatformImage
}

// Assemble makes each platform's image from its binary and puts them into one index.
func Assemble(r Release, binaries map[Platform]string) (*Built, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	ca, err := ociimage.CACertificates(r.CABundle)
	if err != nil {
		return nil, err
	}
	out := &Built{}
	var adds []mutate.IndexAddendum
	for _, p := range Platforms {
		bin, ok := binaries[p]
		if !ok {
			return nil, fmt.Errorf("no bootstrap binary for %s: build every platform first", p)
		}
		pi, err := platformImage(r, p, bin, ca)
		if err != nil {
			return nil, err
		}
		out.Images = append(out.Images, pi)
		adds = append(adds, mutate.IndexAddendum{
			Add:        pi.Image,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, adds...)
	out.Index = mutate.Annotations(idx, r.Annotations()).(v1.ImageIndex)
	return out, nil
}

// platformImage lays the image out as images/build does (the root Dockerfile's
// distroless/static:nonroot stage), annotates its manifest and writes its SBOM.
func platformImage(r Release, p Platform, binary string, ca ociimage.File) (PlatformImage, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return PlatformImage{}, fmt.Errorf("read the %s bootstrap %s: %w", p, binary, err)
	}
	bin := ociimage.File{Path: Entrypoint, Mode: 0o755, Data: data}
	uid := strconv.Itoa(ociimage.NonrootUID)
	img, err := ociimage.Build(ociimage.Spec{
		Files:      append([]ociimage.File{bin, ca}, ociimage.NonrootFiles()...),
		Entrypoint: []string{Entrypoint},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + ociimage.DebianCABundle},
		User:       uid + ":" + uid,
		WorkingDir: "/home/nonroot",
		Labels:     r.Annotations(),
		OS:         p.OS,
		Arch:       p.Arch,
		Created:    r.Created,
	})
	if err != nil {
		return PlatformImage{}, fmt.Errorf("build the %s image: %w", p, err)
	}
	img = mutate.Annotations(img, r.Annotations()).(v1.Image)
	digest, err := img.Digest()
	if err != nil {
		return PlatformImage{}, fmt.Errorf("digest of the %s image: %w", p, err)
	}
	sbom, err := SBOM(SBOMInput{Release: r, Platform: p, Image: digest, Binary: data, Binaryname: Entrypoint, CA: ca})
	if err != nil {
		return PlatformImage{}, fmt.Errorf("SBOM of the %s image: %w", p, err)
	}
	return PlatformImage{Platform: p, Image: img, SBOM: sbom}, nil
}
