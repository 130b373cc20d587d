package credential

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestSecretsThatAreNotOursAreRefused: a Secret of the credential Secret's name that the
// bootstrap did not make is never written; only an operator's credential (Opaque, with
// both keys) is read.
func TestSecretsThatAreNotOursAreRefused(t *testing.T) {
	cred := map[string][]byte{KeyClientID: []byte("u-1"), KeyClientPassword: []byte(goodPassword)}
	tests := []struct {
		name      string
		typ       corev1.SecretType
		labels    map[string]string
		data      map[string][]byte
		wantRead  string // "" = read without error
		wantOwned bool
		wantWrite string // the refusal of a write, "" = written
	}{
		{name: "made by the bootstrap", typ: corev1.SecretTypeOpaque, labels: map[string]string{LabelManagedBy: "tracebloc-bootstrap"}, data: cred, wantOwned: true},
		{name: "labelled by the operator", typ: corev1.SecretTypeOpaque, labels: map[string]string{LabelCredential: "true"}, data: cred, wantOwned: true},
		{name: "empty type is Opaque", labels: map[string]string{LabelCredential: "true"}, wantOwned: true},
		{name: "operator's credential", typ: corev1.SecretTypeOpaque, data: cred,
			wantWrite: "kubectl label secret -n edge creds tracebloc.io/credential=true"},
		{name: "someone else's Opaque", typ: corev1.SecretTypeOpaque, labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"},
			data: map[string][]byte{"token": []byte("x")}, wantRead: "kubectl delete secret -n edge creds", wantWrite: "kubectl delete secret -n edge creds"},
		{name: "another type, marked", typ: corev1.SecretTypeTLS, labels: map[string]string{LabelCredential: "true"}, data: cred,
			wantRead: "is of type kubernetes.io/tls, not Opaque", wantWrite: "is of type kubernetes.io/tls, not Opaque"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "edge", Labels: tt.labels}, Type: tt.typ, Data: tt.data}
			cs := fake.NewClientset(sec)
			st := &Store{Client: cs, Namespace: "edge", Name: "creds"}
			ctx := context.Background()
			s, err := st.Read(ctx)
			switch {
			case tt.wantRead == "" && err != nil:
				t.Fatalf("Read() = %v, want no error", err)
			case tt.wantRead != "" && (!errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), tt.wantRead)):
				t.Fatalf("Read() = %v, want ErrNotOurs saying %q", err, tt.wantRead)
			case err == nil && s.Owned != tt.wantOwned:
				t.Errorf("Read().Owned = %v, want %v", s.Owned, tt.wantOwned)
			}
			err = st.WriteAhead(ctx, "c1", "a-new-password-0123456789", &State{ClientID: "u-1", Password: goodPassword})
			if tt.wantWrite == "" {
				if err != nil {
					t.Fatalf("WriteAhead() = %v, want it written", err)
				}
				return
			}
			if !errors.Is(err, ErrNotOurs) || !strings.Contains(err.Error(), tt.wantWrite) {
				t.Fatalf("WriteAhead() = %v, want ErrNotOurs saying %q", err, tt.wantWrite)
			}
			got, _ := cs.CoreV1().Secrets("edge").Get(ctx, "creds", metav1.GetOptions{})
			if diff := cmp.Diff(sec, got); diff != "" {
				t.Errorf("a refused Secret was changed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriteAheadKeepsACredentialNotRefused: the write-ahead replaces a credential only
// when the backend refused it or the offboarding hook marked it revoked.
func TestWriteAheadKeepsACredentialNotRefused(t *testing.T) {
	const other = "another-password-0123456789"
	tests := []struct {
		name    string
		ann     map[string]string
		refused *State
		want    error
	}{
		{name: "annotations lost, not checked", refused: nil, want: ErrInPlace},
		{name: "for another cluster, not checked", ann: map[string]string{AnnEnrollment: Minted, AnnClusterID: "c2"}, want: ErrInPlace},
		{name: "another credential was refused", refused: &State{ClientID: "u-1", Password: other}, want: ErrInPlace},
		{name: "refused by the backend", refused: &State{ClientID: "u-1", Password: goodPassword}},
		{name: "marked revoked", ann: map[string]string{AnnEnrollment: Revoked, AnnClusterID: "c1"}},
		{name: "complete here, not checked", ann: map[string]string{AnnEnrollment: Minted, AnnClusterID: "c1"}, want: ErrComplete},
		{name: "complete here, refused by the backend", ann: map[string]string{AnnEnrollment: Minted, AnnClusterID: "c1"},
			refused: &State{ClientID: "u-1", Password: goodPassword}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &Store{Client: fake.NewClientset(secretWith(map[string]string{KeyClientID: "u-1", KeyClientPassword: goodPassword}, tt.ann)), Namespace: "edge", Name: "creds"}
			ctx := context.Background()
			err := st.WriteAhead(ctx, "c1", "the-write-ahead-0123456789", tt.refused)
			if !errors.Is(err, tt.want) {
				t.Fatalf("WriteAhead() = %v, want %v", err, tt.want)
			}
			s, _ := st.Read(ctx)
			if kept := s.ClientID == "u-1" && s.Password == goodPassword; kept != (tt.want != nil) {
				t.Errorf("after WriteAhead() = %v the Secret holds %q/%d characters (kept = %v)", err, s.ClientID, len(s.Password), kept)
			}
		})
	}
}

func TestMarkRevoked(t *testing.T) {
	st := &Store{Client: fake.NewClientset(secretWith(map[string]string{KeyClientID: "u-1", KeyClientPassword: goodPassword},
		map[string]string{AnnEnrollment: Minted, AnnClusterID: "c1"})), Namespace: "edge", Name: "creds"}
	ctx := context.Background()
	if err := st.MarkRevoked(ctx, "u-2"); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Read(ctx); s.Enrollment != Minted {
		t.Fatalf("MarkRevoked of another client changed the enrollment to %q", s.Enrollment)
	}
	if err := st.MarkRevoked(ctx, "u-1"); err != nil {
		t.Fatal(err)
	}
	s, _ := st.Read(ctx)
	if s.Enrollment != Revoked || s.Complete() {
		t.Errorf("after MarkRevoked the enrollment is %q (complete %v), want %q and not complete", s.Enrollment, s.Complete(), Revoked)
	}
}
