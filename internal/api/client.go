package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/utils/clock"
)

// Limits and defaults of a Client; each default has an Option.
const (
	// MaxBodyBytes caps every answer read from the backend; a larger one is a *DecodeError.
	MaxBodyBytes = 4 << 20
	// MaxRetryAfter caps a Retry-After, whatever it asks (days, a date years ahead): it is
	// APIError.RetryAfter's upper bound, for a caller that waits on it.
	MaxRetryAfter = 10 * time.Minute

	DefaultMaxRetries   = 3                // retries of a 429 answer
	DefaultMaxRetryWait = 60 * time.Second // longest single wait for a 429
	DefaultMaxPages     = 1000             // pages of GET /edge-device/ followed at most
	DefaultTimeout      = 30 * time.Second // of the default HTTP client
	// DefaultMaxListClients and DefaultMaxListBytes bound what GET /edge-device/ reads over
	// all its pages: far above a real account (a client per cluster), far below the
	// bootstrap container's memory limit.
	DefaultMaxListClients = 10_000
	DefaultMaxListBytes   = 16 << 20
)

// Client speaks the tracebloc backend contract. A zero Token means unauthenticated calls
// only (device grant, api-token-auth).
type Client struct {
	base         *url.URL
	http         *http.Client
	token        string
	secrets      *redactor // shared by every copy (WithToken, WithoutRetries)
	log          zerolog.Logger
	clock        clock.Clock
	maxRetries   int
	maxRetryWait time.Duration
	maxPages     int
	maxClients   int
	maxListBytes int
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
		secrets:      &redactor{},
		log:          zerolog.Nop(),
		clock:        clock.RealClock{},
		maxRetries:   DefaultMaxRetries,
		maxRetryWait: DefaultMaxRetryWait,
		maxPages:     DefaultMaxPages,
		maxClients:   DefaultMaxListClients,
		maxListBytes: DefaultMaxListBytes,
	}
	for _, o := range opts {
		o(c)
	}
	// Whatever client was passed in: a redirect would re-send the JSON body (a password, a
	// device code) to wherever Location points. The copy leaves the caller's client as it is.
	hc := *c.http
	hc.CheckRedirect = refuseRedirect
	c.http = &hc
	return c, nil
}

// refuseRedirect makes the HTTP client return a 3xx answer as it is, for send to refuse.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// WithHTTPClient sets the HTTP client (see NewHTTPClient for proxy and CA handling). The
// Client uses a copy that follows no redirect; h itself is left as it is.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) {
		if h != nil {
			c.http = h
		}
	}
}

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

// WithClock sets the one clock of the client: the waits before retrying a 429, and the
// reading of a Retry-After HTTP date. Tests pass a fake clock so that nothing really waits.
func WithClock(clk clock.Clock) Option {
	return func(c *Client) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// WithMaxPages sets how many pages ListEdgeDevices follows before it gives up.
func WithMaxPages(n int) Option { return func(c *Client) { c.maxPages = max(n, 1) } }

// WithMaxListClients sets how many clients ListEdgeDevices reads over all pages before it
// gives up with ErrListTooLarge.
func WithMaxListClients(n int) Option { return func(c *Client) { c.maxClients = max(n, 1) } }

// WithMaxListBytes sets how many bytes of answers ListEdgeDevices reads over all pages
// before it gives up with ErrListTooLarge.
func WithMaxListBytes(n int) Option { return func(c *Client) { c.maxListBytes = max(n, 1) } }

// WithToken returns a copy of c that sends Authorization: Bearer token. The token is
// redacted from backend text in the errors of c and of all its copies.
func (c *Client) WithToken(token string) *Client {
	c.secrets.add(token)
	cp := *c
	cp.token = token
	return &cp
}

// BaseURL returns the backend's URL, as configured.
func (c *Client) BaseURL() *url.URL { u := *c.base; return &u }

// WithoutRetries returns a copy of c that returns a 429 at once, for a caller that retries
// itself (the device flow knows the code's lifetime and its poll interval), so that a 429
// is retried by one layer only.
func (c *Client) WithoutRetries() *Client { cp := *c; cp.maxRetries = 0; return &cp }

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
	pathHeartbeat    = "/edge-device/heartbeat/" // an extension (EXTENSIONS.md)
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

// maxNextBytes bounds a next link: a page number or an offset, not a payload.
const maxNextBytes = 2048

// ListEdgeDevices returns every client of the account, following `next` to the last page.
//
// The backend writes next as an absolute URL from its own view of the request (behind a
// TLS-terminating proxy an http:// link or an internal host name), so only its path and
// query are followed, always on the configured backend: the token never goes elsewhere.
// A next path that lacks the base URL's path prefix gets it (a proxy that strips the prefix
// leaves the backend unaware of it); one that carries it is kept as it is.
//
// A chain that repeats a page or exceeds the page limit is ErrBadPagination; more clients
// or more bytes than the limits (WithMaxListClients, WithMaxListBytes) is ErrListTooLarge.
// The clients come without CPUNodes and GPUNodes (GetEdgeDevice has them), so that the
// memory a list takes stays close to its size.
func (c *Client) ListEdgeDevices(ctx context.Context) ([]EdgeDevice, error) {
	var all []EdgeDevice
	next := c.endpointURL(pathEdgeDevices)
	seen := map[string]bool{}
	read := 0
	for pages := 0; ; pages++ {
		if pages == c.maxPages {
			return nil, fmt.Errorf("GET %s: more than %d pages, the last next was %s: %w",
				pathEdgeDevices, c.maxPages, c.endpoint(next), ErrBadPagination)
		}
		seen[next.String()] = true
		_, data, err := c.send(ctx, http.MethodGet, next, nil, true)
		if err != nil {
			return nil, err
		}
		if read += len(data); read > c.maxListBytes {
			return nil, fmt.Errorf("GET %s: the client list is larger than %d bytes after %d pages (%d clients), more than this client reads: "+
				"decommission the clients the account no longer uses in the tracebloc dashboard, or ask tracebloc support: %w",
				pathEdgeDevices, c.maxListBytes, pages+1, len(all), ErrListTooLarge)
		}
		results, nextRaw, err := decodeEdgeDevicePage(data, c.maxClients-len(all))
		if errors.Is(err, errTooManyClients) {
			return nil, fmt.Errorf("GET %s: the account has more than %d clients, more than this client reads: "+
				"decommission the clients the account no longer uses in the tracebloc dashboard, or ask tracebloc support: %w",
				pathEdgeDevices, c.maxClients, ErrListTooLarge)
		}
		if err != nil {
			return nil, c.decodeError(c.endpoint(next), http.StatusOK, err)
		}
		all = append(all, results...)
		if nextRaw == "" {
			return all, nil
		}
		u, err := c.nextPage(next, nextRaw)
		if err != nil {
			return nil, fmt.Errorf("GET %s: next page: %w: %w", c.endpoint(next), err, ErrBadPagination)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("GET %s: next page %s was already read (a loop): %w", c.endpoint(next), c.pageName(u), ErrBadPagination)
		}
		next = u
	}
}

// nextPage is the page that nextRaw names, moved onto the configured backend: its path
// (with the base URL's prefix) and query, nothing else.
func (c *Client) nextPage(current *url.URL, nextRaw string) (*url.URL, error) {
	if len(nextRaw) > maxNextBytes {
		return nil, fmt.Errorf("the link is longer than %d bytes", maxNextBytes)
	}
	ref, err := current.Parse(nextRaw) // a relative link is relative to the page it is on
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", c.secrets.text(nextRaw, maxFieldBytes))
	}
	u := *c.base
	u.Path, u.RawPath, u.RawQuery = ref.Path, ref.RawPath, ref.RawQuery
	if prefix := c.base.Path; prefix != "" && ref.Path != prefix && !strings.HasPrefix(ref.Path, prefix+"/") {
		u.Path = prefix + ref.Path
		if ref.RawPath != "" {
			u.RawPath = c.base.EscapedPath() + ref.RawPath
		}
	}
	return &u, nil
}

// pageName is a page for an error: its contract path and query, as safe text.
func (c *Client) pageName(u *url.URL) string {
	name := c.endpoint(u)
	if u.RawQuery != "" {
		name += "?" + c.secrets.text(u.RawQuery, maxFieldBytes)
	}
	return name
}

// errTooManyClients: a page holds more clients than the room left under the limit.
var errTooManyClients = errors.New("too many clients")

// decodeEdgeDevicePage reads a page object or a bare array of clients, and stops with
// errTooManyClients at the (room+1)-th client, before decoding it: a page of a million
// empty objects costs no more than room clients. Field names match as encoding/json
// matches them (case-insensitively); unknown fields are skipped.
func decodeEdgeDevicePage(data []byte, room int) (results []EdgeDevice, next string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, "", err
	}
	switch tok {
	case json.Delim('['):
		if results, err = decodeEdgeDevices(dec, room); err != nil {
			return nil, "", err
		}
	case json.Delim('{'):
		if results, next, err = decodePageFields(dec, room); err != nil {
			return nil, "", err
		}
	default:
		return nil, "", errors.New("want a page object or an array of clients")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "", errors.New("data after the page")
	}
	return results, next, nil
}

// decodePageFields reads the fields of a page object after its '{', through its '}'.
func decodePageFields(dec *json.Decoder, room int) (results []EdgeDevice, next string, err error) {
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, "", err
		}
		key, _ := tok.(string)
		switch {
		case strings.EqualFold(key, "results"):
			tok, err := dec.Token()
			if err != nil {
				return nil, "", err
			}
			if tok != json.Delim('[') {
				return nil, "", errors.New("results is not an array")
			}
			if results, err = decodeEdgeDevices(dec, room); err != nil {
				return nil, "", err
			}
			found = true
		case strings.EqualFold(key, "next"):
			var n *string
			if err := dec.Decode(&n); err != nil {
				return nil, "", fmt.Errorf("next: %w", err)
			}
			next = ""
			if n != nil {
				next = *n
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, "", err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, "", err
	}
	if !found {
		return nil, "", errors.New("page without results")
	}
	return results, next, nil
}

// listedDevice is a client of the list without its node inventories: their maps of small
// entries take ten times their JSON's size in memory, and nothing reads them from a list.
// The outer fields shadow EdgeDevice's (encoding/json prefers the shallower field).
type listedDevice struct {
	EdgeDevice
	CPUNodes skipped `json:"cpu_nodes"`
	GPUNodes skipped `json:"gpu_nodes"`
}

// skipped is a JSON value that is checked for syntax and dropped.
type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

// decodeEdgeDevices reads the elements of an array after its '[', through its ']'.
func decodeEdgeDevices(dec *json.Decoder, room int) ([]EdgeDevice, error) {
	results := []EdgeDevice{}
	for dec.More() {
		if len(results) >= room {
			return nil, errTooManyClients
		}
		var d listedDevice
		if err := dec.Decode(&d); err != nil {
			return nil, err
		}
		results = append(results, d.EdgeDevice)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, err
	}
	return results, nil
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

// Heartbeat reports the client of this machine login (MachineLogin) to the backend:
// status (StatusOnline, or StatusOffline when the workload stops) and, by the backend's
// clock, last_info_update; it returns the client as the backend then holds it. It is an
// extension (EXTENSIONS.md): a backend without it answers 405 or 404, which matches
// ErrMissingExtension. A wrong, revoked or reset credential's token matches
// ErrUnauthorized: log in again, and stop when MachineLogin refuses the credential.
func (c *Client) Heartbeat(ctx context.Context, status int) (*EdgeDevice, error) {
	var d EdgeDevice
	if _, err := c.callJSON(ctx, http.MethodPost, pathHeartbeat, map[string]int{"status": status}, true, &d); err != nil {
		return nil, err
	}
	return &d, nil
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
