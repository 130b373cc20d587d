package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Limits and defaults of a Client; each has an Option.
const (
	// MaxBodyBytes caps every answer read from the backend; a larger one is a *DecodeError.
	MaxBodyBytes = 4 << 20

	DefaultMaxRetries   = 3                // retries of a 429 answer
	DefaultMaxRetryWait = 60 * time.Second // longest single wait for a 429
	DefaultMaxPages     = 1000             // pages of GET /edge-device/ followed at most
	DefaultTimeout      = 30 * time.Second // of the default HTTP client
)

// Client speaks the tracebloc backend contract. A zero Token means unauthenticated calls
// only (device grant, api-token-auth).
type Client struct {
	base         *url.URL
	http         *http.Client
	token        string
	log          zerolog.Logger
	sleep        func(ctx context.Context, d time.Duration) error
	now          func() time.Time
	maxRetries   int
	maxRetryWait time.Duration
	maxPages     int
}

// Option configures a Client.
type Option func(*Client)

// New returns a client of the backend at baseURL (e.g. https://api.tracebloc.io). A path
// in baseURL (a reverse proxy's prefix) is kept in front of every contract path.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("backend URL %q: want http(s)://host[:port][/path], e.g. %s", baseURL, BaseURL("prod"))
	}
	c := &Client{
		base:         u,
		http:         &http.Client{Timeout: DefaultTimeout},
		log:          zerolog.Nop(),
		sleep:        sleepContext,
		now:          time.Now,
		maxRetries:   DefaultMaxRetries,
		maxRetryWait: DefaultMaxRetryWait,
		maxPages:     DefaultMaxPages,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// WithHTTPClient sets the HTTP client (see NewHTTPClient for proxy and CA handling).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithLogger logs one Debug line per HTTP exchange: method, path, status and duration,
// never a body, a header or a query.
func WithLogger(l *zerolog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = *l
		}
	}
}

// WithMaxRetries sets how often a 429 answer is retried (0: never).
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = max(n, 0) } }

// WithMaxRetryWait caps the wait before each retry of a 429 answer, whatever Retry-After asks.
func WithMaxRetryWait(d time.Duration) Option {
	return func(c *Client) { c.maxRetryWait = max(d, 0) }
}

// WithSleep replaces the wait between retries; sleep must return early with ctx.Err()
// when ctx ends. Tests pass a recording function so that nothing really sleeps.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// WithClock sets the clock that turns a Retry-After HTTP date into a wait.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithMaxPages sets how many pages ListEdgeDevices follows before it gives up.
func WithMaxPages(n int) Option { return func(c *Client) { c.maxPages = max(n, 1) } }

// WithToken returns a copy of c that sends Authorization: Bearer token.
func (c *Client) WithToken(token string) *Client { cp := *c; cp.token = token; return &cp }

// BaseURL returns the backend URL of env (dev, stg, prod; unknown or empty means prod).
func BaseURL(env string) string {
	switch env {
	case "dev":
		return "https://dev-api.tracebloc.io"
	case "stg":
		return "https://stg-api.tracebloc.io"
	}
	return "https://api.tracebloc.io"
}

// Contract paths; trailing slashes exactly as the backend routes them.
const (
	pathDeviceCode   = "/device/code"
	pathDeviceToken  = "/device/token"
	pathUserInfo     = "/userinfo/"
	pathAuthRevoke   = "/auth/revoke"
	pathEdgeDevices  = "/edge-device/"
	pathAdmins       = "/edge-device/admins/"
	pathAPITokenAuth = "/api-token-auth/"
)

func pathEdgeDevice(id int64) string       { return fmt.Sprintf("/edge-device/%d/", id) }
func pathEdgeDeviceRevoke(id int64) string { return fmt.Sprintf("/edge-device/%d/revoke/", id) }

// RequestDeviceCode starts the device authorization grant (POST /device/code). dctx, when
// not nil, is sent as the JSON body; nil sends no body.
func (c *Client) RequestDeviceCode(ctx context.Context, dctx *DeviceContext) (*DeviceCode, error) {
	var dc DeviceCode
	var in any
	if dctx != nil {
		in = dctx
	}
	if _, err := c.callJSON(ctx, http.MethodPost, pathDeviceCode, in, false, &dc); err != nil {
		return nil, err
	}
	if dc.DeviceCode == "" || dc.UserCode == "" || dc.VerificationURI == "" {
		return nil, &DecodeError{Endpoint: pathDeviceCode, Status: http.StatusOK,
			Err: errors.New("device_code, user_code or verification_uri missing")}
	}
	return &dc, nil
}

// PollDeviceToken asks once whether the human approved (POST /device/token). The pending
// and terminal answers are *APIError values matching ErrAuthorizationPending, ErrSlowDown,
// ErrExpiredToken and ErrAccessDenied; the poll loop is the caller's.
func (c *Client) PollDeviceToken(ctx context.Context, deviceCode string) (*Token, error) {
	var tok Token
	body := map[string]string{"device_code": deviceCode}
	if _, err := c.callJSON(ctx, http.MethodPost, pathDeviceToken, body, false, &tok); err != nil {
		return nil, err
	}
	if tok.Token == "" {
		return nil, &DecodeError{Endpoint: pathDeviceToken, Status: http.StatusOK, Err: errors.New("token missing")}
	}
	return &tok, nil
}

// UserInfo returns the signed-in user (GET /userinfo/).
func (c *Client) UserInfo(ctx context.Context) (*UserInfo, error) {
	var ui UserInfo
	if _, err := c.callJSON(ctx, http.MethodGet, pathUserInfo, nil, true, &ui); err != nil {
		return nil, err
	}
	return &ui, nil
}

// RevokeToken revokes the client's user token (POST /auth/revoke); revoking twice is fine.
func (c *Client) RevokeToken(ctx context.Context) error {
	_, err := c.callJSON(ctx, http.MethodPost, pathAuthRevoke, nil, true, nil)
	return err
}

// CreateEdgeDevice is the account-scoped get-or-create: created is true on 201 (minted),
// false on 200 (adopted: the password sent was ignored).
func (c *Client) CreateEdgeDevice(ctx context.Context, req CreateRequest) (dev *EdgeDevice, created bool, err error) {
	var d EdgeDevice
	status, err := c.callJSON(ctx, http.MethodPost, pathEdgeDevices, req, true, &d)
	if err != nil {
		return nil, false, err
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return nil, false, &DecodeError{Endpoint: pathEdgeDevices, Status: status,
			Err: errors.New("want 201 (minted) or 200 (adopted)")}
	}
	if d.Username == "" {
		return nil, false, &DecodeError{Endpoint: pathEdgeDevices, Status: status, Err: errors.New("username missing")}
	}
	return &d, status == http.StatusCreated, nil
}

// ListEdgeDevices returns every client of the account, following `next` to the last page.
// A next on another host or scheme than the backend's is refused (the token would leak),
// and so is a chain that repeats a page or exceeds the page limit (ErrBadPagination).
func (c *Client) ListEdgeDevices(ctx context.Context) ([]EdgeDevice, error) {
	var all []EdgeDevice
	next := c.endpointURL(pathEdgeDevices)
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages == c.maxPages {
			return nil, fmt.Errorf("GET %s: more than %d pages, the last next was %s: %w",
				pathEdgeDevices, c.maxPages, next, ErrBadPagination)
		}
		seen[next.String()] = true
		var raw json.RawMessage
		if _, err := c.call(ctx, http.MethodGet, next, nil, true, &raw); err != nil {
			return nil, err
		}
		results, nextRaw, err := decodeEdgeDevicePage(raw)
		if err != nil {
			return nil, &DecodeError{Endpoint: next.Path, Status: http.StatusOK, Err: err}
		}
		all = append(all, results...)
		if nextRaw == "" {
			return all, nil
		}
		u, err := next.Parse(nextRaw)
		if err != nil {
			return nil, fmt.Errorf("GET %s: next %q is not a URL: %w", next.Path, nextRaw, ErrBadPagination)
		}
		u.Fragment = ""
		if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
			return nil, fmt.Errorf("GET %s: next page %s is not on the backend %s://%s, refused so that the token stays there: %w",
				next.Path, u.Redacted(), c.base.Scheme, c.base.Host, ErrBadPagination)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("GET %s: next page %s was already read (a loop): %w", next.Path, u.Redacted(), ErrBadPagination)
		}
		next = u
	}
}

// decodeEdgeDevicePage reads a page object or a bare array of clients.
func decodeEdgeDevicePage(raw json.RawMessage) (results []EdgeDevice, next string, err error) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(raw, &results); err != nil {
			return nil, "", err
		}
		return results, "", nil
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, "", errors.New("want a page object or an array of clients")
	}
	var page struct {
		Next    *string       `json:"next"`
		Results *[]EdgeDevice `json:"results"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, "", err
	}
	if page.Results == nil {
		return nil, "", errors.New("page without results")
	}
	if page.Next != nil {
		next = *page.Next
	}
	return *page.Results, next, nil
}

// GetEdgeDevice returns one client (GET /edge-device/<id>/); ErrNotFound when there is none.
func (c *Client) GetEdgeDevice(ctx context.Context, id int64) (*EdgeDevice, error) {
	var d EdgeDevice
	if _, err := c.callJSON(ctx, http.MethodGet, pathEdgeDevice(id), nil, true, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// PatchEdgeDevice backfills cluster_id or resets the password of a client.
func (c *Client) PatchEdgeDevice(ctx context.Context, id int64, req PatchRequest) (*EdgeDevice, error) {
	var d EdgeDevice
	if _, err := c.callJSON(ctx, http.MethodPatch, pathEdgeDevice(id), req, true, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// RevokeEdgeDevice kills a client's machine credential and keeps its record.
func (c *Client) RevokeEdgeDevice(ctx context.Context, id int64) (*RevokeResult, error) {
	var r RevokeResult
	if _, err := c.callJSON(ctx, http.MethodPost, pathEdgeDeviceRevoke(id), nil, true, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Admins lists the account's admins, the people to ask after a 403 on create.
func (c *Client) Admins(ctx context.Context) ([]Admin, error) {
	var admins []Admin
	if _, err := c.callJSON(ctx, http.MethodGet, pathAdmins, nil, true, &admins); err != nil {
		return nil, err
	}
	return admins, nil
}

// VerifyCredential logs in with the machine credential (POST /api-token-auth/): nil when
// it is valid, an error matching ErrInvalidCredential when the backend refuses it. The
// token the backend returns is not kept. No user token is ever sent with this call.
func (c *Client) VerifyCredential(ctx context.Context, username, password string) error {
	body := map[string]string{"username": username, "password": password}
	_, err := c.callJSON(ctx, http.MethodPost, pathAPITokenAuth, body, false, nil)
	return err
}

// MachineLogin logs in with the machine credential (POST /api-token-auth/) and returns a
// client that acts as that machine, for the calls a client makes about itself (the
// offboarding revoke). A refused credential matches ErrInvalidCredential.
func (c *Client) MachineLogin(ctx context.Context, username, password string) (*Client, error) {
	body := map[string]string{"username": username, "password": password}
	var tok Token
	if _, err := c.callJSON(ctx, http.MethodPost, pathAPITokenAuth, body, false, &tok); err != nil {
		return nil, err
	}
	if tok.Token == "" {
		return nil, &DecodeError{Endpoint: pathAPITokenAuth, Status: http.StatusOK, Err: errors.New("no token in the answer")}
	}
	return c.WithToken(tok.Token), nil
}

func (c *Client) endpointURL(path string) *url.URL {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	return &u
}

// callJSON sends a call to a contract path; see call.
func (c *Client) callJSON(ctx context.Context, method, path string, in any, auth bool, out any) (int, error) {
	return c.call(ctx, method, c.endpointURL(path), in, auth, out)
}
