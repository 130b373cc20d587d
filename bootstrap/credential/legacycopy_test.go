package credential

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tracebloc/edge/internal/retry/retrytest"
)

// LegacyCopy rides out an API server that does not answer, with the store's one retry
// policy, and gives up after Patience with an error that says so (exit code 1, not 2).
func TestLegacyCopyWaitsForTheAPIServer(t *testing.T) {
	pw := strings.Repeat("p", 32)
	src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "old-secrets", Namespace: "edge"},
		Data: map[string][]byte{KeyClientID: []byte("u-1"), KeyClientPassword: []byte(pw)}}
	tests := []struct {
		name    string
		refused int32
		want    LegacyOutcome
		wantErr string
	}{
		{name: "refused twice", refused: 2, want: Copied},
		{name: "never answers", refused: 1 << 20, wantErr: "has not answered for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(src)
			failing(cs, "create", tt.refused)
			var log strings.Builder
			clk := retrytest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			l := &LegacyCopy{Store: &Store{Client: cs, Namespace: "edge", Name: "creds", Clock: clk, Log: zerolog.New(&log), Patience: time.Second},
				Source: "old-secrets", Name: "old-copy"}
			got, err := l.Run(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), pw) {
					t.Fatalf("Run() = %v, want an error saying %q", err, tt.wantErr)
				}
			} else if got != tt.want || err != nil {
				t.Fatalf("Run() = %v, %v; want %v", got, err, tt.want)
			}
			if len(clk.Waits()) == 0 || !strings.Contains(log.String(), "not answering") || strings.Contains(log.String(), pw) {
				t.Errorf("waits %v, log %q: want the refused creates waited for and logged, never the password", clk.Waits(), log.String())
			}
		})
	}
}
