package guard

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

func secret(ns, name string, credential bool) runtime.Object {
	m := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
	}
	if credential {
		m.Labels = map[string]string{"tracebloc.io/credential": "true"}
	}
	return m
}

func newClient(objs ...runtime.Object) *metadatafake.FakeMetadataClient {
	scheme := metadatafake.NewTestScheme()
	_ = metav1.AddMetaToScheme(scheme)
	return metadatafake.NewSimpleMetadataClient(scheme, objs...)
}

// The real behaviour (a metadata-only list on a live API server, RBAC) is tested on the
// local cluster in cluster_test.go; these narrow cases pin the decision and the message.
func TestCheck(t *testing.T) {
	tests := []struct {
		name        string
		objs        []runtime.Object
		target      string
		wantSecrets []string // of the ConflictError; nil: no conflict
	}{
		{name: "no credential anywhere", target: "edge"},
		{
			name:   "credential in the target namespace",
			objs:   []runtime.Object{secret("edge", "edge-credentials", true)},
			target: "edge",
		},
		{
			name:   "unlabelled Secret elsewhere",
			objs:   []runtime.Object{secret("other", "something", false)},
			target: "edge",
		},
		{
			name:        "credential in another namespace",
			objs:        []runtime.Object{secret("edge", "edge-credentials", true), secret("old", "edge-credentials", true)},
			target:      "edge",
			wantSecrets: []string{"old/edge-credentials"},
		},
		{
			name:        "several, sorted",
			objs:        []runtime.Object{secret("zeta", "c", true), secret("alpha", "c", true)},
			target:      "edge",
			wantSecrets: []string{"alpha/c", "zeta/c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(context.Background(), newClient(tt.objs...), tt.target)
			var conflict *ConflictError
			if tt.wantSecrets == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &conflict) {
				t.Fatalf("Check = %v, want a *ConflictError", err)
			}
			if diff := cmp.Diff(tt.wantSecrets, conflict.Secrets); diff != "" {
				t.Errorf("ConflictError.Secrets mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConflictMessage(t *testing.T) {
	err := &ConflictError{Target: "new", Secrets: []string{"old/edge-credentials"}}
	msg := err.Error()
	for _, want := range []string{
		`namespace "old"`,                               // which namespace holds it
		"helm install ... -n old",                       // way forward 1: install there
		"kubectl delete secret -n old edge-credentials", // way forward 2: move
		`install into "new"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("ConflictError.Error() = %q, want it to contain %q", msg, want)
		}
	}
}

func TestCheckForbidden(t *testing.T) {
	client := newClient()
	client.PrependReactor("list", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("RBAC says no"))
	})
	err := Check(context.Background(), client, "edge")
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("Check = %v, want ErrForbidden", err)
	}
}
