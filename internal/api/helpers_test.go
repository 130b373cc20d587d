package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// newTestClient starts handler on a loopback httptest server and returns a client of it
// that never really sleeps (sleeps are recorded in the returned *sleeps).
func newTestClient(t testing.TB, handler http.Handler, opts ...Option) (*Client, *httptest.Server, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	s := &sleeps{}
	all := append([]Option{WithHTTPClient(srv.Client()), WithClock(s)}, opts...)
	c, err := New(srv.URL, all...)
	if err != nil {
		t.Fatalf("New(%q) = %v", srv.URL, err)
	}
	return c, srv, s
}

// sleeps is the client's clock in tests: it records every wait asked for and lets it end at
// once (or calls onWait first, which may end the caller's context), and its Now is fixed
// when now is set.
type sleeps struct {
	clock.RealClock // the methods the client does not use
	mu              sync.Mutex
	waits           []time.Duration
	now             time.Time
	onWait          func()
}

func (s *sleeps) Now() time.Time {
	if s.now.IsZero() {
		return time.Now()
	}
	return s.now
}

func (s *sleeps) NewTimer(d time.Duration) clock.Timer {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	onWait := s.onWait
	s.mu.Unlock()
	t := &firedTimer{c: make(chan time.Time, 1)}
	if onWait != nil {
		onWait() // the wait is ended by the caller's context instead
		return t
	}
	t.c <- s.Now()
	return t
}

// firedTimer is a clock.Timer whose channel holds what NewTimer put there.
type firedTimer struct{ c chan time.Time }

func (t *firedTimer) C() <-chan time.Time        { return t.c }
func (t *firedTimer) Stop() bool                 { return false }
func (t *firedTimer) Reset(d time.Duration) bool { return false }

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// endpointCall is one method of the client with the request it sends.
type endpointCall struct {
	name   string
	method string
	path   string
	call   func(ctx context.Context, c *Client) (any, error)
}

// endpointCalls lists every call of the contract, with id 7 where a path takes one.
func endpointCalls() []endpointCall {
	return []endpointCall{
		{"RequestDeviceCode", "POST", "/device/code", func(ctx context.Context, c *Client) (any, error) {
			return c.RequestDeviceCode(ctx, nil)
		}},
		{"PollDeviceToken", "POST", "/device/token", func(ctx context.Context, c *Client) (any, error) {
			return c.PollDeviceToken(ctx, "DEVICE-CODE")
		}},
		{"UserInfo", "GET", "/userinfo/", func(ctx context.Context, c *Client) (any, error) {
			return c.UserInfo(ctx)
		}},
		{"RevokeToken", "POST", "/auth/revoke", func(ctx context.Context, c *Client) (any, error) {
			return struct{}{}, c.RevokeToken(ctx)
		}},
		{"CreateEdgeDevice", "POST", "/edge-device/", func(ctx context.Context, c *Client) (any, error) {
			dev, _, err := c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "n", Namespace: "ns", Password: "pw"})
			return dev, err
		}},
		{"ListEdgeDevices", "GET", "/edge-device/", func(ctx context.Context, c *Client) (any, error) {
			return c.ListEdgeDevices(ctx)
		}},
		{"GetEdgeDevice", "GET", "/edge-device/7/", func(ctx context.Context, c *Client) (any, error) {
			return c.GetEdgeDevice(ctx, 7)
		}},
		{"PatchEdgeDevice", "PATCH", "/edge-device/7/", func(ctx context.Context, c *Client) (any, error) {
			return c.PatchEdgeDevice(ctx, 7, PatchRequest{ClusterID: "uid"})
		}},
		{"RevokeEdgeDevice", "POST", "/edge-device/7/revoke/", func(ctx context.Context, c *Client) (any, error) {
			return c.RevokeEdgeDevice(ctx, 7)
		}},
		{"Admins", "GET", "/edge-device/admins/", func(ctx context.Context, c *Client) (any, error) {
			return c.Admins(ctx)
		}},
		{"VerifyCredential", "POST", "/api-token-auth/", func(ctx context.Context, c *Client) (any, error) {
			return struct{}{}, c.VerifyCredential(ctx, "user", "pw")
		}},
		{"Heartbeat", "POST", "/edge-device/heartbeat/", func(ctx context.Context, c *Client) (any, error) {
			return c.Heartbeat(ctx, StatusOnline)
		}},
	}
}

// knownError reports whether err is one of the error kinds the package documents.
func knownError(err error) bool {
	var apiErr *APIError
	var upErr *UpgradeRequiredError
	var decErr *DecodeError
	return errors.As(err, &apiErr) || errors.As(err, &upErr) || errors.As(err, &decErr) ||
		errors.Is(err, ErrBadPagination) || errors.Is(err, ErrListTooLarge)
}
