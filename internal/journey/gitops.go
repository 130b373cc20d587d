package journey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// The GitOps path, as Flux's helm-controller takes it: the chart rendered without a
// post-renderer (helm template), the patches `tracebloc-postrender gitops` prints for the
// HelmRelease's spec.postRenderers applied with kustomize, and the result applied to the
// cluster server-side.

// Template renders the chart for release in ns with the journey's values (helm template,
// no hooks: a GitOps tool runs them apart).
func (s *Stage) Template(ctx context.Context, release, ns string, extra ...string) ([]byte, error) {
	args := append([]string{"template", release, s.ChartDir(), "-n", ns, "--no-hooks"}, s.Values(ns)...)
	cmd := s.command(ctx, s.Helm, append(args, extra...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template: %w\n%s", err, stderr.String())
	}
	return out, nil
}

// FluxPatches runs `tracebloc-postrender gitops --format flux` on rendered and returns the
// kustomize patches of the spec.postRenderers it prints.
func (s *Stage) FluxPatches(ctx context.Context, rendered []byte, ns string) ([]any, error) {
	args := append([]string{"gitops", "--format", "flux", "--namespace", ns}, s.PostRenderArgs()...)
	cmd := s.command(ctx, s.PostRender, args...)
	cmd.Stdin = bytes.NewReader(rendered)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tracebloc-postrender gitops: %w\n%s", err, stderr.String())
	}
	var doc struct {
		PostRenderers []struct {
			Kustomize struct {
				Patches []any `json:"patches"`
			} `json:"kustomize"`
		} `json:"postRenderers"`
		Spec struct {
			PostRenderers []struct {
				Kustomize struct {
					Patches []any `json:"patches"`
				} `json:"kustomize"`
			} `json:"postRenderers"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("read the output of tracebloc-postrender gitops: %w\n%s", err, out)
	}
	var patches []any
	for _, pr := range append(doc.PostRenderers, doc.Spec.PostRenderers...) {
		patches = append(patches, pr.Kustomize.Patches...)
	}
	if len(patches) == 0 {
		return nil, fmt.Errorf("tracebloc-postrender gitops printed no kustomize patches:\n%s", out)
	}
	return patches, nil
}

// Kustomize applies patches to rendered as Flux does (a kustomization of the rendered
// manifests with the HelmRelease's patches), with the kustomize CLI, in dir.
func Kustomize(ctx context.Context, kustomize, dir string, rendered []byte, patches []any) ([]byte, error) {
	if err := os.WriteFile(filepath.Join(dir, "rendered.yaml"), rendered, 0o644); err != nil {
		return nil, err
	}
	k, err := yaml.Marshal(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
		"resources": []string{"rendered.yaml"}, "patches": patches,
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), k, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, kustomize, "build", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w\n%s", err, stderr.String())
	}
	return out, nil
}

// Applied names an object Apply applied.
type Applied struct {
	Resource  schema.GroupVersionResource
	Namespace string // "" when cluster-scoped
	Name      string
	Kind      string
}

// Apply applies every object of manifests server-side (as `kubectl apply --server-side`
// does), in their order, namespaced objects without a namespace into ns, and returns
// what it applied.
func (s *Stage) Apply(ctx context.Context, manifests []byte, ns string) ([]Applied, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		return nil, fmt.Errorf("discover the cluster's resources: %w", err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	var applied []Applied
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return applied, nil
		} else if err != nil {
			return applied, fmt.Errorf("read the manifests: %w", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		a, err := applyOne(ctx, dyn, mapper, &obj, ns)
		if err != nil {
			return applied, err
		}
		applied = append(applied, a)
	}
}

func applyOne(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured, ns string) (Applied, error) {
	gvk := obj.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return Applied{}, fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	a := Applied{Resource: m.Resource, Name: obj.GetName(), Kind: gvk.Kind}
	ri := dyn.Resource(m.Resource)
	var r dynamic.ResourceInterface = ri
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(ns)
		}
		a.Namespace = obj.GetNamespace()
		r = ri.Namespace(a.Namespace)
	}
	if _, err := r.Apply(ctx, a.Name, obj, metav1.ApplyOptions{FieldManager: "tracebloc-journey", Force: true}); err != nil {
		return a, fmt.Errorf("apply %s %s/%s: %w", a.Kind, a.Namespace, a.Name, err)
	}
	return a, nil
}

// DeleteClusterScoped deletes the cluster-scoped objects of applied (a namespace's
// deletion takes the rest).
func (s *Stage) DeleteClusterScoped(ctx context.Context, applied []Applied) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range applied {
		if a.Namespace != "" || a.Kind == "Namespace" {
			continue
		}
		if err := dyn.Resource(a.Resource).Delete(ctx, a.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
