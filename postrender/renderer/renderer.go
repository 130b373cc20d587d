// Package renderer provides the tracebloc post-renderer as a whole: it asks the cluster
// for its identity and kinds, transforms the rendered stream (package transform) with the
// wiring of the tracebloc/client chart (package wiring), and runs the one-client-per-cluster
// guard (package guard). The binary tracebloc-postrender and
// the Helm 4 plugin use it through Render; a Go program that drives Helm in-process uses
// *Renderer as a helm.sh/helm/v3 postrender.PostRenderer.
package renderer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rs/zerolog"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/tracebloc/edge/postrender/clusterinfo"
	"github.com/tracebloc/edge/postrender/guard"
	"github.com/tracebloc/edge/postrender/pins"
	"github.com/tracebloc/edge/postrender/transform"
	"github.com/tracebloc/edge/postrender/wiring"
)

// Config is what a render needs. The zero value renders against the current kubeconfig
// context with no pins.
type Config struct {
	// Namespace is the release namespace; empty: the one the edge chart writes on its
	// objects (transform.ReleaseNamespaceLabel), then HelmNamespace. With none of them,
	// objects without a namespace are left to Helm and the guard does not run.
	Namespace string
	// HelmNamespace is $HELM_NAMESPACE (Helm 4 gives its plugins the release namespace;
	// Helm 3 gives an exec post-renderer none).
	HelmNamespace string
	// ClusterID, when set, is used instead of the kube-system UID.
	ClusterID string
	// Kubeconfig and KubeContext select the cluster (empty: the usual kubeconfig rules).
	Kubeconfig  string
	KubeContext string
	// Offline renders with no cluster access: no guard, no discovery, and no label unless
	// ClusterID gives it.
	Offline bool
	// Pins are the image digest pins.
	Pins pins.Set
	// Scopes adds to the known kinds (true: cluster-scoped); tests use it in place of
	// discovery.
	Scopes map[transform.GroupKind]bool
	// Log receives the diagnostics; nil discards them.
	Log *zerolog.Logger
}

// Renderer is the post-renderer.
type Renderer struct {
	cfg Config
	log zerolog.Logger
}

// New returns a Renderer for cfg.
func New(cfg Config) *Renderer {
	r := &Renderer{cfg: cfg, log: zerolog.Nop()}
	if cfg.Log != nil {
		r.log = *cfg.Log
	}
	return r
}

// Run implements helm.sh/helm/v3/pkg/postrender.PostRenderer.
func (r *Renderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	out, err := r.Render(context.Background(), rendered)
	if err != nil {
		return nil, err
	}
	return bytes.NewBuffer(out), nil
}

// labelValue reports whether v may be a label value (Kubernetes' rule: empty, or at most
// 63 letters, digits, '-', '_', '.', with a letter or digit at both ends), checked on
// --cluster-id. By hand, not a regexp: compiling one at start-up costs every run.
func labelValue(v string) bool {
	if v == "" {
		return true
	}
	if len(v) > 63 || !alnum(v[0]) || !alnum(v[len(v)-1]) {
		return false
	}
	for i := range len(v) {
		if c := v[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z'
}

// Render reads the rendered stream from in and returns the transformed stream; in may be
// a *transform.Parsed, whose parse started before the render. It returns no bytes at all
// on error. Empty input gives empty output without asking the cluster.
func (r *Renderer) Render(ctx context.Context, in io.Reader) ([]byte, error) {
	res, err := r.RenderResult(ctx, in)
	return res.Output, err
}

// Result is a render's output and what the render learned.
type Result struct {
	Output []byte
	// Namespace is the release namespace ("" when nothing said it).
	Namespace string
	// Release is the release's name as the edge chart's wiring object says it ("" without).
	Release string
	// ClusterID is the value of the cluster-id label ("" when none was written).
	ClusterID string
	// Wired says what the wiring of the tracebloc/client chart did, one entry per object.
	Wired []wiring.Wired
}

// RenderResult is Render with what the render learned; the zero Result on error.
func (r *Renderer) RenderResult(ctx context.Context, in io.Reader) (Result, error) {
	if p, ok := in.(*transform.Parsed); ok {
		defer p.Close()
	}
	stream, empty := peek(in)
	if empty {
		return Result{}, nil
	}
	if !labelValue(r.cfg.ClusterID) {
		return Result{}, fmt.Errorf("--cluster-id %q is not a valid label value (at most 63 letters, digits, '-', '_', '.'): pass the kube-system namespace UID", r.cfg.ClusterID)
	}
	opts := transform.Options{
		Namespace: r.cfg.Namespace,
		Fallback:  r.cfg.HelmNamespace,
		ClusterID: r.cfg.ClusterID,
		Pins:      r.cfg.Pins,
		Scopes:    map[transform.GroupKind]bool{},
	}
	meta, err := r.connect(ctx, &opts)
	if err != nil {
		return Result{}, err
	}
	for gk, cluster := range r.cfg.Scopes {
		opts.Scopes[gk] = cluster
	}
	wire := wiring.New()
	opts.Holder = wire
	res, err := transform.Stream(stream, opts)
	if err != nil {
		return Result{}, err
	}
	for _, x := range wire.Wired() {
		r.log.Info().Str("object", x.Object).Msg("wired: " + x.What)
	}
	if res.Namespace == "" {
		// Nothing to tell "another namespace" from; a stream without an object of the edge
		// chart installs no tracebloc client.
		r.log.Info().Msg("no release namespace known (no --namespace, no $HELM_NAMESPACE, no object of the edge chart): objects without a namespace are left to Helm, and no check for a tracebloc client in another namespace ran")
	} else if meta != nil {
		if err := r.guard(ctx, meta, guardRender(res.Namespace, wire)); err != nil {
			return Result{}, err
		}
	}
	r.log.Info().Str("namespace", res.Namespace).Str("cluster_id", opts.ClusterID).
		Int("documents", res.Documents).Msg("rendered")
	return Result{Output: res.Output, Namespace: res.Namespace, Release: wire.Release(), ClusterID: opts.ClusterID, Wired: wire.Wired()}, nil
}

// peek returns the stream to transform, and whether it holds not one byte. A stream whose
// parse has started (transform.ParseAhead) goes on as it is, and is closed when the render
// returns before the transform has taken it.
func peek(in io.Reader) (io.Reader, bool) {
	if p, ok := in.(*transform.Parsed); ok {
		return p, p.Empty()
	}
	br := bufio.NewReader(in)
	_, err := br.Peek(1)
	return br, errors.Is(err, io.EOF)
}

// connect asks the cluster for its id and kinds, unless offline; nil without a cluster.
func (r *Renderer) connect(ctx context.Context, opts *transform.Options) (metadata.Interface, error) {
	if r.cfg.Offline {
		if r.cfg.ClusterID == "" {
			r.log.Warn().Msg("offline: no cluster access, so no guard and no tracebloc.io/cluster-id label (pass --cluster-id to label)")
		} else {
			r.log.Warn().Str("cluster_id", r.cfg.ClusterID).Msg("offline: no cluster access, so no guard; labelling with the given cluster id")
		}
		return nil, nil
	}
	return r.ask(ctx, clusterinfo.LoadKubeconfig(r.cfg.Kubeconfig, r.cfg.KubeContext), opts)
}

// ask reads the cluster id (unless given) and the kinds' scopes from the cluster.
func (r *Renderer) ask(ctx context.Context, kubeconfig clusterinfo.Kubeconfig, opts *transform.Options) (metadata.Interface, error) {
	cfg, err := kubeconfig.RESTConfig()
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("make a client for %s: %w", cfg.Host, err)
	}
	if opts.ClusterID == "" {
		id, err := clusterinfo.ClusterID(ctx, meta)
		if err != nil {
			return nil, unreachable(cfg, err)
		}
		opts.ClusterID = id
		r.log.Info().Str("cluster_id", id).Str("server", cfg.Host).Msg("cluster identified")
	}
	disco, err := clusterinfo.NewDiscoverer(cfg)
	if err != nil {
		return nil, err
	}
	scopes, err := disco.Scopes(ctx)
	if errors.Is(err, clusterinfo.ErrPartialDiscovery) {
		r.log.Warn().Err(err).Msg("kinds of the groups that did not answer are taken as namespaced")
	} else if err != nil {
		return nil, unreachable(cfg, err)
	}
	opts.Scopes = scopes
	return meta, nil
}

func unreachable(cfg *rest.Config, err error) error {
	return fmt.Errorf("cluster at %s: %w; check --kubeconfig and --kube-context (pass them with --post-renderer-args), or render with --offline (no guard, and no label unless --cluster-id)", cfg.Host, err)
}

// guardRender is what the guard needs of this render.
func guardRender(namespace string, wire *wiring.Wiring) guard.Render {
	g := guard.Render{Namespace: namespace, Release: wire.Release(), MigrateFrom: wire.MigrateFrom()}
	for _, s := range wire.Secrets() {
		g.Secrets = append(g.Secrets, guard.Object{Namespace: s.Namespace, Name: s.Name})
	}
	return g
}

// guard stops a render that would put a second client on the cluster.
func (r *Renderer) guard(ctx context.Context, meta metadata.Interface, render guard.Render) error {
	err := guard.Check(ctx, meta, render)
	if errors.Is(err, guard.ErrForbidden) {
		r.log.Warn().Err(err).Msg("could not check for a tracebloc client in another namespace or an existing tracebloc/client release; the bootstrap checks again with the backend")
		return nil
	}
	return err
}
