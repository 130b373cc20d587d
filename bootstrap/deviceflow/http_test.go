package deviceflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/retry/retrytest"
)

// TestRunOverHTTP drives the flow through the real *api.Client against an httptest server
// that answers the contract's shapes: pending, slow_down, a 503 from a proxy, a 429 with
// Retry-After, then the token.
func TestRunOverHTTP(t *testing.T) {
	h := newHarness(nil, nil)
	var (
		mu   sync.Mutex
		seen []string
	)
	answers := []struct {
		status int
		header map[string]string
		body   string
	}{
		{status: 400, body: `{"error": "authorization_pending"}`},
		{status: 400, body: `{"error": "slow_down"}`},
		{status: 503, body: `<html>bad gateway</html>`},
		{status: 429, header: map[string]string{"Retry-After": "40"}, body: `{"detail": "Request was throttled."}`},
		{status: 200, body: `{"token": "tok-secret"}`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		at := h.clock.Since(start)
		switch r.URL.Path {
		case "/device/code":
			seen = append(seen, fmt.Sprintf("%v %s %s", at, r.Method, r.URL.Path))
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"device_code": "dc-secret-http", "user_code": "WDJB-MJHT",
				"verification_uri": "http://127.0.0.1/activate",
				"verification_uri_complete": "http://127.0.0.1/activate?user_code=WDJB-MJHT",
				"expires_in": 900, "interval": 5}`)
		case "/device/token":
			var req struct {
				DeviceCode string `json:"device_code"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "want a JSON body", http.StatusUnsupportedMediaType)
				return
			}
			seen = append(seen, fmt.Sprintf("%v %s %s %s", at, r.Method, r.URL.Path, req.DeviceCode))
			if len(answers) == 0 {
				http.Error(w, `{"error": "script_exhausted"}`, http.StatusTeapot)
				return
			}
			a := answers[0]
			answers = answers[1:]
			for k, v := range a.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(a.status)
			fmt.Fprint(w, a.body)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	client, err := api.New(srv.URL, api.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	h.flow.Backend = client

	token, err := h.run(t, t.Context())
	if err != nil || token != "tok-secret" {
		t.Fatalf("Run() = %q, %v, want the token", token, err)
	}
	want := []string{
		"0s POST /device/code",
		"5s POST /device/token dc-secret-http",  // pending
		"10s POST /device/token dc-secret-http", // slow_down: 10 s from now on
		"20s POST /device/token dc-secret-http", // 503: backoff 2×10 s
		"40s POST /device/token dc-secret-http", // 429: Retry-After 40 s
		"1m20s POST /device/token dc-secret-http",
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if strings.Contains(h.logs.String(), "dc-secret-http") || strings.Contains(h.logs.String(), "tok-secret") {
		t.Errorf("the log holds the device code or the token:\n%s", h.logs.String())
	}
}

// TestRunRetriesA429InOneLayer: with an *api.Client that retries 429s by default, a 429 to
// the device flow's calls is retried by the flow alone, at its pace: one request per 429,
// none of the client's own waits.
func TestRunRetriesA429InOneLayer(t *testing.T) {
	h := newHarness(nil, nil)
	var (
		mu       sync.Mutex
		seen     []string
		limitedC = 1 // 429s left for /device/code
		limitedT = 2 // and for /device/token
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%v %s", h.clock.Since(start), r.URL.Path))
		left := &limitedT
		if r.URL.Path == "/device/code" {
			left = &limitedC
		}
		if *left > 0 {
			*left--
			w.Header().Set("Retry-After", "20")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if r.URL.Path == "/device/code" {
			fmt.Fprint(w, `{"device_code": "dc-secret-http", "user_code": "WDJB-MJHT",
				"verification_uri": "http://127.0.0.1/activate", "expires_in": 900, "interval": 5}`)
			return
		}
		fmt.Fprint(w, `{"token": "tok-secret"}`)
	}))
	defer srv.Close()
	clientClock := retrytest.NewClock(time.Now())
	client, err := api.New(srv.URL, api.WithClock(clientClock))
	if err != nil {
		t.Fatal(err)
	}
	h.flow.Backend = client

	if token, err := h.run(t, t.Context()); err != nil || token != "tok-secret" {
		t.Fatalf("Run() = %q, %v, want the token", token, err)
	}
	want := []string{
		"0s /device/code", "20s /device/code", // Retry-After 20 s
		"25s /device/token", "45s /device/token", "1m5s /device/token",
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if waits := clientClock.Waits(); len(waits) != 0 {
		t.Errorf("the API client waited %v itself, want the flow alone to retry", waits)
	}
}

// approver is a Backend that approves (or denies) the code in the development backend
// after the given number of polls, as a person in a browser would.
type approver struct {
	Backend
	dev   *devbackend.Server
	after int
	deny  bool

	mu       sync.Mutex
	polls    int
	userCode string
}

func (a *approver) RequestDeviceCode(ctx context.Context, dctx *api.DeviceContext) (*api.DeviceCode, error) {
	dc, err := a.Backend.RequestDeviceCode(ctx, dctx)
	if err == nil {
		a.mu.Lock()
		a.userCode = dc.UserCode
		a.mu.Unlock()
	}
	return dc, err
}

func (a *approver) PollDeviceToken(ctx context.Context, deviceCode string) (*api.Token, error) {
	a.mu.Lock()
	a.polls++
	if a.polls == a.after {
		decide := func() error { return a.dev.Approve(a.userCode, "") }
		if a.deny {
			decide = func() error { return a.dev.Deny(a.userCode) }
		}
		if err := decide(); err != nil {
			a.mu.Unlock()
			return nil, fmt.Errorf("test: decide %s: %w", a.userCode, err)
		}
	}
	a.mu.Unlock()
	return a.Backend.PollDeviceToken(ctx, deviceCode)
}

// TestRunAgainstDevBackend runs the flow against the development backend, which enforces
// the interval with slow_down: the flow must never poll too fast.
func TestRunAgainstDevBackend(t *testing.T) {
	tests := []struct {
		name    string
		deny    bool
		wantErr error
	}{
		{name: "approved"},
		{name: "denied", deny: true, wantErr: ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(nil, nil)
			dev, err := devbackend.New(devbackend.Config{Now: h.clock.Now, DeviceInterval: 5 * time.Second, DeviceTTL: 15 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			srv := httptest.NewServer(dev.Handler())
			defer srv.Close()
			client, err := api.New(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			h.flow.Backend = &approver{Backend: client, dev: dev, after: 3, deny: tt.deny}

			token, err := h.run(t, t.Context())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Run() error = %v, want %v", err, tt.wantErr)
			}
			if (token != "") == tt.deny {
				t.Errorf("Run() token set = %v, want %v", token != "", !tt.deny)
			}
			var got []string
			for _, r := range dev.Requests() {
				got = append(got, fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
			}
			last := "POST /device/token 200"
			if tt.deny {
				last = "POST /device/token 400"
			}
			want := []string{"POST /device/code 200", "POST /device/token 400", "POST /device/token 400", last}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if strings.Contains(h.logs.String(), "slow") {
				t.Errorf("the flow polled too fast for the backend:\n%s", h.logs.String())
			}
			if token != "" && strings.Contains(h.logs.String(), token) {
				t.Errorf("the log holds the token:\n%s", h.logs.String())
			}
		})
	}
}
