package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tracebloc/edge/postrender/gitops"
)

// gitopsFlags are the flags of `tracebloc-postrender gitops` beyond the post-renderer's.
type gitopsFlags struct {
	format string
	chart  gitops.Chart
	edits  bool
}

// maxRendered bounds the rendered stream gitops reads (it keeps all of it, to compare).
const maxRendered = 64 << 20

// runGitops reads a chart's rendered stream (helm template), runs the post-renderer over
// it, and prints the post-renderer's edits as kustomize patches for Flux or Argo CD.
func runGitops(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g gitopsFlags
	cfg, _, err := loadConfigWith(ctx, "tracebloc-postrender gitops", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&g.format, "format", "flux", "`flux` (a HelmRelease's spec.postRenderers) or kustomize (a kustomization.yaml with helmCharts, for Argo CD)")
		fs.StringVar(&g.chart.Name, "chart", "edge", "kustomize: the chart's `name` in its repository")
		fs.StringVar(&g.chart.Repo, "repo", "", "kustomize: the chart repository `URL`")
		fs.StringVar(&g.chart.Version, "chart-version", "", "kustomize: the chart `version` (the one rendered)")
		fs.StringVar(&g.chart.Home, "chart-home", "", "kustomize: a local `folder` holding the chart as <folder>/<chart>, instead of --repo")
		fs.StringVar(&g.chart.ValuesFile, "values-file", "", "kustomize: the values `file` the stream was rendered with")
		fs.BoolVar(&g.edits, "edits", false, "print the list of edits (per object, the JSON pointers changed) instead of patches")
	})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if g.format != "flux" && g.format != "kustomize" {
		return fmt.Errorf("%w: --format %q: use flux or kustomize", errUsage, g.format)
	}
	if cfg.Namespace == "" {
		return fmt.Errorf("%w: gitops needs --namespace, the namespace the GitOps tool installs the release into (the -n of helm template)", errUsage)
	}
	log, _, closeLog, err := newLogger(cfg.LogFile, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	set, err := loadPins(cfg.Images)
	if err != nil {
		return err
	}
	rendered, err := io.ReadAll(io.LimitReader(stdin, maxRendered+1))
	if err != nil {
		return fmt.Errorf("read the rendered manifests: %w", err)
	}
	if len(rendered) > maxRendered {
		return fmt.Errorf("the rendered manifests are larger than %d MiB: gitops reads one release's `helm template` output", maxRendered>>20)
	}
	ctx, stop := interruptible(ctx, cfg.Offline)
	defer stop()
	res, err := newRenderer(cfg, set, &log).RenderResult(ctx, bytes.NewReader(rendered))
	if err = interrupted(ctx, err); err != nil {
		return err
	}
	patches, err := gitops.Patches(rendered, res.Output, res.Namespace)
	if err != nil {
		return err
	}
	release := gitops.Release{Name: res.Release, Namespace: res.Namespace, ClusterID: res.ClusterID}
	switch {
	case g.edits:
		return gitops.WriteEdits(stdout, patches)
	case g.format == "kustomize":
		if release.Name == "" {
			return fmt.Errorf("%w: the stream has no wiring object of the edge chart, so its release name is unknown: render the edge chart with client.enabled=true", errUsage)
		}
		return gitops.WriteKustomization(stdout, patches, release, g.chart)
	}
	return gitops.WriteFlux(stdout, patches, release)
}
