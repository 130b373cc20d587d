// Package kube provides the part of the Kubernetes API the bootstrap uses: the core and
// coordination groups, and Transient, the one classifier of what is worth retrying against
// it. Depending on this instead of kubernetes.Interface keeps the other fifty-odd typed
// clients of client-go out of the binary and the image. A *kubernetes.Clientset and
// client-go's fake clientset satisfy Interface too.
package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// Interface is the bootstrap's Kubernetes client.
type Interface interface {
	CoreV1() corev1.CoreV1Interface
	CoordinationV1() coordinationv1.CoordinationV1Interface
}

type client struct {
	core         *corev1.CoreV1Client
	coordination *coordinationv1.CoordinationV1Client
}

func (c *client) CoreV1() corev1.CoreV1Interface                         { return c.core }
func (c *client) CoordinationV1() coordinationv1.CoordinationV1Interface { return c.coordination }

// NewForConfig returns a client of the two groups, sharing one HTTP client.
func NewForConfig(rc *rest.Config) (Interface, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	core, err := corev1.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	coordination, err := coordinationv1.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &client{core: core, coordination: coordination}, nil
}

// Transient reports whether a Kubernetes API error is worth trying again: no answer
// (connection refused, reset, EOF, a request's timeout) or the server's own overload or
// failure (429, 500, 503, 504). A cancelled context is not transient; a timeout cannot be
// told from the end of the caller's deadline, so callers check their context first.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	if apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}
