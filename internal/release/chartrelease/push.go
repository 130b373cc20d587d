package chartrelease

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/tracebloc/edge/internal/release/bootstrapimage"
	"github.com/tracebloc/edge/postrender/pins"
)

// Repository is where the charts go in a registry: oci://<registry>/tracebloc/charts,
// and the edge chart is <registry>/tracebloc/charts/edge:<version>.
const Repository = "tracebloc/charts"

// EdgeRepository is the edge chart's repository below a registry.
const EdgeRepository = Repository + "/edge"

// ProvMediaType is the media type of the layer Helm writes the .prov into.
const ProvMediaType = "application/vnd.cncf.helm.chart.provenance.v1.prov"

// pushedPattern and digestLine are the lines `helm push` reports.
var (
	pushedPattern = regexp.MustCompile(`(?m)^Pushed: (\S+)$`)
	digestLine    = regexp.MustCompile(`(?m)^Digest: (\S+)$`)
)

// Push runs `helm push <tgz> oci://<registry>/tracebloc/charts` (with --ca-file when
// caFile is set) and returns the chart's reference (<registry>/tracebloc/charts/<name>:
// <version>) and manifest digest. g is the chart's repository, which helm push names
// <registry>/tracebloc/charts/<name>, and how to reach it (its Transport trusting caFile's
// CA, as the helm CLI does from the file). The digest helm reports is checked against the
// registry's, and when <tgz>.prov is beside the package, the pushed manifest must carry
// it, since helm push uploads the .prov only when it finds it there.
func Push(ctx context.Context, helm, tgz string, g bootstrapimage.Registry, caFile string, env []string) (ref string, digest v1.Hash, err error) {
	ch, err := loader.Load(tgz)
	if err != nil {
		return "", v1.Hash{}, fmt.Errorf("read the chart package %s: %w", tgz, err)
	}
	if path.Base(g.Repo.RepositoryStr()) != ch.Name() {
		return "", v1.Hash{}, fmt.Errorf("push the chart %s to %s: helm push names the repository after the chart, so its last element must be %s, e.g. %s/%s", ch.Name(), g.Repo, ch.Name(), Repository, ch.Name())
	}
	args := []string{"push", tgz, "oci://" + path.Dir(g.Repo.Name())}
	if caFile != "" {
		args = append(args, "--ca-file", caFile)
	}
	out, err := runHelm(ctx, helm, env, nil, args...)
	if err != nil {
		return "", v1.Hash{}, err
	}
	tag := g.Repo.Tag(ch.Metadata.Version)
	want := tag.String()
	m := pushedPattern.FindSubmatch(out)
	if m == nil || string(m[1]) != want {
		return "", v1.Hash{}, fmt.Errorf("helm push reported no \"Pushed: %s\" line: %s", want, strings.TrimSpace(string(out)))
	}
	d := digestLine.FindSubmatch(out)
	if d == nil {
		return "", v1.Hash{}, fmt.Errorf("helm push reported no \"Digest: sha256:...\" line: %s", strings.TrimSpace(string(out)))
	}
	if err := pins.CheckDigest(string(d[1])); err != nil {
		return "", v1.Hash{}, fmt.Errorf("helm push reported the chart's %w: push again, and check the registry if it repeats", err)
	}
	digest, err = v1.NewHash(string(d[1]))
	if err != nil {
		return "", v1.Hash{}, err
	}
	_, provErr := os.Stat(tgz + ".prov")
	if err := checkPushed(ctx, g, tag, digest, provErr == nil); err != nil {
		return "", v1.Hash{}, err
	}
	return want, digest, nil
}

// checkPushed asks the registry for the tag's manifest: it must be the digest helm
// reported and, when withProv, hold the provenance layer.
func checkPushed(ctx context.Context, g bootstrapimage.Registry, tag name.Tag, digest v1.Hash, withProv bool) error {
	ref := tag.String()
	desc, err := remote.Get(tag, g.Options(ctx)...)
	if err != nil {
		return fmt.Errorf("check the pushed chart %s: %w", ref, err)
	}
	if desc.Digest != digest {
		return fmt.Errorf("helm push reported %s for %s, but the registry serves %s: another push replaced the tag; push again", digest, ref, desc.Digest)
	}
	if !withProv {
		return nil
	}
	img, err := desc.Image()
	if err != nil {
		return fmt.Errorf("read the pushed chart's manifest %s: %w", ref, err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("read the pushed chart's manifest %s: %w", ref, err)
	}
	for _, l := range manifest.Layers {
		if l.MediaType == ProvMediaType {
			return nil
		}
	}
	return errors.New("the pushed chart " + ref + " has no provenance layer although the .prov was beside the package: is the helm CLI older than 3.8?")
}
