package chartrelease

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/tracebloc/edge/internal/release/bootstrapimage"
)

// Repository is where the charts go in a registry: oci://<registry>/tracebloc/charts,
// and the edge chart is <registry>/tracebloc/charts/edge:<version>.
const Repository = "tracebloc/charts"

// ProvMediaType is the media type of the layer Helm writes the .prov into.
const ProvMediaType = "application/vnd.cncf.helm.chart.provenance.v1.prov"

// pushedPattern and digestLine are the lines `helm push` reports.
var (
	pushedPattern = regexp.MustCompile(`(?m)^Pushed: (\S+)$`)
	digestLine    = regexp.MustCompile(`(?m)^Digest: (sha256:[0-9a-f]{64})$`)
)

// Push runs `helm push <tgz> oci://<registry>/tracebloc/charts` (with --ca-file when
// caFile is set) and returns the chart's reference (<registry>/tracebloc/charts/<name>:
// <version>) and manifest digest. The digest helm reports is checked against the
// registry's, and when <tgz>.prov is beside the package, the pushed manifest must carry
// it, since helm push uploads the .prov only when it finds it there.
func Push(ctx context.Context, helm, tgz, registry, caFile string, env []string) (ref string, digest v1.Hash, err error) {
	ch, err := loader.Load(tgz)
	if err != nil {
		return "", v1.Hash{}, fmt.Errorf("read the chart package %s: %w", tgz, err)
	}
	args := []string{"push", tgz, "oci://" + registry + "/" + Repository}
	if caFile != "" {
		args = append(args, "--ca-file", caFile)
	}
	out, err := runHelm(ctx, helm, env, nil, args...)
	if err != nil {
		return "", v1.Hash{}, err
	}
	want := registry + "/" + Repository + "/" + ch.Name() + ":" + ch.Metadata.Version
	m := pushedPattern.FindSubmatch(out)
	if m == nil || string(m[1]) != want {
		return "", v1.Hash{}, fmt.Errorf("helm push reported no \"Pushed: %s\" line: %s", want, strings.TrimSpace(string(out)))
	}
	d := digestLine.FindSubmatch(out)
	if d == nil {
		return "", v1.Hash{}, fmt.Errorf("helm push reported no \"Digest: sha256:...\" line: %s", strings.TrimSpace(string(out)))
	}
	digest, err = v1.NewHash(string(d[1]))
	if err != nil {
		return "", v1.Hash{}, err
	}
	_, provErr := os.Stat(tgz + ".prov")
	if err := checkPushed(ctx, want, caFile, digest, provErr == nil); err != nil {
		return "", v1.Hash{}, err
	}
	return want, digest, nil
}

// checkPushed asks the registry for the tag's manifest: it must be the digest helm
// reported and, when withProv, hold the provenance layer.
func checkPushed(ctx context.Context, ref, caFile string, digest v1.Hash, withProv bool) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("check the pushed chart: %w", err)
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	if caFile != "" {
		tr, err := bootstrapimage.RegistryTransport(caFile)
		if err != nil {
			return err
		}
		defer tr.CloseIdleConnections()
		opts = append(opts, remote.WithTransport(tr))
	}
	desc, err := remote.Get(tag, opts...)
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
