// Package clusterid provides the cluster identity: the UID of the kube-system namespace.
// It is not a secret (anyone with cluster access reads it); the backend checks ownership
// against the signed-in account.
package clusterid

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/kube"
	"github.com/tracebloc/edge/internal/names"
)

// Read returns this cluster's id: one GET of the kube-system namespace.
func Read(ctx context.Context, c kube.Interface) (string, error) {
	ns, err := c.CoreV1().Namespaces().Get(ctx, names.IdentityNamespace, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read the cluster id (namespace %s): %w", names.IdentityNamespace, err)
	}
	return string(ns.UID), nil
}
