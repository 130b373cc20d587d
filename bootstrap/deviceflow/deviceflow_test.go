package deviceflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/tracebloc/edge/internal/api"
)

var start = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// journal records, in order and with the fake time since start, every call the flow makes
// to the backend, the store and Show.
type journal struct {
	mu    sync.Mutex
	clock *testingclock.FakeClock
	lines []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, fmt.Sprintf("%v ", j.clock.Since(start))+fmt.Sprintf(format, args...))
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.lines...)
}

// answer is one scripted answer of the fake backend: a code, a token or an error.
type answer struct {
	code  *api.DeviceCode
	token string
	err   error
}

// errScriptEnd is what the fake answers past its script; it is permanent, so Run stops.
var errScriptEnd = &api.APIError{Method: "POST", Endpoint: "/script", Status: 418, Code: "script_exhausted"}

// fakeBackend answers from its scripts, in order.
type fakeBackend struct {
	j     *journal
	mu    sync.Mutex
	codes []answer
	polls []answer
}

func (b *fakeBackend) RequestDeviceCode(ctx context.Context, dctx *api.DeviceContext) (*api.DeviceCode, error) {
	b.j.add("code")
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.codes) == 0 {
		return nil, errScriptEnd
	}
	a := b.codes[0]
	b.codes = b.codes[1:]
	return a.code, a.err
}

func (b *fakeBackend) PollDeviceToken(ctx context.Context, deviceCode string) (*api.Token, error) {
	b.j.add("poll %s", deviceCode)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.polls) == 0 {
		return nil, errScriptEnd
	}
	a := b.polls[0]
	b.polls = b.polls[1:]
	if a.err != nil {
		return nil, a.err
	}
	return &api.Token{Token: a.token}, nil
}

// fakeStore keeps one Pending in memory.
type fakeStore struct {
	j       *journal
	mu      sync.Mutex
	pending *Pending
	saveErr error
}

func (s *fakeStore) LoadPending(ctx context.Context) (*Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		return nil, nil
	}
	p := *s.pending
	return &p, nil
}

func (s *fakeStore) SavePending(ctx context.Context, p *Pending) error {
	s.j.add("save %s interval=%v", p.Code.DeviceCode, p.Interval)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveErr != nil {
		return s.saveErr
	}
	cp := *p
	s.pending = &cp
	return nil
}

func (s *fakeStore) ClearPending(ctx context.Context) error {
	s.j.add("clear")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = nil
	return nil
}

// code is the n-th scripted device code.
func code(n, expiresIn, interval int) *api.DeviceCode {
	return &api.DeviceCode{
		DeviceCode:              fmt.Sprintf("dc-secret-%d", n),
		UserCode:                fmt.Sprintf("USER-000%d", n),
		VerificationURI:         "https://app.tracebloc.io/activate",
		VerificationURIComplete: fmt.Sprintf("https://app.tracebloc.io/activate?user_code=USER-000%d", n),
		ExpiresIn:               expiresIn,
		Interval:                interval,
	}
}

func deviceErr(code string) error {
	return &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 400, Code: code}
}

var (
	pending  = answer{err: deviceErr(api.CodeAuthorizationPending)}
	slowDown = answer{err: deviceErr(api.CodeSlowDown)}
	expired  = answer{err: deviceErr(api.CodeExpiredToken)}
	denied   = answer{err: deviceErr(api.CodeAccessDenied)}
	approved = answer{token: "tok-secret"}
	netErr   = &url.Error{Op: "Post", URL: "https://api.tracebloc.io/device/token", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	upgrade  = &api.UpgradeRequiredError{Endpoint: "/device/token", MinVersion: "2.0.0"}
)

// harness is a Flow over the fakes, driven by a fake clock.
type harness struct {
	clock   *testingclock.FakeClock
	j       *journal
	backend *fakeBackend
	store   *fakeStore
	flow    *Flow
	logs    *bytes.Buffer
}

func newHarness(codes, polls []answer, stored *Pending) *harness {
	clk := testingclock.NewFakeClock(start)
	j := &journal{clock: clk}
	h := &harness{
		clock:   clk,
		j:       j,
		backend: &fakeBackend{j: j, codes: codes, polls: polls},
		store:   &fakeStore{j: j, pending: stored},
		logs:    &bytes.Buffer{},
	}
	h.flow = &Flow{
		Backend: h.backend,
		Store:   h.store,
		Clock:   clk,
		Show:    func(ctx context.Context, p Pending) { j.add("show %s", p.Code.UserCode) },
		Jitter:  func() float64 { return 0 },
		Log:     zerolog.New(h.logs).Level(zerolog.DebugLevel),
	}
	return h
}

// run calls Run and moves the fake clock one second at a time whenever the flow waits on
// it, until Run returns.
func (h *harness) run(t *testing.T, ctx context.Context) (string, error) {
	t.Helper()
	type result struct {
		token string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		token, err := h.flow.Run(ctx)
		done <- result{token, err}
	}()
	hang := time.After(2 * time.Minute) // a guard against a hung flow, not a timing assertion
	for {
		select {
		case r := <-done:
			return r.token, r.err
		case <-hang:
			t.Fatalf("Run did not return; journal so far:\n%s", strings.Join(h.j.get(), "\n"))
		default:
		}
		switch {
		case h.clock.Since(start) > 24*time.Hour:
			t.Fatalf("Run still waits after a day of fake time; journal:\n%s", strings.Join(h.j.get(), "\n"))
		case h.clock.HasWaiters():
			h.clock.Step(time.Second)
		default:
			runtime.Gosched()
		}
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		stored    *Pending
		codes     []answer
		polls     []answer
		noStore   bool
		saveErr   error
		want      []string
		wantToken string
		wantErr   func(error) bool
	}{
		{
			name:  "approved after pending polls",
			codes: []answer{{code: code(1, 900, 5)}},
			polls: []answer{pending, pending, approved},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "10s poll dc-secret-1", "15s poll dc-secret-1", "15s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "the backend's interval is used",
			codes: []answer{{code: code(1, 900, 7)}},
			polls: []answer{pending, approved},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=7s", "0s show USER-0001",
				"7s poll dc-secret-1", "14s poll dc-secret-1", "14s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "interval 0 means 5 s",
			codes: []answer{{code: code(1, 900, 0)}},
			polls: []answer{pending, approved},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "10s poll dc-secret-1", "10s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "slow_down adds 5 s for good, and is stored",
			codes: []answer{{code: code(1, 900, 5)}},
			polls: []answer{pending, slowDown, pending, pending, slowDown, approved},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1",
				"10s poll dc-secret-1", "10s save dc-secret-1 interval=10s",
				"20s poll dc-secret-1", "30s poll dc-secret-1",
				"40s poll dc-secret-1", "40s save dc-secret-1 interval=15s",
				"55s poll dc-secret-1", "55s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "expired_token starts over with a new code and a new banner",
			codes: []answer{{code: code(1, 900, 5)}, {code: code(2, 900, 5)}},
			polls: []answer{pending, expired, approved},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "10s poll dc-secret-1",
				"10s code", "10s save dc-secret-2 interval=5s", "10s show USER-0002",
				"15s poll dc-secret-2", "15s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "a code past its lifetime is replaced without waiting for the backend",
			codes: []answer{{code: code(1, 12, 5)}, {code: code(2, 900, 5)}},
			polls: []answer{pending, pending, approved},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "10s poll dc-secret-1",
				"12s code", "12s save dc-secret-2 interval=5s", "12s show USER-0002",
				"17s poll dc-secret-2", "17s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "access_denied clears the code and stops",
			codes: []answer{{code: code(1, 900, 5)}},
			polls: []answer{pending, denied},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "10s poll dc-secret-1", "10s clear",
			},
			wantErr: func(err error) bool { return errors.Is(err, ErrDenied) && errors.Is(err, api.ErrAccessDenied) },
		},
		{
			name:  "5xx, network errors and 429 back off, then polling goes on at the interval",
			codes: []answer{{code: code(1, 900, 5)}},
			polls: []answer{
				{err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 503}}, // backoff 10 s
				{err: netErr}, // 20 s
				{err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 429, RetryAfter: 45 * time.Second}}, // 30 s capped, Retry-After 45 s wins
				{err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 502}},                               // 30 s, the cap
				pending, // the interval again
				approved,
			},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "15s poll dc-secret-1", "35s poll dc-secret-1", "1m20s poll dc-secret-1",
				"1m50s poll dc-secret-1", "1m55s poll dc-secret-1", "1m55s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "backoff never waits past the code's expiry",
			codes: []answer{{code: code(1, 30, 5)}, {code: code(2, 900, 5)}},
			polls: []answer{
				pending, // 5 s
				{err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 500}}, // 10 s
				{err: netErr}, // 20 s, but the code expires at 30 s
				approved,
			},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "10s poll dc-secret-1", "20s poll dc-secret-1",
				"30s code", "30s save dc-secret-2 interval=5s", "30s show USER-0002",
				"35s poll dc-secret-2", "35s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "a backend that fails every poll of a code's lifetime ends the run",
			codes: []answer{{code: code(1, 30, 5)}, {code: code(2, 900, 5)}},
			polls: []answer{
				{err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 500}}, // 10 s
				{err: netErr}, // 20 s, but the code expires at 30 s
				approved,
			},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "15s poll dc-secret-1",
			},
			wantErr: func(err error) bool {
				return errors.Is(err, ErrUnreachable) && strings.Contains(err.Error(), "reachable") && !strings.Contains(err.Error(), "dc-secret")
			},
		},
		{
			name: "transient errors of POST /device/code are retried",
			codes: []answer{
				{err: &api.APIError{Method: "POST", Endpoint: "/device/code", Status: 503}}, // 1 s
				{err: netErr}, // 2 s
				{code: code(1, 900, 5)},
			},
			polls: []answer{approved},
			want: []string{
				"0s code", "1s code", "3s code", "3s save dc-secret-1 interval=5s", "3s show USER-0001",
				"8s poll dc-secret-1", "8s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "426 on POST /device/token passes through unchanged",
			codes: []answer{{code: code(1, 900, 5)}},
			polls: []answer{{err: upgrade}},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001", "5s poll dc-secret-1",
			},
			wantErr: func(err error) bool { return err == error(upgrade) },
		},
		{
			name:    "426 on POST /device/code passes through unchanged",
			codes:   []answer{{err: upgrade}},
			want:    []string{"0s code"},
			wantErr: func(err error) bool { return err == error(upgrade) },
		},
		{
			name:  "a permanent 4xx stops, wrapped",
			codes: []answer{{code: code(1, 900, 5)}},
			polls: []answer{{err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 400, Code: "invalid_request"}}},
			want: []string{
				"0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001", "5s poll dc-secret-1",
			},
			wantErr: func(err error) bool {
				var e *api.APIError
				return errors.As(err, &e) && e.Code == "invalid_request" && strings.HasPrefix(err.Error(), "ask whether the activation code was approved: ")
			},
		},
		{
			name:    "a permanent 4xx of POST /device/code stops, wrapped",
			codes:   []answer{{err: &api.APIError{Method: "POST", Endpoint: "/device/code", Status: 403}}},
			want:    []string{"0s code"},
			wantErr: func(err error) bool { return errors.Is(err, api.ErrForbidden) },
		},
		{
			name:   "a stored code that has not expired is shown again and polled",
			stored: &Pending{Code: *code(9, 900, 5), IssuedAt: start.Add(-100 * time.Second), Interval: 10 * time.Second},
			polls:  []answer{pending, approved},
			want: []string{
				"0s show USER-0009", "10s poll dc-secret-9", "20s poll dc-secret-9", "20s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:   "a stored code that expired is cleared and replaced",
			stored: &Pending{Code: *code(9, 900, 5), IssuedAt: start.Add(-900 * time.Second), Interval: 5 * time.Second},
			codes:  []answer{{code: code(1, 900, 5)}},
			polls:  []answer{approved},
			want: []string{
				"0s clear", "0s code", "0s save dc-secret-1 interval=5s", "0s show USER-0001",
				"5s poll dc-secret-1", "5s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:   "a stored code the backend no longer knows is replaced",
			stored: &Pending{Code: *code(9, 900, 5), IssuedAt: start.Add(-100 * time.Second), Interval: 5 * time.Second},
			codes:  []answer{{code: code(1, 900, 5)}},
			polls:  []answer{{err: deviceErr("invalid_grant")}, approved},
			want: []string{
				"0s show USER-0009", "5s poll dc-secret-9",
				"5s code", "5s save dc-secret-1 interval=5s", "5s show USER-0001",
				"10s poll dc-secret-1", "10s clear",
			},
			wantToken: "tok-secret",
		},
		{
			name:      "without a store nothing is kept",
			noStore:   true,
			codes:     []answer{{code: code(1, 900, 5)}},
			polls:     []answer{approved},
			want:      []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:    "a code that cannot be stored is not shown",
			codes:   []answer{{code: code(1, 900, 5)}},
			saveErr: errors.New("secrets \"edge-credentials\" is forbidden"),
			want:    []string{"0s code", "0s save dc-secret-1 interval=5s"},
			wantErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "is forbidden") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(tt.codes, tt.polls, tt.stored)
			h.store.saveErr = tt.saveErr
			if tt.noStore {
				h.flow.Store = nil
			}
			token, err := h.run(t, t.Context())
			if diff := cmp.Diff(tt.want, h.j.get()); diff != "" {
				t.Errorf("Run() calls (-want +got):\n%s", diff)
			}
			if token != tt.wantToken {
				t.Errorf("Run() token = %q, want %q", token, tt.wantToken)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("Run() error = %v, want none", err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Errorf("Run() error = %v (%T), not the one wanted", err, err)
			}
		})
	}
}

// TestRunSlowDownSurvivesRestart: the interval a slow_down raised is stored, and a restart
// polls at that interval.
func TestRunSlowDownSurvivesRestart(t *testing.T) {
	h := newHarness([]answer{{code: code(1, 900, 5)}}, []answer{slowDown}, nil)
	if _, err := h.run(t, t.Context()); !errors.Is(err, errScriptEnd) {
		t.Fatalf("Run() = %v, want the end of the script", err)
	}
	stored := h.store.pending
	if stored == nil || stored.Interval != 10*time.Second {
		t.Fatalf("stored Pending = %+v, want interval 10s", stored)
	}

	restarted := newHarness(nil, []answer{approved}, stored)
	restarted.clock.SetTime(start.Add(time.Minute))
	if _, err := restarted.run(t, t.Context()); err != nil {
		t.Fatalf("Run() after restart = %v", err)
	}
	want := []string{"1m0s show USER-0001", "1m10s poll dc-secret-1", "1m10s clear"}
	if diff := cmp.Diff(want, restarted.j.get()); diff != "" {
		t.Errorf("Run() after restart (-want +got):\n%s", diff)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	h := newHarness([]answer{{code: code(1, 900, 5)}}, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := h.flow.Run(ctx)
		done <- err
	}()
	for !h.clock.HasWaiters() {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
	if got := h.j.get(); len(got) != 3 {
		t.Errorf("Run() calls = %q, want code, save and show only", got)
	}
}

// TestRunLogsNoSecrets runs a flow through every kind of answer at debug level and scans
// the log for the device codes and the token, including an error text that echoes the
// device code.
func TestRunLogsNoSecrets(t *testing.T) {
	echo := &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 502,
		Body: api.ErrorBody{Detail: "upstream failed for device_code=dc-secret-1"}}
	h := newHarness(
		[]answer{{code: code(1, 900, 5)}, {code: code(2, 900, 5)}},
		[]answer{pending, slowDown, {err: echo}, {err: netErr}, expired, approved},
		nil,
	)
	token, err := h.run(t, t.Context())
	if err != nil || token != "tok-secret" {
		t.Fatalf("Run() = %q, %v, want the token", token, err)
	}
	logs := h.logs.String()
	for _, secret := range []string{"dc-secret-1", "dc-secret-2", "tok-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{"USER-0001", "USER-0002", `"level":"warn"`, "upstream failed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name   string
		base   time.Duration
		n      int
		jitter float64
		err    error
		want   time.Duration
	}{
		{name: "first", base: time.Second, n: 0, want: time.Second},
		{name: "doubles", base: time.Second, n: 3, want: 8 * time.Second},
		{name: "capped", base: time.Second, n: 10, want: 30 * time.Second},
		{name: "huge n", base: time.Second, n: 200, want: 30 * time.Second},
		{name: "jitter takes up to half", base: 5 * time.Second, n: 1, jitter: 0.5, want: 7500 * time.Millisecond},
		{name: "jitter on the cap", base: 5 * time.Second, n: 5, jitter: 0.999, want: 15015 * time.Millisecond},
		{name: "Retry-After wins when longer", base: time.Second, n: 0,
			err: &api.APIError{Status: 429, RetryAfter: 2 * time.Minute}, want: 2 * time.Minute},
		{name: "Retry-After shorter than the backoff", base: time.Second, n: 4,
			err: &api.APIError{Status: 429, RetryAfter: time.Second}, want: 16 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runner{Flow{Jitter: func() float64 { return tt.jitter }}}
			r.defaults()
			if got := r.backoff(tt.base, tt.n, tt.err); got != tt.want {
				t.Errorf("backoff(%v, %d) with jitter %v = %v, want %v", tt.base, tt.n, tt.jitter, got, tt.want)
			}
		})
	}
}

// clientTimeout is what net/http wraps in a *url.Error when http.Client.Timeout fires.
type clientTimeout struct{}

func (clientTimeout) Error() string   { return "Client.Timeout exceeded while awaiting headers" }
func (clientTimeout) Timeout() bool   { return true }
func (clientTimeout) Temporary() bool { return true }

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "network", err: netErr, want: true},
		{name: "500", err: &api.APIError{Status: 500}, want: true},
		{name: "503", err: &api.APIError{Status: 503}, want: true},
		{name: "429", err: &api.APIError{Status: 429}, want: true},
		{name: "408", err: &api.APIError{Status: 408}, want: true},
		{name: "400", err: &api.APIError{Status: 400}, want: false},
		{name: "401", err: &api.APIError{Status: 401}, want: false},
		{name: "426", err: upgrade, want: false},
		{name: "wrapped 426", err: fmt.Errorf("x: %w", upgrade), want: false},
		{name: "undecodable 200", err: &api.DecodeError{Endpoint: "/device/code", Status: 200, Err: errors.New("bad")}, want: false},
		{name: "undecodable 502", err: &api.DecodeError{Endpoint: "/device/code", Status: 502, Err: errors.New("bad")}, want: true},
		{name: "canceled", err: fmt.Errorf("x: %w", context.Canceled), want: false},
		{name: "the run's deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), want: false},
		{name: "the HTTP client's timeout", err: &url.Error{Op: "Post", URL: "http://127.0.0.1/device/token", Err: clientTimeout{}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transient(tt.err); got != tt.want {
				t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
