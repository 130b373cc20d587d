// Package kube provides the part of the Kubernetes API the bootstrap uses: the core and
// coordination groups. Depending on this instead of kubernetes.Interface keeps the other
// fifty-odd typed clients of client-go out of the binary and the image. A
// *kubernetes.Clientset and client-go's fake clientset satisfy Interface too.
package kube

import (
	"fmt"

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
