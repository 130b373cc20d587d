package api

import (
	"context"
	"errors"
	"net/http"
)

// TODO(foundation): the implementation; the signatures are the package's interface.

var errTODO = errors.New("api client: not implemented yet")

// Client speaks the tracebloc backend contract. A zero Token means unauthenticated calls
// only (device grant, api-token-auth).
type Client struct {
	baseURL string
	http    *http.Client
	token   string
}

// Option configures a Client.
type Option func(*Client)

// New returns a client of the backend at baseURL (e.g. https://api.tracebloc.io).
func New(baseURL string, opts ...Option) (*Client, error) {
	c := &Client{baseURL: baseURL, http: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// WithHTTPClient sets the HTTP client (see NewHTTPClient for proxy and CA handling).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

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

func (c *Client) RequestDeviceCode(ctx context.Context) (*DeviceCode, error) { return nil, errTODO }
func (c *Client) PollDeviceToken(ctx context.Context, deviceCode string) (*Token, error) {
	return nil, errTODO
}
func (c *Client) UserInfo(ctx context.Context) (*UserInfo, error) { return nil, errTODO }
func (c *Client) RevokeToken(ctx context.Context) error           { return errTODO }

// CreateEdgeDevice is the account-scoped get-or-create: created is true on 201 (minted),
// false on 200 (adopted: the password sent was ignored).
func (c *Client) CreateEdgeDevice(ctx context.Context, req CreateRequest) (dev *EdgeDevice, created bool, err error) {
	return nil, false, errTODO
}
func (c *Client) ListEdgeDevices(ctx context.Context) ([]EdgeDevice, error) { return nil, errTODO }
func (c *Client) GetEdgeDevice(ctx context.Context, id int64) (*EdgeDevice, error) {
	return nil, errTODO
}
func (c *Client) PatchEdgeDevice(ctx context.Context, id int64, req PatchRequest) (*EdgeDevice, error) {
	return nil, errTODO
}
func (c *Client) RevokeEdgeDevice(ctx context.Context, id int64) (*RevokeResult, error) {
	return nil, errTODO
}
func (c *Client) Admins(ctx context.Context) ([]Admin, error) { return nil, errTODO }

// VerifyCredential logs in with the machine credential (POST /api-token-auth/): nil when
// it is valid, an error matching ErrInvalidCredential when the backend refuses it.
func (c *Client) VerifyCredential(ctx context.Context, username, password string) error {
	return errTODO
}
