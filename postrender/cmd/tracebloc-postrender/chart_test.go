package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/postrender/gitops"
)

// TestHelmTemplateEdgeChart renders the edge chart with the real tracebloc/client chart
// through the post-renderer as Helm 3 (--post-renderer) and Helm 4 (the plugin) run it,
// offline, and checks the wiring in what Helm prints: Helm takes the edited stream back.
func TestHelmTemplateEdgeChart(t *testing.T) {
	if testing.Short() {
		t.Skip("helm: not under -short")
	}
	chart := chartdeps.DirWithClient(t)
	args := []string{"template", "edge", chart, "-n", "tracebloc",
		"--set", "client.storageClass.create=false", "--set", "client.storageClass.name=standard",
		"--post-renderer-args", "--offline", "--post-renderer-args", "--cluster-id=c1"}
	for _, tc := range []struct{ tool, postRenderer string }{{"helm", ""}, {"helm4", "tracebloc"}} {
		t.Run(tc.tool, func(t *testing.T) {
			tool := clustertest.Tool(t, tc.tool)
			env := helmEnv(t, filepath.Join(t.TempDir(), "no-kubeconfig"))
			pr := filepath.Join(binary(t), "tracebloc-postrender")
			if tc.postRenderer != "" {
				helm(t, tool, env, "plugin", "install", pluginDir(t))
				pr = tc.postRenderer
			}
			out := helm(t, tool, env, append(args, "--post-renderer", pr)...)
			checkWired(t, out)
			for _, kv := range env {
				if v, ok := cutEnv(kv, "TRACEBLOC_POSTRENDER_LOG_FILE="); ok {
					if log, _ := os.ReadFile(v); len(log) == 0 {
						t.Errorf("the post-renderer wrote no log to %s", v)
					}
				}
			}
		})
	}
}

func cutEnv(kv, prefix string) (string, bool) {
	if len(kv) < len(prefix) || kv[:len(prefix)] != prefix {
		return "", false
	}
	return kv[len(prefix):], true
}

// checkWired checks what the wiring must leave in a rendered edge release "edge".
func checkWired(t *testing.T, stream string) {
	t.Helper()
	objs, err := gitops.Decode([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, o := range objs {
		found[o.String()] = true
		switch o.String() {
		case "Deployment tracebloc/edge-jobs-manager":
			spec := o.Value["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			inits, _ := spec["initContainers"].([]any)
			if len(inits) == 0 || inits[0].(map[string]any)["name"] != "bootstrap" {
				t.Errorf("the jobs-manager's first init container is not the bootstrap: %v", inits)
			}
		case "Secret tracebloc/edge-secrets":
			data, _ := o.Value["data"].(map[string]any)
			if _, ok := data["CLIENT_ID"]; ok {
				t.Error("Secret edge-secrets still holds the placeholder CLIENT_ID")
			}
		}
		if o.Kind == "PostRendererRequired" {
			t.Errorf("the wiring object %s is still in the output", o)
		}
	}
	for _, want := range []string{"Deployment tracebloc/edge-jobs-manager", "Secret tracebloc/edge-secrets"} {
		if !found[want] {
			t.Errorf("%s is not in the output", want)
		}
	}
}
