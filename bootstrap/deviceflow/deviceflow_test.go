package deviceflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"slices"
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
// to the backend and to Show.
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

func (j *journal) String() string { return strings.Join(j.get(), "\n") }

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
	base  string // BaseURL; default https://api.tracebloc.io
	mu    sync.Mutex
	codes []answer
	polls []answer
}

func (b *fakeBackend) BaseURL() *url.URL {
	base := b.base
	if base == "" {
		base = "https://api.tracebloc.io"
	}
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	return u
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
	flow    *Flow
	logs    *bytes.Buffer
}

func newHarness(codes, polls []answer) *harness {
	clk := testingclock.NewFakeClock(start)
	j := &journal{clock: clk}
	h := &harness{
		clock:   clk,
		j:       j,
		backend: &fakeBackend{j: j, codes: codes, polls: polls},
		logs:    &bytes.Buffer{},
	}
	h.flow = &Flow{
		Backend: h.backend,
		Clock:   clk,
		Show: func(ctx context.Context, p Pending) {
			j.add("show %s", p.Code.UserCode)
			if p.Code.DeviceCode != "" {
				j.add("show got the device code")
			}
		},
		Jitter: func() float64 { return 0 },
		Log:    zerolog.New(h.logs).Level(zerolog.DebugLevel),
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
	const huge = 1 << 62 // seconds: a time.Duration of it overflows
	tests := []struct {
		name      string
		codes     []answer
		polls     []answer
		want      []string
		wantToken string
		wantErr   func(error) bool
	}{
		{
			name:      "approved after pending polls",
			codes:     []answer{{code: code(1, 900, 5)}},
			polls:     []answer{pending, pending, approved},
			want:      []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1", "10s poll dc-secret-1", "15s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:      "the backend's interval is used",
			codes:     []answer{{code: code(1, 900, 7)}},
			polls:     []answer{pending, approved},
			want:      []string{"0s code", "0s show USER-0001", "7s poll dc-secret-1", "14s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:      "interval 0 means 5 s",
			codes:     []answer{{code: code(1, 900, 0)}},
			polls:     []answer{pending, approved},
			want:      []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1", "10s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:      "a negative interval means 5 s",
			codes:     []answer{{code: code(1, 900, -3)}},
			polls:     []answer{approved},
			want:      []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:      "an interval too long for a duration is read as a minute",
			codes:     []answer{{code: code(1, 900, huge)}},
			polls:     []answer{pending, approved},
			want:      []string{"0s code", "0s show USER-0001", "1m0s poll dc-secret-1", "2m0s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:      "an interval of an hour is read as a minute",
			codes:     []answer{{code: code(1, 900, 3600)}},
			polls:     []answer{approved},
			want:      []string{"0s code", "0s show USER-0001", "1m0s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:      "an expires_in too long for a duration is read as an hour",
			codes:     []answer{{code: code(1, huge, 5)}},
			polls:     []answer{pending, approved},
			want:      []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1", "10s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:  "an expires_in of a day is read as an hour",
			codes: []answer{{code: code(1, 86400, 60)}, {code: code(2, 900, 5)}},
			polls: slices.Repeat([]answer{pending}, 59),
			want: append(append([]string{"0s code", "0s show USER-0001"}, everyMinute(1, 59, "poll dc-secret-1")...),
				"1h0m0s code", "1h0m0s show USER-0002", "1h0m5s poll dc-secret-2"),
			wantErr: func(err error) bool { return errors.Is(err, errScriptEnd) },
		},
		{
			name:  "an expires_in of 2 s is read as a minute",
			codes: []answer{{code: code(1, 2, 30)}, {code: code(2, 900, 5)}},
			polls: []answer{pending, approved},
			want: []string{"0s code", "0s show USER-0001", "30s poll dc-secret-1",
				"1m0s code", "1m0s show USER-0002", "1m5s poll dc-secret-2"},
			wantToken: "tok-secret",
		},
		{
			name:  "slow_down adds 5 s for good",
			codes: []answer{{code: code(1, 900, 5)}},
			polls: []answer{pending, slowDown, pending, pending, slowDown, approved},
			want: []string{
				"0s code", "0s show USER-0001", "5s poll dc-secret-1",
				"10s poll dc-secret-1", "20s poll dc-secret-1", "30s poll dc-secret-1",
				"40s poll dc-secret-1", "55s poll dc-secret-1",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "slow_down raises the interval up to a minute",
			codes: []answer{{code: code(1, 900, 55)}},
			polls: []answer{slowDown, slowDown, approved},
			want: []string{
				"0s code", "0s show USER-0001", "55s poll dc-secret-1",
				"1m55s poll dc-secret-1", "2m55s poll dc-secret-1",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "expired_token starts over with a new code and a new banner, a minute after the first",
			codes: []answer{{code: code(1, 900, 5)}, {code: code(2, 900, 5)}},
			polls: []answer{pending, expired, approved},
			want: []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1", "10s poll dc-secret-1",
				"1m0s code", "1m0s show USER-0002", "1m5s poll dc-secret-2"},
			wantToken: "tok-secret",
		},
		{
			name:  "a backend that calls every code expired gets a new request once a minute",
			codes: []answer{{code: code(1, 900, 5)}, {code: code(2, 900, 5)}, {code: code(3, 900, 5)}},
			polls: []answer{expired, expired, expired},
			want: []string{
				"0s code", "0s show USER-0001", "5s poll dc-secret-1",
				"1m0s code", "1m0s show USER-0002", "1m5s poll dc-secret-2",
				"2m0s code", "2m0s show USER-0003", "2m5s poll dc-secret-3",
				"3m0s code",
			},
			wantErr: func(err error) bool { return errors.Is(err, errScriptEnd) },
		},
		{
			name:  "a code past its lifetime is replaced without waiting for the backend",
			codes: []answer{{code: code(1, 62, 30)}, {code: code(2, 900, 5)}},
			polls: []answer{pending, pending, approved},
			want: []string{
				"0s code", "0s show USER-0001", "30s poll dc-secret-1", "1m0s poll dc-secret-1",
				"1m2s code", "1m2s show USER-0002", "1m7s poll dc-secret-2",
			},
			wantToken: "tok-secret",
		},
		{
			name:    "access_denied stops",
			codes:   []answer{{code: code(1, 900, 5)}},
			polls:   []answer{pending, denied},
			want:    []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1", "10s poll dc-secret-1"},
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
				"0s code", "0s show USER-0001",
				"5s poll dc-secret-1", "15s poll dc-secret-1", "35s poll dc-secret-1", "1m20s poll dc-secret-1",
				"1m50s poll dc-secret-1", "1m55s poll dc-secret-1",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "a Retry-After of days on POST /device/code waits the cap",
			codes: []answer{{err: &api.APIError{Method: "POST", Endpoint: "/device/code", Status: 429, RetryAfter: 72 * time.Hour}}, {code: code(1, 900, 5)}},
			polls: []answer{approved},
			want:  []string{"0s code", "10m0s code", "10m0s show USER-0001", "10m5s poll dc-secret-1"},

			wantToken: "tok-secret",
		},
		{
			name:  "a Retry-After of days on a poll never waits past the code's expiry",
			codes: []answer{{code: code(1, 120, 5)}, {code: code(2, 900, 5)}},
			polls: []answer{pending, {err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 429, RetryAfter: 72 * time.Hour}}, approved},
			want: []string{
				"0s code", "0s show USER-0001", "5s poll dc-secret-1", "10s poll dc-secret-1",
				"2m0s code", "2m0s show USER-0002", "2m5s poll dc-secret-2",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "backoff never waits past the code's expiry",
			codes: []answer{{code: code(1, 60, 5)}, {code: code(2, 900, 5)}},
			polls: []answer{
				pending, // 5 s
				{err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 500}}, // 10 s
				{err: netErr}, // 20 s
				{err: netErr}, // 30 s capped, but the code expires at 60 s
				approved,
			},
			want: []string{
				"0s code", "0s show USER-0001",
				"5s poll dc-secret-1", "10s poll dc-secret-1", "20s poll dc-secret-1", "40s poll dc-secret-1",
				"1m0s code", "1m0s show USER-0002", "1m5s poll dc-secret-2",
			},
			wantToken: "tok-secret",
		},
		{
			name:  "a backend that fails every poll of a code's lifetime ends the run",
			codes: []answer{{code: code(1, 60, 5)}, {code: code(2, 900, 5)}},
			polls: []answer{
				{err: &api.APIError{Method: "POST", Endpoint: "/device/token", Status: 500}}, // 10 s
				{err: netErr}, // 20 s
				{err: netErr}, // 30 s, but the code expires at 60 s
				approved,
			},
			want: []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1", "15s poll dc-secret-1", "35s poll dc-secret-1"},
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
			polls:     []answer{approved},
			want:      []string{"0s code", "1s code", "3s code", "3s show USER-0001", "8s poll dc-secret-1"},
			wantToken: "tok-secret",
		},
		{
			name:    "426 on POST /device/token passes through unchanged",
			codes:   []answer{{code: code(1, 900, 5)}},
			polls:   []answer{{err: upgrade}},
			want:    []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1"},
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
			want:  []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1"},
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
			name:    "a redirect of POST /device/code stops",
			codes:   []answer{{err: &api.APIError{Method: "POST", Endpoint: "/device/code", Status: 307, Location: "https://elsewhere.example"}}},
			want:    []string{"0s code"},
			wantErr: func(err error) bool { return errors.Is(err, api.ErrRedirect) },
		},
		{
			name: "a link off the backend's domain is never shown",
			codes: []answer{{code: func() *api.DeviceCode {
				c := code(1, 900, 5)
				c.VerificationURIComplete = "https://tracebloc.io.login-check.example/activate?user_code=USER-0001"
				return c
			}()}},
			want: []string{"0s code"},
			wantErr: func(err error) bool {
				return errors.Is(err, ErrUntrustedLink) && strings.Contains(err.Error(), "tracebloc.io.login-check.example") &&
					strings.Contains(err.Error(), "TRACEBLOC_VERIFICATION_HOSTS")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(tt.codes, tt.polls)
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

// every returns "<t> what" for t = from, from+step, ... below to, in seconds.
func every(from, step, to int, what string) []string {
	var out []string
	for s := from; s < to; s += step {
		out = append(out, fmt.Sprintf("%v %s", time.Duration(s)*time.Second, what))
	}
	return out
}

// everyMinute returns "<n>m0s what" for n = from..to.
func everyMinute(from, to int, what string) []string { return every(60*from, 60, 60*to+1, what) }

// TestRunNeverReusesACode: nothing of a code outlives its Run: a restarted bootstrap (a
// second Run) shows a new code and never polls the one shown before.
func TestRunNeverReusesACode(t *testing.T) {
	h := newHarness([]answer{{code: code(1, 900, 5)}, {code: code(2, 900, 5)}}, []answer{pending, approved})
	h.endAfterTheFirstPoll(t) // the pod restarts: a new process, a new Flow with nothing of the old one
	restarted := *h.flow
	restarted.current = nil
	h.flow = &restarted
	token, err := h.run(t, t.Context())
	if err != nil || token != "tok-secret" {
		t.Fatalf("Run() after the restart = %q, %v; want the token", token, err)
	}
	want := []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1", "5s code", "5s show USER-0002", "10s poll dc-secret-2"}
	if diff := cmp.Diff(want, h.j.get()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(h.logs.String(), "a restart of the pod shows a new code") {
		t.Errorf("the log does not say that a restart shows a new code:\n%s", h.logs.String())
	}
}

// endAfterTheFirstPoll runs the flow until it has requested, shown and polled a code once,
// then ends its context, as a restart or a lost Lease does.
func (h *harness) endAfterTheFirstPoll(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := h.flow.Run(ctx)
		done <- err
	}()
	for len(h.j.get()) < 3 { // code, show, the first poll
		if h.clock.HasWaiters() {
			h.clock.Step(time.Second)
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v, want context.Canceled", err)
	}
}

// TestRunAgainPollsTheSameCode: a Run that ended with its context (the bootstrap lost its
// Lease) and is called again on the same Flow polls the code already shown, so that a
// person who approved it meanwhile need not approve a second code.
func TestRunAgainPollsTheSameCode(t *testing.T) {
	h := newHarness([]answer{{code: code(1, 900, 5)}, {code: code(2, 900, 5)}}, []answer{pending, approved})
	h.endAfterTheFirstPoll(t) // the Lease is lost
	token, err := h.run(t, t.Context())
	if err != nil || token != "tok-secret" {
		t.Fatalf("Run() again = %q, %v; want the token", token, err)
	}
	want := []string{"0s code", "0s show USER-0001", "5s poll dc-secret-1", "10s poll dc-secret-1"}
	if diff := cmp.Diff(want, h.j.get()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if h.flow.current != nil {
		t.Errorf("the approved code is still kept for another Run")
	}
}

func TestRunStopsWithContext(t *testing.T) {
	h := newHarness([]answer{{code: code(1, 900, 5)}}, nil)
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
	if diff := cmp.Diff([]string{"0s code", "0s show USER-0001"}, h.j.get()); diff != "" {
		t.Errorf("Run() calls (-want +got):\n%s", diff)
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
	if strings.Contains(h.j.String(), "show got the device code") {
		t.Errorf("Show got the device code:\n%s", h.j.String())
	}
}

// TestRunCleansWhatIsShown: terminal escapes and format characters in the code and the
// links never reach Show or the log.
func TestRunCleansWhatIsShown(t *testing.T) {
	dc := code(1, 900, 5)
	dc.UserCode = "\x1b[2J\x1b]0;owned\x07USER\u202e-0001\u200b"
	dc.VerificationURIComplete = "https://app.tracebloc.io/activate?user_code=USER-0001\u2066&x=\u202e"
	h := newHarness([]answer{{code: dc}}, []answer{approved})
	var shown Pending
	h.flow.Show = func(ctx context.Context, p Pending) { shown = p }
	if _, err := h.run(t, t.Context()); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if shown.Code.UserCode != "USER-0001" || shown.Code.VerificationURIComplete != "https://app.tracebloc.io/activate?user_code=USER-0001&x=" {
		t.Errorf("Show got %q and %q, want them cleaned", shown.Code.UserCode, shown.Code.VerificationURIComplete)
	}
	if logs := h.logs.String(); strings.ContainsAny(logs, "\u202e\u2066\u200b") || strings.Contains(logs, `\u001b`) {
		t.Errorf("the log holds a control or format character:\n%s", logs)
	}
}

// TestRunWarnsAboutHTTP: an http:// backend gets one warning at the start of the run.
func TestRunWarnsAboutHTTP(t *testing.T) {
	for _, base := range []string{"https://api.tracebloc.io", "http://127.0.0.1:8000"} {
		t.Run(base, func(t *testing.T) {
			h := newHarness([]answer{{code: code(1, 900, 5)}}, []answer{pending, approved})
			h.backend.base = base
			if _, err := h.run(t, t.Context()); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			want := 0
			if strings.HasPrefix(base, "http:") {
				want = 1
			}
			if got := strings.Count(h.logs.String(), "unencrypted"); got != want {
				t.Errorf("warnings about http = %d, want %d:\n%s", got, want, h.logs.String())
			}
		})
	}
}

// TestCheckLink: which verification URLs are shown, for which backend.
func TestCheckLink(t *testing.T) {
	tests := []struct {
		name    string
		backend string
		allowed []string
		link    string
		wantErr string // a part of the error; "" means accepted
	}{
		{name: "a subdomain of the backend's domain", backend: "https://api.tracebloc.io", link: "https://app.tracebloc.io/activate"},
		{name: "the domain itself", backend: "https://api.tracebloc.io", link: "https://tracebloc.io/activate?code=X"},
		{name: "the backend's host", backend: "https://api.tracebloc.io", link: "https://api.tracebloc.io/activate"},
		{name: "another port", backend: "https://api.tracebloc.io", link: "https://app.tracebloc.io:8443/activate"},
		{name: "case and a trailing dot", backend: "https://API.Tracebloc.io", link: "https://App.TRACEBLOC.io./activate"},
		{name: "a two-label public suffix", backend: "https://api.tracebloc.co.uk", link: "https://app.tracebloc.co.uk/activate"},
		{name: "another domain under the same suffix", backend: "https://api.tracebloc.co.uk", link: "https://tracebloc-login.co.uk/activate", wantErr: "tracebloc-login.co.uk"},
		{name: "http", backend: "https://api.tracebloc.io", link: "http://app.tracebloc.io/activate", wantErr: "not an https:// address"},
		{name: "no scheme", backend: "https://api.tracebloc.io", link: "app.tracebloc.io/activate", wantErr: "not an https:// address"},
		{name: "javascript", backend: "https://api.tracebloc.io", link: "javascript:alert(1)", wantErr: "not an https:// address"},
		{name: "the domain as a prefix", backend: "https://api.tracebloc.io", link: "https://app.tracebloc.io.evil.example/activate", wantErr: "app.tracebloc.io.evil.example"},
		{name: "the domain as a suffix of a label", backend: "https://api.tracebloc.io", link: "https://eviltracebloc.io/activate", wantErr: "eviltracebloc.io"},
		{name: "user info before the host", backend: "https://api.tracebloc.io", link: "https://app.tracebloc.io@evil.example/activate", wantErr: "not an https:// address"},
		{name: "a look-alike in punycode", backend: "https://api.tracebloc.io", link: "https://app.xn--trcebloc-2ya.io/activate", wantErr: "xn--trcebloc-2ya.io"},
		{name: "a look-alike in Unicode", backend: "https://api.tracebloc.io", link: "https://app.tracebłoc.io/activate", wantErr: "TRACEBLOC_VERIFICATION_HOSTS"},
		{name: "an allowed host", backend: "https://api.tracebloc.io", allowed: []string{"login.example.com"}, link: "https://login.example.com/device"},
		{name: "an allowed host, another case", backend: "https://api.tracebloc.io", allowed: []string{"login.example.com"}, link: "https://LOGIN.example.com./device"},
		{name: "only the allowed host, not its subdomains", backend: "https://api.tracebloc.io", allowed: []string{"example.com"}, link: "https://login.example.com/device", wantErr: "login.example.com"},
		{name: "an allowed host still needs https", backend: "https://api.tracebloc.io", allowed: []string{"login.example.com"}, link: "http://login.example.com/device", wantErr: "not an https:// address"},
		{name: "an IP backend: its own host", backend: "https://10.0.0.5:8443", link: "https://10.0.0.5:8443/activate"},
		{name: "an IP backend: another IP", backend: "https://10.0.0.5:8443", link: "https://10.0.0.6/activate", wantErr: "10.0.0.6"},
		{name: "an http backend off loopback is checked", backend: "http://10.0.0.5:8000", link: "http://10.0.0.5:8000/activate", wantErr: "not an https:// address"},
		{name: "an http backend on loopback: a development backend", backend: "http://127.0.0.1:8000", link: "http://127.0.0.1:8000/activate"},
		{name: "an http backend on localhost", backend: "http://localhost:8000", link: "http://localhost:3000/activate"},
		{name: "an https backend on loopback is checked", backend: "https://127.0.0.1:8443", link: "https://evil.example/activate", wantErr: "evil.example"},
		{name: "too long", backend: "https://api.tracebloc.io", link: "https://app.tracebloc.io/" + strings.Repeat("a", 2000), wantErr: "longer than 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runner{Flow{Backend: &fakeBackend{base: tt.backend}, AllowedHosts: tt.allowed}}
			err := r.checkLink(tt.link)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("checkLink(%q) for %s = %v, want accepted", tt.link, tt.backend, err)
				}
				return
			}
			if !errors.Is(err, ErrUntrustedLink) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("checkLink(%q) for %s = %v, want ErrUntrustedLink naming %q", tt.link, tt.backend, err, tt.wantErr)
			}
		})
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
