package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// WaitPod watches the pod namespace/name until done says so, and returns it then. It
// gives up when ctx ends; use a context with a deadline.
func (c *Cluster) WaitPod(ctx context.Context, namespace, name string, done func(*corev1.Pod) bool) (*corev1.Pod, error) {
	pods := c.Client.CoreV1().Pods(namespace)
	for {
		list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			return nil, fmt.Errorf("wait for pod %s/%s: %w", namespace, name, err)
		}
		if len(list.Items) == 1 && done(&list.Items[0]) {
			return &list.Items[0], nil
		}
		w, err := pods.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: list.ResourceVersion,
		})
		if err != nil {
			return nil, fmt.Errorf("wait for pod %s/%s: %w", namespace, name, err)
		}
		pod, err := watchPod(ctx, w, done)
		w.Stop()
		if pod != nil || err != nil {
			return pod, err
		}
		// The watch ended (server timeout): list and watch again.
	}
}

func watchPod(ctx context.Context, w watch.Interface, done func(*corev1.Pod) bool) (*corev1.Pod, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for pod: %w", ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, nil
			}
			if pod, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type != watch.Deleted && done(pod) {
				return pod, nil
			}
		}
	}
}

// PodFinished is a WaitPod condition: the pod succeeded or failed.
func PodFinished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// stuckReasons are container waiting reasons that do not clear by themselves on this
// cluster (nothing is ever pulled).
var stuckReasons = map[string]bool{
	"ErrImageNeverPull": true, "ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"CrashLoopBackOff": true,
}

// PodFinishedOrStuck is a WaitPod condition: the pod finished, or one of its containers
// waits for a reason that will not clear by itself (see StuckReason).
func PodFinishedOrStuck(p *corev1.Pod) bool {
	return PodFinished(p) || StuckReason(p) != ""
}

// StuckReason returns "container: reason: message" for the first container (init
// containers included) that is stuck, e.g. on an image that was not imported, or "".
func StuckReason(p *corev1.Pod) string {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range list {
			if w := s.State.Waiting; w != nil && stuckReasons[w.Reason] {
				return s.Name + ": " + w.Reason + ": " + w.Message
			}
		}
	}
	return ""
}
