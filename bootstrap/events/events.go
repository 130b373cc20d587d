// Package events records the bootstrap's progress as Kubernetes Events on its pod, so that
// `kubectl describe pod` tells the story. Messages never hold a secret: callers pass only
// user codes, URLs, names and ids. Recording is best effort: a failure is logged, never fatal.
package events

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/kube"
	"github.com/tracebloc/edge/internal/safetext"
)

// Reasons of the Events the bootstrap records.
const (
	ReasonActivation = "ActivationRequired"
	ReasonEnrolled   = "Enrolled"
	ReasonFailed     = "EnrollmentFailed"
	// ReasonWaiting: the run waits for a person to act in tracebloc (the former client of a
	// rebuilt cluster to be revoked or deleted).
	ReasonWaiting = "WaitingForOldClient"
)

// Recorder writes Events about one pod. A Recorder without a pod name records nothing.
type Recorder struct {
	Client    kube.Interface
	Namespace string
	PodName   string
	PodUID    string
	Clock     clock.PassiveClock
	Log       zerolog.Logger
}

// Normal records an informational Event.
func (r *Recorder) Normal(ctx context.Context, reason, message string) {
	r.record(ctx, corev1.EventTypeNormal, reason, message)
}

// Warning records a warning Event.
func (r *Recorder) Warning(ctx context.Context, reason, message string) {
	r.record(ctx, corev1.EventTypeWarning, reason, message)
}

func (r *Recorder) record(ctx context.Context, typ, reason, message string) {
	if r == nil || r.PodName == "" || r.Client == nil {
		return
	}
	now := time.Now()
	if r.Clock != nil {
		now = r.Clock.Now()
	}
	message = safetext.Excerpt(message, 1024) // errors carry backend text; an Event holds 1 KiB
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", r.PodName, now.UnixNano()),
			Namespace: r.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: r.Namespace, Name: r.PodName, UID: types.UID(r.PodUID),
		},
		Reason:              reason,
		Message:             message,
		Type:                typ,
		Source:              corev1.EventSource{Component: "tracebloc-bootstrap"},
		FirstTimestamp:      metav1.NewTime(now),
		LastTimestamp:       metav1.NewTime(now),
		Count:               1,
		ReportingController: "tracebloc.io/bootstrap",
		ReportingInstance:   r.PodName,
	}
	if _, err := r.Client.CoreV1().Events(r.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		r.Log.Warn().Err(err).Str("reason", reason).Msg("could not record an Event on the pod; going on")
	}
}
