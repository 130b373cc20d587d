package main

import (
	"context"
	"path/filepath"

	"github.com/tracebloc/edge/internal/release/chartrelease"
	"github.com/tracebloc/edge/internal/release/helmplugin"
)

// packageChart packages the staged chart with its dependency, the release's version and
// appVersion and the bootstrap's digest in its defaults, signed (.prov) with --pgp-key.
func (r *release) packageChart(ctx context.Context) error {
	tgz, prov, err := chartrelease.Package(ctx, chartrelease.Options{
		Helm: r.helm3, Chart: filepath.Join(r.src, "chart"), Dependency: r.clientChart,
		Version: r.version, BootstrapDigest: r.bootstrapDigest, Signing: r.pgpSigning,
		Dest: r.out, Env: r.env, Output: r.stderr,
	})
	if err != nil {
		return err
	}
	r.chartFile = tgz
	r.files = append(r.files, filepath.Base(tgz))
	if prov != "" {
		r.files = append(r.files, filepath.Base(prov))
	}
	return nil
}

// pushChart pushes the packaged chart (and its .prov) with `helm push` and signs its
// manifest with cosign.
func (r *release) pushChart(ctx context.Context) error {
	g, err := r.target(chartrelease.EdgeRepository)
	if err != nil {
		return err
	}
	ref, digest, err := chartrelease.Push(ctx, r.helm3, r.chartFile, g, r.registryCA, r.env)
	if err != nil {
		return err
	}
	r.artifact("chart", ref, digest.String())
	return r.signManifests(ctx, g, digest.String())
}

// pushPlugin pushes the Helm 4 plugin package (and its .prov) as Helm's plugin artifact,
// for `helm plugin install oci://<registry>/tracebloc/plugins/tracebloc:<version>`.
func (r *release) pushPlugin(ctx context.Context) error {
	g, err := r.target(helmplugin.Repository)
	if err != nil {
		return err
	}
	v := r.fileVersion()
	d, err := helmplugin.PushOCI(ctx, g, filepath.Join(r.out, r.pluginFile), r.pluginProv(), v)
	if err != nil {
		return err
	}
	r.artifact("plugin", g.Repo.String()+":"+v, d.String())
	return r.signManifests(ctx, g, d.String())
}

// pluginProv is the plugin package's .prov, or "" when the plugin is not signed.
func (r *release) pluginProv() string {
	if r.pgpSigning == nil {
		return ""
	}
	return filepath.Join(r.out, r.pluginFile+".prov")
}
