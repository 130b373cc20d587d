// Package clusterinfo provides what the post-renderer learns from the operator's cluster
// through client-go: the cluster's identity (the UID of the kube-system namespace, read
// with the metadata client) and which kinds are cluster-scoped (discovery).
//
// Helm passes a post-renderer neither --kubeconfig nor --kube-context, so they come from
// the post-renderer's own flags; without them the usual kubeconfig rules apply ($KUBECONFIG,
// then ~/.kube/config).
package clusterinfo

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tracebloc/edge/internal/names"
)

// requestTimeout bounds each API call, so that an unreachable cluster fails in seconds
// rather than hanging `helm install`.
const requestTimeout = 15 * time.Second

// Kubeconfig is the operator's kubeconfig as the flags select it.
type Kubeconfig struct {
	config clientcmd.ClientConfig
}

// LoadKubeconfig selects the kubeconfig file (empty: $KUBECONFIG, then ~/.kube/config) and
// context (empty: the current one). Nothing is read from the cluster.
func LoadKubeconfig(path, kubeContext string) Kubeconfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	return Kubeconfig{config: clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)}
}

// RESTConfig is the client configuration of the selected context.
func (k Kubeconfig) RESTConfig() (*rest.Config, error) {
	cfg, err := k.config.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load the kubeconfig: %w; pass --kubeconfig and --kube-context through --post-renderer-args, or --offline to render without a cluster", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = requestTimeout
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// ClusterID returns the UID of the kube-system namespace: the cluster's identity, the same
// value the bootstrap reads.
func ClusterID(ctx context.Context, client metadata.Interface) (string, error) {
	ns, err := client.Resource(namespacesGVR).Get(ctx, names.IdentityNamespace, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read the kube-system namespace (the cluster id): %w", err)
	}
	return string(ns.UID), nil
}

// ErrPartialDiscovery says that some API groups did not answer discovery; the scopes of
// the others are still returned.
var ErrPartialDiscovery = errors.New("some API groups did not answer discovery")
