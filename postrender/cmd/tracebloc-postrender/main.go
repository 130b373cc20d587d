// Command tracebloc-postrender is the tracebloc Helm post-renderer: it reads the rendered
// manifests on stdin and writes them to stdout with the release namespace on objects that
// have none, the tracebloc.io/cluster-id label on every object and pod template, and
// images pinned by digest; when the edge chart's wiring object is in the stream it wires
// the tracebloc/client chart to the edge credential (package wiring; one log line per
// object it edits); it refuses an install that would put a second tracebloc client on one
// cluster.
//
//	helm install edge oci://ghcr.io/tracebloc/charts/edge -n edge --post-renderer tracebloc-postrender \
//	  [--post-renderer-args --kube-context=prod]
//
// With Helm 4 the same binary runs as the postrenderer/v1 plugin of postrender/plugin
// (`helm plugin install postrender/plugin`, then `--post-renderer tracebloc`).
//
// Flags, each also read from the environment (Helm 4 passes its environment to plugins;
// a flag wins over its variable):
//
//	--namespace     TRACEBLOC_POSTRENDER_NAMESPACE     release namespace; default: the one the
//	                                                   edge chart writes on its objects (label
//	                                                   tracebloc.io/release-namespace), then
//	                                                   $HELM_NAMESPACE; with neither, objects
//	                                                   without a namespace are left to Helm
//	--cluster-id    TRACEBLOC_POSTRENDER_CLUSTER_ID    cluster id label value; skips the lookup
//	--kubeconfig    TRACEBLOC_POSTRENDER_KUBECONFIG    kubeconfig file (default $KUBECONFIG,
//	                                                   then ~/.kube/config)
//	--kube-context  TRACEBLOC_POSTRENDER_KUBE_CONTEXT  context (default $HELM_KUBECONTEXT,
//	                                                   then the current one)
//	--images        TRACEBLOC_POSTRENDER_IMAGES        digest pin list (default: images/images.yaml
//	                                                   as built in)
//	--offline       TRACEBLOC_POSTRENDER_OFFLINE       no cluster access: no guard, no label
//	                                                   unless --cluster-id
//	--log-file      TRACEBLOC_POSTRENDER_LOG_FILE      also append diagnostics here (Helm
//	                                                   hides a post-renderer's stderr)
//	--version                                          print the version and exit
//
// stdout carries only YAML, and only when the whole stream succeeded; diagnostics go to
// stderr. Exit status: 0 done, 1 the render failed (also when SIGINT or SIGTERM stopped it
// while it asked the cluster), 2 bad flags or settings. An offline render is ended by
// either signal at once.
//
// `tracebloc-postrender gitops` reads a chart's rendered output (helm template) instead,
// runs the post-renderer over it with the same flags, and prints its edits as kustomize
// patches (package gitops), for tools that cannot run a post-renderer:
//
//	helm template edge oci://ghcr.io/tracebloc/charts/edge -n tracebloc | tracebloc-postrender gitops --namespace tracebloc
//
//	--format         flux: a HelmRelease's spec.postRenderers block (default); kustomize: a
//	                 kustomization.yaml with helmCharts, for Argo CD (--chart, --repo,
//	                 --chart-version, --chart-home, --values-file say where the chart is)
//	--edits          print the list of edits (per object, the JSON pointers) instead
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tracebloc/edge/postrender/cmd/tracebloc-postrender/internal/earlystart"
)

func main() {
	err := run(context.Background(), os.Args[1:], earlystart.Stdin(), os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracebloc-postrender:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
