package credential

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestDropLegacyCopy: only the hook's copy of this client goes; anything else of that name
// stays; a refused delete says how to delete it by hand and never shows the password.
func TestDropLegacyCopy(t *testing.T) {
	pw := strings.Repeat("p", 32)
	st := State{ClientID: "u-1", Password: pw}
	secret := func(labelled bool, id string, typ corev1.SecretType) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "edge-legacy-credentials", Namespace: "edge"}, Type: typ,
			Data: map[string][]byte{KeyClientID: []byte(id), KeyClientPassword: []byte(pw)}}
		if labelled {
			s.Labels = map[string]string{LabelLegacyCopy: "true"}
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		existing *corev1.Secret
		dropped  bool
	}{
		{"the hook's copy of this client", secret(true, "u-1", corev1.SecretTypeOpaque), true},
		{"none", nil, false},
		{"not labelled: a person's Secret", secret(false, "u-1", corev1.SecretTypeOpaque), false},
		{"another client", secret(true, "u-2", corev1.SecretTypeOpaque), false},
		{"not Opaque", secret(true, "u-1", corev1.SecretTypeBasicAuth), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			if tc.existing != nil {
				objs = append(objs, tc.existing)
			}
			kc := fake.NewClientset(objs...)
			s := &Store{Client: kc, Namespace: "edge", Name: "edge-credentials"}
			dropped, err := s.DropLegacyCopy(context.Background(), "edge-legacy-credentials", st)
			if err != nil || dropped != tc.dropped {
				t.Fatalf("DropLegacyCopy = %v, %v; want %v", dropped, err, tc.dropped)
			}
			_, err = kc.CoreV1().Secrets("edge").Get(context.Background(), "edge-legacy-credentials", metav1.GetOptions{})
			if gone := apierrors.IsNotFound(err); gone != (tc.dropped || tc.existing == nil) {
				t.Errorf("after DropLegacyCopy the Secret is gone = %v, want %v", gone, tc.dropped)
			}
		})
	}

	kc := fake.NewClientset(secret(true, "u-1", corev1.SecretTypeOpaque))
	kc.PrependReactor("delete", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "edge-legacy-credentials", nil)
	})
	s := &Store{Client: kc, Namespace: "edge", Name: "edge-credentials"}
	_, err := s.DropLegacyCopy(context.Background(), "edge-legacy-credentials", st)
	if err == nil || !strings.Contains(err.Error(), "kubectl delete secret -n edge edge-legacy-credentials") || strings.Contains(err.Error(), pw) {
		t.Errorf("a refused delete: %v, want the kubectl command and no password", err)
	}
}
