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

	"github.com/tracebloc/edge/internal/names"
)

// TestLabelKeepsEverythingElse: Read tells an owned Secret without the release's labels,
// and Label adds them and changes nothing else; an operator's Secret is never labelled.
func TestLabelKeepsEverythingElse(t *testing.T) {
	sec := secretWith(map[string]string{KeyClientID: "u-1", KeyClientPassword: goodPassword}, map[string]string{AnnEnrollment: Minted, AnnClusterID: "c"})
	sec.ResourceVersion = "1" // as the API server reads it; the fake keeps what it is given
	kc := fake.NewClientset(sec)
	s := &Store{Client: kc, Namespace: "edge", Name: "creds", Release: "edge"}
	st, err := s.Read(context.Background())
	if err != nil || !st.Unlabelled {
		t.Fatalf("Read() = %+v, %v; want Unlabelled", st, err)
	}
	if err := s.Label(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := kc.CoreV1().Secrets("edge").Get(context.Background(), "creds", metav1.GetOptions{})
	want := sec.DeepCopy()
	want.Labels[names.AppNameLabel], want.Labels[names.AppInstanceLabel] = "client", "edge"
	for _, d := range []struct {
		what      string
		want, got any
	}{{"labels", want.Labels, got.Labels}, {"annotations", want.Annotations, got.Annotations}, {"data", want.Data, got.Data}, {"type", want.Type, got.Type}} {
		if diff := cmp.Diff(d.want, d.got); diff != "" {
			t.Errorf("%s after Label (-want +got):\n%s", d.what, diff)
		}
	}
	if st, _ := s.Read(context.Background()); st.Unlabelled {
		t.Errorf("Read() after Label still Unlabelled")
	}
	if st, _ := (&Store{Client: kc, Namespace: "edge", Name: "creds"}).Read(context.Background()); st.Unlabelled {
		t.Errorf("Read() without a release is Unlabelled")
	}

	gone := fake.NewClientset() // deleted between the read and the label
	if err := (&Store{Client: gone, Namespace: "edge", Name: "creds", Release: "edge"}).Label(context.Background()); err != nil {
		t.Errorf("Label() of a deleted Secret = %v, want nil", err)
	}
	if list, _ := gone.CoreV1().Secrets("edge").List(context.Background(), metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("Label() of a deleted Secret created %d", len(list.Items))
	}

	operator := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "op", Namespace: "edge"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{KeyClientID: []byte("u-1"), KeyClientPassword: []byte(goodPassword)}}
	kc = fake.NewClientset(operator)
	s = &Store{Client: kc, Namespace: "edge", Name: "op", Release: "edge"}
	if st, _ := s.Read(context.Background()); st.Owned || st.Unlabelled {
		t.Errorf("Read() of an operator's Secret = %+v, want neither owned nor Unlabelled", st)
	}
	if err := s.Label(context.Background()); !errors.Is(err, ErrNotOurs) {
		t.Errorf("Label() of an operator's Secret = %v, want ErrNotOurs", err)
	}
}

// TestCopySync: the copy is created with the two keys and the copy's labels, left alone
// when it is up to date, refreshed when it differs (other labels kept), and a Secret of
// that name that is not a copy is refused.
func TestCopySync(t *testing.T) {
	ctx := context.Background()
	kc := fake.NewClientset()
	c := &Copy{Store: &Store{Client: kc, Namespace: "edge", Name: "creds", Release: "edge"}, Namespace: "agents"}
	st := State{ClientID: "u-1", Password: goodPassword}
	for i, want := range []bool{true, false} {
		if changed, err := c.Sync(ctx, st); err != nil || changed != want {
			t.Fatalf("Sync() #%d = %v, %v, want %v", i+1, changed, err, want)
		}
	}
	cp, _ := kc.CoreV1().Secrets("agents").Get(ctx, "creds", metav1.GetOptions{})
	cp.Labels["kept"] = "yes"
	cp.Data["extra"] = []byte("x")
	if _, err := kc.CoreV1().Secrets("agents").Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if changed, err := c.Sync(ctx, st); err != nil || !changed {
		t.Fatalf("Sync() of a copy with another key = %v, %v, want a write", changed, err)
	}
	st.Password = goodPassword + "-new"
	if changed, err := c.Sync(ctx, st); err != nil || !changed {
		t.Fatalf("Sync() after a change = %v, %v, want a write", changed, err)
	}
	cp, _ = kc.CoreV1().Secrets("agents").Get(ctx, "creds", metav1.GetOptions{})
	wantData := map[string][]byte{KeyClientID: []byte("u-1"), KeyClientPassword: []byte(goodPassword + "-new")}
	wantLabels := map[string]string{names.CredentialCopyLabel: "true", names.AppInstanceLabel: "edge", "kept": "yes"}
	if diff := cmp.Diff(wantData, cp.Data); diff != "" {
		t.Errorf("copy data (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLabels, cp.Labels); diff != "" {
		t.Errorf("copy labels (-want +got):\n%s", diff)
	}

	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "agents"}, Data: map[string][]byte{"other": []byte("data")}}
	c.Store.Client = fake.NewClientset(foreign)
	_, err := c.Sync(ctx, st)
	if !errors.Is(err, ErrCopy) || !strings.Contains(err.Error(), "kubectl delete secret -n agents creds") || strings.Contains(err.Error(), goodPassword) {
		t.Errorf("Sync() next to a foreign Secret = %v, want ErrCopy with the kubectl command and no password", err)
	}
}

// TestCopyCarriesTheTrustBundle: with Trust, the copy holds the CA bundle under its key
// too, and a changed bundle is written again.
func TestCopyCarriesTheTrustBundle(t *testing.T) {
	ctx := context.Background()
	kc := fake.NewClientset()
	c := &Copy{Store: &Store{Client: kc, Namespace: "edge", Name: "creds"}, Namespace: "agents", Trust: []byte("bundle 1")}
	st := State{ClientID: "u-1", Password: goodPassword}
	for i, tc := range []struct {
		trust string
		write bool
	}{{"bundle 1", true}, {"bundle 1", false}, {"bundle 2", true}, {"", true}} {
		c.Trust = []byte(tc.trust)
		if changed, err := c.Sync(ctx, st); err != nil || changed != tc.write {
			t.Fatalf("Sync() #%d = %v, %v, want %v", i+1, changed, err, tc.write)
		}
		cp, _ := kc.CoreV1().Secrets("agents").Get(ctx, "creds", metav1.GetOptions{})
		got, ok := cp.Data[names.TrustBundleKey]
		if string(got) != tc.trust || ok != (tc.trust != "") {
			t.Errorf("Sync() #%d: copy's %s = %q (present %v), want %q", i+1, names.TrustBundleKey, got, ok, tc.trust)
		}
	}
}
