// Package clusterid provides the cluster identity: the UID of the kube-system namespace.
// It is not a secret (anyone with cluster access reads it); the backend checks ownership
// against the signed-in account.
package clusterid

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/kube"
)

// Namespace is the namespace whose UID identifies a cluster.
const Namespace = "kube-system"

// Label is the label the post-renderer puts on every object, with the cluster id.
const Label = "tracebloc.io/cluster-id"

// Read returns this cluster's id: one GET of the kube-system namespace.
func Read(ctx context.Context, c kube.Interface) (string, error) {
	ns, err := c.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read the cluster id (namespace %s): %w", Namespace, err)
	}
	return string(ns.UID), nil
}
