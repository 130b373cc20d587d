package credential

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// secretWith is a credential Secret the bootstrap made, holding data and ann.
func secretWith(data map[string]string, ann map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "edge", Annotations: ann,
			Labels: map[string]string{LabelCredential: "true", LabelManagedBy: "tracebloc-bootstrap"}},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{},
	}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

const goodPassword = "0123456789abcdef0123456789abcdef"

func TestStateComplete(t *testing.T) {
	tests := []struct {
		name string
		s    State
		want bool
	}{
		{"minted", State{ClientID: "u-1", Password: goodPassword, Enrollment: Minted}, true},
		{"pending", State{ClientID: "u-1", Password: goodPassword, Enrollment: Pending}, false},
		{"no annotation (hand-made)", State{ClientID: "u-1", Password: goodPassword}, false},
		{"unknown enrollment", State{ClientID: "u-1", Password: goodPassword, Enrollment: "done"}, false},
		{"short password", State{ClientID: "u-1", Password: "short", Enrollment: Minted}, false},
		{"password with newline", State{ClientID: "u-1", Password: goodPassword + "\n", Enrollment: Minted}, false},
		{"empty client id", State{Password: goodPassword, Enrollment: Minted}, false},
		{"client id with space", State{ClientID: "u 1", Password: goodPassword, Enrollment: Minted}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Complete(); got != tt.want {
				t.Errorf("%+v.Complete() = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

// FuzzSecretContents feeds hand-edited or half-written Secrets to the reader: it must
// never panic, and never call a Secret complete unless both keys are well formed.
func FuzzSecretContents(f *testing.F) {
	f.Add("u-1", goodPassword, Minted, "cluster", `{"device_code":"x","user_code":"AAAA-BBBB","expires_in":900,"issued_at":"2026-01-01T00:00:00Z"}`)
	f.Add("", "", "", "", "")
	f.Add("u 1", "p\x00", Pending, "\xff", `{"issued_at":1}`)
	f.Fuzz(func(t *testing.T, id, pw, enrollment, cluster, grant string) {
		sec := secretWith(map[string]string{KeyClientID: id, KeyClientPassword: pw, legacyKeyDeviceGrant: grant},
			map[string]string{AnnEnrollment: enrollment, AnnClusterID: cluster})
		st := &Store{Client: fake.NewClientset(sec), Namespace: "edge", Name: "creds"}
		s, err := st.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Written out rather than ValidClientID's and ValidPassword's, which Complete calls.
		if s.Complete() && (!wellFormed(s.ClientID, 1, 150) || !wellFormed(s.Password, MinPasswordBytes, 512)) {
			t.Errorf("malformed Secret read as complete: %+v", s)
		}
	})
}

// wellFormed reports whether v has minLen to maxLen bytes and no control, format, space or
// separator character.
func wellFormed(v string, minLen, maxLen int) bool {
	return len(v) >= minLen && len(v) <= maxLen && utf8.ValidString(v) &&
		!strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.In(r, unicode.C, unicode.Z) })
}

// TestWritesRemoveTheLegacyDeviceGrant: the pending device code an older version kept in
// the Secret is gone after the next write, whichever write that is.
func TestWritesRemoveTheLegacyDeviceGrant(t *testing.T) {
	legacy := `{"device_code":"old-device-code-secret","user_code":"AAAA-BBBB","expires_in":900,"issued_at":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name  string
		write func(st *Store) error
	}{
		{"write-ahead", func(st *Store) error { return st.WriteAhead(context.Background(), "c1", goodPassword, nil) }},
		{"commit", func(st *Store) error {
			return st.Commit(context.Background(), Record{ClientID: "u-1", Password: goodPassword, ClusterID: "c1", DashboardID: 1, Name: "edge", Enrollment: Minted})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(secretWith(map[string]string{legacyKeyDeviceGrant: legacy}, map[string]string{AnnEnrollment: Pending}))
			st := &Store{Client: client, Namespace: "edge", Name: "creds"}
			if err := tt.write(st); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			sec, err := client.CoreV1().Secrets("edge").Get(context.Background(), "creds", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := sec.Data[legacyKeyDeviceGrant]; ok {
				t.Errorf("after %s the Secret still holds %s", tt.name, legacyKeyDeviceGrant)
			}
		})
	}
}

func TestWriteAheadNeverReplacesACompleteCredential(t *testing.T) {
	sec := secretWith(map[string]string{KeyClientID: "u-1", KeyClientPassword: goodPassword},
		map[string]string{AnnEnrollment: Minted, AnnClusterID: "c1"})
	st := &Store{Client: fake.NewClientset(sec), Namespace: "edge", Name: "creds"}
	err := st.WriteAhead(context.Background(), "c1", "another-password-0123456789", nil)
	if !errors.Is(err, ErrComplete) {
		t.Fatalf("WriteAhead over a complete credential = %v, want ErrComplete", err)
	}
	s, _ := st.Read(context.Background())
	if s.Password != goodPassword {
		t.Errorf("the complete credential was overwritten")
	}
}

func TestAbortWriteAheadTakesBackOnlyItsOwnPassword(t *testing.T) {
	st := &Store{Client: fake.NewClientset(), Namespace: "edge", Name: "creds"}
	ctx := context.Background()
	if err := st.WriteAhead(ctx, "c1", goodPassword, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.AbortWriteAhead(ctx, "some-other-password-123"); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Read(ctx); s.WriteAheadPassword() != goodPassword {
		t.Fatalf("AbortWriteAhead with another password removed the write-ahead")
	}
	if err := st.AbortWriteAhead(ctx, goodPassword); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Read(ctx); s.Password != "" || s.Enrollment != "" {
		t.Errorf("after AbortWriteAhead the Secret still holds %+v", s)
	}
}

// A credential with bytes that are not UTF-8 is malformed: no workload could send it.
func TestValidRefusesInvalidUTF8(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{name: "client id", ok: ValidClientID("client-\xff")},
		{name: "password", ok: ValidPassword("a-long-enough-password-\xff")},
	} {
		if tt.ok {
			t.Errorf("the %s with an invalid UTF-8 byte is accepted", tt.name)
		}
	}
	if !ValidClientID("client-é") || !ValidPassword("a-long-enough-password-é") {
		t.Errorf("a valid UTF-8 credential is refused")
	}
}
