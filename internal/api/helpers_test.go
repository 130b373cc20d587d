package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// newTestClient starts handler on a loopback httptest server and returns a client of it
// that never really sleeps (sleeps are recorded in the returned *sleeps).
func newTestClient(t testing.TB, handler http.Handler, opts ...Option) (*Client, *httptest.Server, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	s := &sleeps{}
	all := append([]Option{WithHTTPClient(srv.Client()), WithSleep(s.sleep)}, opts...)
	c, err := New(srv.URL, all...)
	if err != nil {
		t.Fatalf("New(%q) = %v", srv.URL, err)
	}
	return c, srv, s
}

// sleeps records the waits a client asked for instead of sleeping.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
	err   error // returned by every sleep when set (e.g. context.Canceled)
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	if s.err != nil {
		return s.err
	}
	return ctx.Err()
}

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
