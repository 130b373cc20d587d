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
			name:   "the bootstrap's copy elsewhere is not a second client",
			objs:   []runtime.Object{labelled("agents", "edge-credentials", map[string]string{"tracebloc.io/credential": "true", "tracebloc.io/credential-copy": "true"})},
			target: "edge",
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
			err := Check(context.Background(), newClient(tt.objs...), Render{Namespace: tt.target})
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
	err := Check(context.Background(), client, Render{Namespace: "edge"})
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("Check = %v, want ErrForbidden", err)
	}
}

func labelled(ns, name string, labels map[string]string) runtime.Object {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
	}
}

// clientSecret is a Secret of a tracebloc/client release.
func clientSecret(ns, release string) runtime.Object {
	return labelled(ns, release+"-secrets", map[string]string{"app.kubernetes.io/name": "client", "app.kubernetes.io/instance": release})
}

// mirroredSecret is the copy a tracebloc/client release of releaseNS keeps in ns (its
// node-agents namespace); Helm annotates it with the release's namespace.
func mirroredSecret(ns, releaseNS, release string) runtime.Object {
	o := clientSecret(ns, release).(*metav1.PartialObjectMetadata)
	o.Annotations = map[string]string{"meta.helm.sh/release-namespace": releaseNS}
	return o
}

// These cases pin the decisions (the fake evaluates label selectors too);
// TestClusterGuardReleases in the binary's tests runs the lists on a real API server.
func TestCheckReleases(t *testing.T) {
	edgeCredential := labelled("edge", "edge-credentials", map[string]string{"tracebloc.io/credential": "true", "app.kubernetes.io/name": "client", "app.kubernetes.io/instance": "edge"})
	copyInNodeAgents := labelled("agents", "edge-credentials", map[string]string{"tracebloc.io/credential-copy": "true", "app.kubernetes.io/instance": "edge"})
	tests := []struct {
		name   string
		objs   []runtime.Object
		render Render
		want   []ExistingRelease // nil: no ReleaseError
	}{
		{name: "nothing", render: Render{Namespace: "edge"}},
		{name: "the edge credential and its copy are not releases", objs: []runtime.Object{edgeCredential, copyInNodeAgents}, render: Render{Namespace: "edge", Release: "edge"}},
		{
			name: "a client release in the release namespace", objs: []runtime.Object{clientSecret("edge", "old")},
			render: Render{Namespace: "edge", Release: "edge"},
			want:   []ExistingRelease{{Namespace: "edge", Release: "old", Secrets: []string{"old-secrets"}}},
		},
		{name: "taken over with migrateFrom", objs: []runtime.Object{clientSecret("edge", "old")}, render: Render{Namespace: "edge", Release: "edge", MigrateFrom: "old"}},
		{
			name: "taken over with migrateFrom, with its mirror in the node-agents namespace", objs: []runtime.Object{clientSecret("edge", "old"), mirroredSecret("agents", "edge", "old")},
			render: Render{Namespace: "edge", Release: "edge", MigrateFrom: "old"},
		},
		{
			name: "a mirror names its release's namespace", objs: []runtime.Object{mirroredSecret("agents", "other", "old")},
			render: Render{Namespace: "edge", Release: "edge"},
			want:   []ExistingRelease{{Namespace: "other", Release: "old", Secrets: []string{"old-secrets"}}},
		},
		{
			name: "migrateFrom names a release of another namespace", objs: []runtime.Object{clientSecret("other", "old")},
			render: Render{Namespace: "edge", MigrateFrom: "old"},
			want:   []ExistingRelease{{Namespace: "other", Release: "old", Secrets: []string{"old-secrets"}}},
		},
		{name: "the release's own client Secrets (an upgrade)", objs: []runtime.Object{clientSecret("edge", "edge")}, render: Render{Namespace: "edge", Release: "edge"}},
		{name: "one of the render's own Secrets", objs: []runtime.Object{clientSecret("edge", "x")}, render: Render{Namespace: "edge", Secrets: []Object{{"", "x-secrets"}}}},
		{
			name: "an own Secret's name in another namespace is not own", objs: []runtime.Object{clientSecret("other", "x")},
			render: Render{Namespace: "edge", Secrets: []Object{{"", "x-secrets"}}},
			want:   []ExistingRelease{{Namespace: "other", Release: "x", Secrets: []string{"x-secrets"}}},
		},
		{
			name: "label values are sanitised", objs: []runtime.Object{labelled("edge", "s", map[string]string{"app.kubernetes.io/name": "client", "app.kubernetes.io/instance": "a b\n" + strings.Repeat("x", 100)})},
			render: Render{Namespace: "edge"},
			want:   []ExistingRelease{{Namespace: "edge", Release: "a?b?" + strings.Repeat("x", 59) + "...", Secrets: []string{"s"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(context.Background(), newClient(tt.objs...), tt.render)
			var re *ReleaseError
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &re) {
				t.Fatalf("Check = %v, want a *ReleaseError", err)
			}
			if diff := cmp.Diff(tt.want, re.Releases); diff != "" {
				t.Errorf("ReleaseError.Releases (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReleaseMessage(t *testing.T) {
	err := &ReleaseError{Target: "edge", MigrateFrom: "far", Releases: []ExistingRelease{
		{Namespace: "edge", Release: "old", Secrets: []string{"old-secrets"}},
		{Namespace: "other", Release: "far", Secrets: []string{"far-secrets"}},
	}}
	msg := err.Error()
	for _, want := range []string{
		`namespace "edge" runs the tracebloc/client release "old"`,
		"--set migrateFrom.release=old",
		"helm install ... -n other --set migrateFrom.release=far",
		"helm uninstall far -n other",
		"own namespace only",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("ReleaseError.Error() = %q, want it to contain %q", msg, want)
		}
	}
}

// TestCheckBoth checks that a credential elsewhere and a client release are both named.
func TestCheckBoth(t *testing.T) {
	err := Check(context.Background(), newClient(secret("old", "edge-credentials", true), clientSecret("edge", "x")), Render{Namespace: "edge"})
	var conflict *ConflictError
	var release *ReleaseError
	if !errors.As(err, &conflict) || !errors.As(err, &release) {
		t.Errorf("Check = %v, want a *ConflictError and a *ReleaseError", err)
	}
}
