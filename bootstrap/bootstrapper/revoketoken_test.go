package bootstrapper

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/retry/retrytest"
)

// The revocation is tried again, on the injected clock, while the backend fails in a way
// that may pass, and not after an answer that will not change.
func TestRevokeTokenRetries(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		statuses  []int // the answers before a 200
		wantErr   bool
		wantCalls int
		wantWaits []time.Duration
	}{
		{"at once", nil, false, 1, nil},
		{"5xx and 429 back off to 2 s", []int{503, 500, 429, 502, 504, 503}, false, 7,
			[]time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}},
		{"401 is the answer", []int{401}, true, 1, nil},
		{"426 is the answer", []int{503, 426}, true, 2, []time.Duration{250 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				if r.URL.Path != "/auth/revoke" || r.Header.Get("Authorization") != "Bearer user-token" {
					t.Errorf("request %s %s with %q, want POST /auth/revoke with the user token", r.Method, r.URL.Path, r.Header.Get("Authorization"))
				}
				if calls <= len(tt.statuses) {
					w.WriteHeader(tt.statuses[calls-1])
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			c, err := api.New(srv.URL, api.WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			clk := retrytest.NewClock(time.Unix(0, 0))
			err = revokeToken(context.Background(), clk, c.WithToken("user-token"))
			if (err != nil) != tt.wantErr {
				t.Errorf("revokeToken() = %v, want error %v", err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantWaits, clk.Waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}
