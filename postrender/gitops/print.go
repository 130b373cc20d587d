package gitops

import (
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// Chart says where a kustomization inflates the edge chart from (helmCharts).
type Chart struct {
	Name, Repo, Version string
	// Home is a local folder that holds the chart as <Home>/<Name> (kustomize's
	// helmGlobals.chartHome); it takes the place of Repo.
	Home string
	// ValuesFile is the values file the stream was rendered with ("": none).
	ValuesFile string
}

// Release names the release the patches were made for.
type Release struct {
	Name, Namespace, ClusterID string
}

// waitAdvice is printed with both formats: the chart's workload waits in its init
// container while a person approves the device code, which lives at least 10 minutes and
// is renewed when it expires, so an install that waits for readiness must wait longer or
// not at all, and must not uninstall on a timeout (each new install shows a new code).
var waitAdvice = map[string][]string{
	"flux": {
		"While a person approves the device code (it lives at least 10 minutes; the bootstrap",
		"shows a new one when it expires) the jobs-manager waits in its init container. So that",
		"Flux does not fail or roll back the install meanwhile, set in the HelmRelease:",
		"  spec.install.timeout: 30m   and   spec.upgrade.timeout: 30m",
		"  (or spec.install.disableWait: true and spec.upgrade.disableWait: true)",
		"  and no uninstall between attempts: leave spec.install.remediation.retries at 0,",
		"  or keep spec.install.remediation.remediateLastFailure false.",
	},
	"kustomize": {
		"Argo CD does not roll back while the bootstrap waits for a person to approve the",
		"device code: the application shows Progressing until the jobs-manager's init",
		"container ends. Sync without a short timeout of your own (the code lives at least",
		"10 minutes; the bootstrap shows a new one when it expires).",
	},
}

// WriteFlux writes the HelmRelease spec.postRenderers block that makes the patches.
func WriteFlux(w io.Writer, patches []Patch, r Release) error {
	doc := map[string]any{"postRenderers": []any{map[string]any{"kustomize": map[string]any{"patches": patchList(patches)}}}}
	return write(w, header("flux", r), doc, func(root *yaml.Node) *yaml.Node {
		return path(root, "postRenderers", 0, "kustomize", "patches")
	}, patches)
}

// WriteKustomization writes a kustomization.yaml that inflates the chart with helmCharts
// and makes the patches (Argo CD's kustomize with --enable-helm).
func WriteKustomization(w io.Writer, patches []Patch, r Release, c Chart) error {
	chart := map[string]any{"name": c.Name, "releaseName": r.Name, "namespace": r.Namespace}
	if c.Repo != "" && c.Home == "" {
		chart["repo"] = c.Repo
	}
	if c.Version != "" {
		chart["version"] = c.Version
	}
	if c.ValuesFile != "" {
		chart["valuesFile"] = c.ValuesFile
	}
	doc := map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"helmCharts": []any{chart},
		"patches":    patchList(patches),
	}
	if c.Home != "" {
		doc["helmGlobals"] = map[string]any{"chartHome": c.Home}
	}
	return write(w, header("kustomize", r), doc, func(root *yaml.Node) *yaml.Node {
		return path(root, "patches")
	}, patches)
}

func header(format string, r Release) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Made by tracebloc-postrender gitops --format %s for release %q in namespace %q", format, r.Name, r.Namespace)
	if r.ClusterID != "" {
		fmt.Fprintf(&b, ",\ncluster %s", r.ClusterID)
	}
	b.WriteString(": the post-renderer's edits as kustomize patches.\n")
	b.WriteString("Make them again (same command) after every change of the chart version or values.\n\n")
	b.WriteString(strings.Join(waitAdvice[format], "\n"))
	return b.String()
}

// entry is a patch as kustomize reads it, the target first.
type entry struct {
	Target Target `yaml:"target"`
	Patch  string `yaml:"patch"`
}

func patchList(patches []Patch) []entry {
	list := make([]entry, len(patches))
	for i, p := range patches {
		list[i] = entry{Target: p.Target, Patch: p.Patch}
	}
	return list
}

// write encodes doc with the header on top and each patch's object and type as a comment
// on its entry.
func write(w io.Writer, head string, doc any, entries func(*yaml.Node) *yaml.Node, patches []Patch) error {
	var root yaml.Node
	if err := root.Encode(doc); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	root.HeadComment = head
	if list := entries(&root); list != nil {
		for i, item := range list.Content {
			item.HeadComment = patches[i].Object + " (" + patches[i].Type + ")"
		}
	}
	enc := yamlnode.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return enc.Close()
}

// path follows keys (string) and indexes (int) from a node made by Encode.
func path(n *yaml.Node, steps ...any) *yaml.Node {
	for _, s := range steps {
		switch s := s.(type) {
		case string:
			var next *yaml.Node
			for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					next = n.Content[i+1]
				}
			}
			n = next
		case int:
			if n == nil || n.Kind != yaml.SequenceNode || s >= len(n.Content) {
				return nil
			}
			n = n.Content[s]
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// WriteEdits writes the list of edits: per object, the JSON pointers its patch changes.
func WriteEdits(w io.Writer, patches []Patch) error {
	for _, p := range patches {
		if _, err := fmt.Fprintf(w, "%s (%s)\n", p.Object, p.Type); err != nil {
			return err
		}
		for _, path := range p.Paths {
			if path == "" {
				path = "(the object)"
			}
			if _, err := fmt.Fprintf(w, "  %s\n", path); err != nil {
				return err
			}
		}
	}
	return nil
}
