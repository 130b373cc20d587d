package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/tracebloc/edge/internal/version"
)

// recorded is what a test server saw of one request.
type recorded struct {
	Method, Path, Query string
	UserAgent, Accept   string
	ContentType, Auth   string
	Body                string
}

// okAnswers holds a valid 2xx answer for every call, keyed by method and path.
func okAnswers() map[string]string {
	dev := `{"id":7,"username":"u-7","first_name":"n","namespace":"ns","status":0}`
	return map[string]string{
		"POST /device/code":            `{"device_code":"d","user_code":"U-C","verification_uri":"https://x/activate","expires_in":900,"interval":5}`,
		"POST /device/token":           `{"token":"t"}`,
		"GET /userinfo/":               `{"email":"a@b.c"}`,
		"POST /auth/revoke":            ``,
		"POST /edge-device/":           dev,
		"GET /edge-device/":            `[` + dev + `]`,
		"GET /edge-device/7/":          dev,
		"PATCH /edge-device/7/":        dev,
		"POST /edge-device/7/revoke/":  `{"client_id":7,"status":"revoked"}`,
		"GET /edge-device/admins/":     `[{"name":"A","email":"a@b.c"}]`,
		"POST /api-token-auth/":        `{"token":"machine"}`,
		"POST /edge-device/heartbeat/": dev,
		"POST /prefix/api-token-auth/": `{"token":"machine"}`,
	}
}

// recorder answers every call with okAnswers and records the requests.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recorded{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		UserAgent: r.Header.Get("User-Agent"), Accept: r.Header.Get("Accept"),
		ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization"),
		Body: string(body),
	})
	rec.mu.Unlock()
	answer, ok := okAnswers()[r.Method+" "+r.URL.Path]
	switch {
	case !ok:
		http.NotFound(w, r)
	case answer == "":
		w.WriteHeader(http.StatusNoContent)
	default:
		status := http.StatusOK
		if r.Method == "POST" && r.URL.Path == "/edge-device/" {
			status = http.StatusCreated
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}
}

func (rec *recorder) last(t *testing.T) recorded {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("the server saw no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

// TestRequestShapes checks method, path, headers and JSON body of every call.
func TestRequestShapes(t *testing.T) {
	uaFormat := regexp.MustCompile(`^tracebloc-edge-bootstrap/[^ ]+ \([a-z0-9]+/[a-z0-9]+\)$`)
	if !uaFormat.MatchString(version.UserAgent()) {
		t.Fatalf("version.UserAgent() = %q, want the contract's format", version.UserAgent())
	}
	tests := []struct {
		name       string
		call       func(ctx context.Context, c *Client) error
		wantMethod string
		wantPath   string
		wantBody   string // JSON, compared as a value; "" means no body
		wantAuth   bool
	}{
		{"device code", func(ctx context.Context, c *Client) error { _, err := c.RequestDeviceCode(ctx, nil); return err },
			"POST", "/device/code", "", false},
		{"device code with the approval context", func(ctx context.Context, c *Client) error {
			_, err := c.RequestDeviceCode(ctx, &DeviceContext{ClusterID: "uid", Namespace: "ns", ClientName: "edge-01",
				KubernetesVersion: "v1.34.1", ChartVersion: "1.2.3"})
			return err
		}, "POST", "/device/code", `{"cluster_id":"uid","namespace":"ns","client_name":"edge-01","kubernetes_version":"v1.34.1","chart_version":"1.2.3"}`, false},
		{"device code with a partial context", func(ctx context.Context, c *Client) error {
			_, err := c.RequestDeviceCode(ctx, &DeviceContext{ClusterID: "uid"})
			return err
		}, "POST", "/device/code", `{"cluster_id":"uid"}`, false},
		{"device token", func(ctx context.Context, c *Client) error { _, err := c.PollDeviceToken(ctx, "DC"); return err },
			"POST", "/device/token", `{"device_code":"DC"}`, false},
		{"userinfo", func(ctx context.Context, c *Client) error { _, err := c.UserInfo(ctx); return err },
			"GET", "/userinfo/", "", true},
		{"revoke token", func(ctx context.Context, c *Client) error { return c.RevokeToken(ctx) },
			"POST", "/auth/revoke", "", true},
		{"create, all fields", func(ctx context.Context, c *Client) error {
			_, _, err := c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "edge-01", Namespace: "ns", Location: "DE", Password: "pw", ClusterID: "uid"})
			return err
		}, "POST", "/edge-device/", `{"first_name":"edge-01","namespace":"ns","location":"DE","password":"pw","cluster_id":"uid"}`, true},
		{"create without location and cluster_id", func(ctx context.Context, c *Client) error {
			_, _, err := c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "edge-01", Namespace: "ns", Password: "pw"})
			return err
		}, "POST", "/edge-device/", `{"first_name":"edge-01","namespace":"ns","password":"pw"}`, true},
		{"list", func(ctx context.Context, c *Client) error { _, err := c.ListEdgeDevices(ctx); return err },
			"GET", "/edge-device/", "", true},
		{"get", func(ctx context.Context, c *Client) error { _, err := c.GetEdgeDevice(ctx, 7); return err },
			"GET", "/edge-device/7/", "", true},
		{"patch cluster_id", func(ctx context.Context, c *Client) error {
			_, err := c.PatchEdgeDevice(ctx, 7, PatchRequest{ClusterID: "uid"})
			return err
		}, "PATCH", "/edge-device/7/", `{"cluster_id":"uid"}`, true},
		{"patch password", func(ctx context.Context, c *Client) error {
			_, err := c.PatchEdgeDevice(ctx, 7, PatchRequest{Password: "new"})
			return err
		}, "PATCH", "/edge-device/7/", `{"password":"new"}`, true},
		{"revoke client", func(ctx context.Context, c *Client) error { _, err := c.RevokeEdgeDevice(ctx, 7); return err },
			"POST", "/edge-device/7/revoke/", "", true},
		{"admins", func(ctx context.Context, c *Client) error { _, err := c.Admins(ctx); return err },
			"GET", "/edge-device/admins/", "", true},
		{"api-token-auth sends no user token", func(ctx context.Context, c *Client) error {
			return c.VerifyCredential(ctx, "CLIENT-ID", "secret")
		}, "POST", "/api-token-auth/", `{"username":"CLIENT-ID","password":"secret"}`, false},
		{"heartbeat", func(ctx context.Context, c *Client) error { _, err := c.Heartbeat(ctx, StatusOnline); return err },
			"POST", "/edge-device/heartbeat/", `{"status":1}`, true},
		{"heartbeat offline", func(ctx context.Context, c *Client) error { _, err := c.Heartbeat(ctx, StatusOffline); return err },
			"POST", "/edge-device/heartbeat/", `{"status":0}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			c, _, _ := newTestClient(t, rec)
			if err := tt.call(context.Background(), c.WithToken("user-token")); err != nil {
				t.Fatalf("call = %v", err)
			}
			got := rec.last(t)
			want := recorded{Method: tt.wantMethod, Path: tt.wantPath, UserAgent: version.UserAgent(), Accept: "application/json"}
			if tt.wantBody != "" {
				want.ContentType = "application/json"
			}
			if tt.wantAuth {
				want.Auth = "Bearer user-token"
			}
			gotBody := got.Body
			got.Body = ""
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if (tt.wantBody == "") != (gotBody == "") {
				t.Fatalf("body = %q, want %q", gotBody, tt.wantBody)
			}
			if tt.wantBody != "" {
				var wantJSON, gotJSON map[string]any
				if err := json.Unmarshal([]byte(tt.wantBody), &wantJSON); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(gotBody), &gotJSON); err != nil {
					t.Fatalf("body %q is not JSON: %v", gotBody, err)
				}
				if diff := cmp.Diff(wantJSON, gotJSON); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestNoTokenNoAuthorization: a client without WithToken sends no Authorization header.
func TestNoTokenNoAuthorization(t *testing.T) {
	rec := &recorder{}
	c, _, _ := newTestClient(t, rec)
	if _, err := c.UserInfo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t).Auth; got != "" {
		t.Errorf("Authorization = %q, want none", got)
	}
}

// TestBasePathPrefix keeps a base URL's path in front of the contract path, and the
// endpoint reported in errors is the contract path alone.
func TestBasePathPrefix(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/prefix/", WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyCredential(context.Background(), "u", "p"); err != nil {
		t.Fatalf("VerifyCredential() = %v", err)
	}
	if got := rec.last(t).Path; got != "/prefix/api-token-auth/" {
		t.Errorf("path = %q, want /prefix/api-token-auth/", got)
	}
	_, err = c.UserInfo(context.Background())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Endpoint != "/userinfo/" || apiErr.Status != 404 {
		t.Errorf("UserInfo() = %v, want *APIError 404 on /userinfo/", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "api.tracebloc.io", "ftp://x", "http://", "https://x/?q=1", "://x"} {
		t.Run(u, func(t *testing.T) {
			if _, err := New(u); err == nil {
				t.Errorf("New(%q) = nil error, want an error", u)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct{ name, env, want string }{
		{"dev", "dev", "https://dev-api.tracebloc.io"},
		{"stg", "stg", "https://stg-api.tracebloc.io"},
		{"prod", "prod", "https://api.tracebloc.io"},
		{"empty", "", "https://api.tracebloc.io"},
		{"unknown", "qa", "https://api.tracebloc.io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BaseURL(tt.env); got != tt.want {
				t.Errorf("BaseURL(%q) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
}

// TestVerifyCredential: 200 is valid, 400 matches ErrInvalidCredential, other answers are
// errors that do not.
func TestVerifyCredential(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantErr     bool
		wantInvalid bool
	}{
		{"valid", 200, `{"token":"t"}`, false, false},
		{"refused", 400, `{"non_field_errors":["Unable to log in with provided credentials."]}`, true, true},
		{"server error", 500, `oops`, true, false},
		{"unauthorized", 401, `{"detail":"x"}`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			err := c.VerifyCredential(context.Background(), "u", "p")
			if (err != nil) != tt.wantErr {
				t.Fatalf("VerifyCredential() = %v, want error %v", err, tt.wantErr)
			}
			if got := errors.Is(err, ErrInvalidCredential); got != tt.wantInvalid {
				t.Errorf("errors.Is(%v, ErrInvalidCredential) = %v, want %v", err, got, tt.wantInvalid)
			}
			if err != nil && strings.Contains(err.Error(), "p\"") {
				t.Errorf("error %q may carry the password", err)
			}
		})
	}
}

// TestErrorMapping: statuses map to the sentinels, a body that is not JSON leaves Code empty.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		want     error
		wantCode string
	}{
		{"401", 401, `{"detail":"Invalid token."}`, ErrUnauthorized, ""},
		{"403", 403, `{"detail":"no"}`, ErrForbidden, ""},
		{"404", 404, `{"detail":"Not found."}`, ErrNotFound, ""},
		{"409 namespace_conflict", 409, `{"error":"namespace_conflict","namespace":"ns","holder_name":"h"}`, ErrConflict, CodeNamespaceConflict},
		{"502 html", 502, `<html>bad gateway</html>`, nil, ""},
		{"500 wrong types", 500, `{"error": 5}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			_, err := c.GetEdgeDevice(context.Background(), 7)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("GetEdgeDevice() = %v (%T), want *APIError", err, err)
			}
			if apiErr.Status != tt.status || apiErr.Code != tt.wantCode || apiErr.Endpoint != "/edge-device/7/" || apiErr.Method != "GET" {
				t.Errorf("APIError = %+v, want status %d code %q on GET /edge-device/7/", apiErr, tt.status, tt.wantCode)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.want)
			}
		})
	}
	t.Run("namespace_conflict body", func(t *testing.T) {
		c, _, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(409)
			_, _ = io.WriteString(w, `{"error":"namespace_conflict","namespace":"ns-1","holder_name":"edge-02","extra":true}`)
		}))
		_, _, err := c.CreateEdgeDevice(context.Background(), CreateRequest{FirstName: "a", Namespace: "ns-1", Password: "p"})
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("CreateEdgeDevice() = %v, want *APIError", err)
		}
		want := ErrorBody{Error: CodeNamespaceConflict, Namespace: "ns-1", HolderName: "edge-02"}
		if diff := cmp.Diff(want, apiErr.Body); diff != "" {
			t.Errorf("Body (-want +got):\n%s", diff)
		}
	})
}

// pagedServer serves GET /edge-device/ pages from pages, keyed by the query "page".
func pagedServer(t *testing.T, pages func(srvURL, page string) (string, bool), opts ...Option) (*Client, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	var srvURL string
	c, srv, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if got := r.Header.Get("Authorization"); got != "Bearer user-token" {
			t.Errorf("page %q: Authorization = %q", r.URL.RawQuery, got)
		}
		body, ok := pages(srvURL, r.URL.Query().Get("page"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, body)
	}), opts...)
	srvURL = srv.URL
	return c.WithToken("user-token"), &hits
}

func devJSON(name string) string {
	return fmt.Sprintf(`{"id":1,"username":%q,"first_name":%q,"namespace":%q}`, name, name, name)
}

func TestListPagination(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the foreign host got %s %s with Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
	}))
	t.Cleanup(other.Close)

	tests := []struct {
		name      string
		pages     func(srvURL, page string) (string, bool)
		opts      []Option
		want      []string // usernames
		wantErr   error
		wantHits  int32
		errSubstr string
	}{
		{
			name:     "bare array",
			pages:    func(_, _ string) (string, bool) { return `[` + devJSON("a") + `,` + devJSON("b") + `]`, true },
			want:     []string{"a", "b"},
			wantHits: 1,
		},
		{
			name:     "empty page",
			pages:    func(_, _ string) (string, bool) { return `{"count":0,"next":null,"previous":null,"results":[]}`, true },
			wantHits: 1,
		},
		{
			name: "three pages, absolute and relative next",
			pages: func(srvURL, page string) (string, bool) {
				switch page {
				case "":
					return fmt.Sprintf(`{"count":4,"next":"%s/edge-device/?page=2","results":[%s,%s]}`, srvURL, devJSON("a"), devJSON("b")), true
				case "2":
					return fmt.Sprintf(`{"count":4,"next":"/edge-device/?page=3","results":[%s]}`, devJSON("c")), true
				case "3":
					return fmt.Sprintf(`{"count":4,"next":null,"results":[%s],"unknown":{"x":1}}`, devJSON("d")), true
				}
				return "", false
			},
			want:     []string{"a", "b", "c", "d"},
			wantHits: 3,
		},
		{
			name: "loop back to the first page",
			pages: func(srvURL, page string) (string, bool) {
				switch page {
				case "":
					return fmt.Sprintf(`{"next":"%s/edge-device/?page=2","results":[]}`, srvURL), true
				case "2":
					return fmt.Sprintf(`{"next":"%s/edge-device/","results":[]}`, srvURL), true
				}
				return "", false
			},
			wantErr:   ErrBadPagination,
			wantHits:  2,
			errSubstr: "already read",
		},
		{
			name: "next is the page itself",
			pages: func(srvURL, page string) (string, bool) {
				return fmt.Sprintf(`{"next":"%s/edge-device/?page=1","results":[]}`, srvURL), true
			},
			wantErr:  ErrBadPagination,
			wantHits: 2,
		},
		{
			name: "page limit",
			pages: func(srvURL, page string) (string, bool) {
				n := 0
				fmt.Sscan(page, &n)
				return fmt.Sprintf(`{"next":"%s/edge-device/?page=%d","results":[%s]}`, srvURL, n+1, devJSON(page)), true
			},
			opts:      []Option{WithMaxPages(5)},
			wantErr:   ErrBadPagination,
			wantHits:  5,
			errSubstr: "more than 5 pages",
		},
		{
			// The backend behind a TLS-terminating proxy: its own view of the request.
			name: "next on the backend's internal name is read from the backend",
			pages: func(_, page string) (string, bool) {
				switch page {
				case "":
					return fmt.Sprintf(`{"next":"http://testserver/edge-device/?page=2","results":[%s]}`, devJSON("a")), true
				case "2":
					return fmt.Sprintf(`{"next":null,"results":[%s]}`, devJSON("b")), true
				}
				return "", false
			},
			want:     []string{"a", "b"},
			wantHits: 2,
		},
		{
			name: "next on another host is read from the backend, never from that host",
			pages: func(_, page string) (string, bool) {
				switch page {
				case "":
					return fmt.Sprintf(`{"next":"%s/edge-device/?page=2","results":[%s]}`, other.URL, devJSON("a")), true
				case "2":
					return fmt.Sprintf(`{"next":null,"results":[%s]}`, devJSON("b")), true
				}
				return "", false
			},
			want:     []string{"a", "b"},
			wantHits: 2,
		},
		{
			name: "next on another scheme is read from the backend's scheme",
			pages: func(srvURL, page string) (string, bool) {
				switch page {
				case "":
					return fmt.Sprintf(`{"next":"%s/edge-device/?page=2","results":[]}`, strings.Replace(srvURL, "http:", "https:", 1)), true
				case "2":
					return fmt.Sprintf(`{"next":null,"results":[%s]}`, devJSON("b")), true
				}
				return "", false
			},
			want:     []string{"b"},
			wantHits: 2,
		},
		{
			name: "a relative next",
			pages: func(_, page string) (string, bool) {
				switch page {
				case "":
					return `{"next":"?page=2","results":[]}`, true
				case "2":
					return fmt.Sprintf(`{"next":null,"results":[%s]}`, devJSON("b")), true
				}
				return "", false
			},
			want:     []string{"b"},
			wantHits: 2,
		},
		{
			name: "a loop through another host's name is still a loop",
			pages: func(srvURL, page string) (string, bool) {
				switch page {
				case "":
					return `{"next":"http://testserver/edge-device/?page=2","results":[]}`, true
				case "2":
					return `{"next":"https://elsewhere.example/edge-device/","results":[]}`, true
				}
				return "", false
			},
			wantErr:   ErrBadPagination,
			wantHits:  2,
			errSubstr: "already read",
		},
		{
			name: "a next too long to be a page link",
			pages: func(_, _ string) (string, bool) {
				return `{"next":"/edge-device/?page=` + strings.Repeat("9", 3000) + `","results":[]}`, true
			},
			wantErr:   ErrBadPagination,
			wantHits:  1,
			errSubstr: "longer than 2048 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, hits := pagedServer(t, tt.pages, tt.opts...)
			got, err := c.ListEdgeDevices(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ListEdgeDevices() = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errSubstr) {
					t.Errorf("error %q does not say %q", err, tt.errSubstr)
				}
			} else if err != nil {
				t.Fatalf("ListEdgeDevices() = %v", err)
			}
			var names []string
			for _, d := range got {
				names = append(names, d.Username)
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("usernames (-want +got):\n%s", diff)
			}
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("pages requested = %d, want %d", got, tt.wantHits)
			}
		})
	}
}

// TestListPaginationPrefix: behind a reverse proxy with a path prefix, a next that
// carries the prefix is read as it is, one that lacks it (the proxy strips the prefix, so
// the backend never saw it) gets it.
func TestListPaginationPrefix(t *testing.T) {
	tests := []struct {
		name string
		next string
	}{
		{name: "next with the prefix", next: "http://internal:8000/prefix/edge-device/?page=2"},
		{name: "next without the prefix", next: "http://internal:8000/edge-device/?page=2"},
		{name: "relative next", next: "?page=2"},
		{name: "absolute-path next without the prefix", next: "/edge-device/?page=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, r.URL.RequestURI())
				switch r.URL.RequestURI() {
				case "/prefix/edge-device/":
					fmt.Fprintf(w, `{"next":%q,"results":[%s]}`, tt.next, devJSON("a"))
				case "/prefix/edge-device/?page=2":
					fmt.Fprintf(w, `{"next":null,"results":[%s]}`, devJSON("b"))
				default:
					http.NotFound(w, r)
				}
			}))
			t.Cleanup(srv.Close)
			c, err := New(srv.URL+"/prefix", WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.WithToken("user-token").ListEdgeDevices(context.Background())
			if err != nil || len(got) != 2 {
				t.Fatalf("ListEdgeDevices() = %d clients, %v; want 2", len(got), err)
			}
			if diff := cmp.Diff([]string{"/prefix/edge-device/", "/prefix/edge-device/?page=2"}, seen); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRateLimit: a 429 waits Retry-After (capped) on the injected clock and retries; a wait
// of 0 retries at once, without a timer.
func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		retryAfter string
		fails      int // 429 answers before a 200
		opts       []Option
		wantWaits  []time.Duration
		wantHits   int32
		wantErr    bool
		wantRA     time.Duration // RetryAfter of the final *APIError
	}{
		{"seconds", "7", 1, nil, []time.Duration{7 * time.Second}, 2, false, 0},
		{"zero", "0", 1, nil, nil, 2, false, 0},
		{"http date", now.Add(30 * time.Second).Format(http.TimeFormat), 1, nil, []time.Duration{30 * time.Second}, 2, false, 0},
		{"http date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 1, nil, nil, 2, false, 0},
		{"capped by default", "600", 1, nil, []time.Duration{60 * time.Second}, 2, false, 0},
		{"capped by option", "600", 1, []Option{WithMaxRetryWait(5 * time.Second)}, []time.Duration{5 * time.Second}, 2, false, 0},
		{"absent: backoff", "", 2, nil, []time.Duration{time.Second, 2 * time.Second}, 3, false, 0},
		{"unreadable: backoff", "soon", 1, nil, []time.Duration{time.Second}, 2, false, 0},
		{"gives up after 3 retries", "5", 100, nil, []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}, 4, true, 5 * time.Second},
		{"no retries", "5", 100, []Option{WithMaxRetries(0)}, nil, 1, true, 5 * time.Second},
		{"one retry", "2", 100, []Option{WithMaxRetries(1)}, []time.Duration{2 * time.Second}, 2, true, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			var bodies []string
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				bodies = append(bodies, string(b))
				if hits.Add(1) <= int32(tt.fails) {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.WriteHeader(http.StatusTooManyRequests)
					_, _ = io.WriteString(w, `{"detail":"Request was throttled."}`)
					return
				}
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, devJSON("a"))
			})
			c, _, s := newTestClient(t, handler, tt.opts...)
			s.now = now
			dev, created, err := c.CreateEdgeDevice(context.Background(), CreateRequest{FirstName: "a", Namespace: "a", Password: "pw"})
			if diff := cmp.Diff(tt.wantWaits, s.got()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("requests = %d, want %d", got, tt.wantHits)
			}
			for i, b := range bodies {
				if b != bodies[0] {
					t.Errorf("attempt %d sent body %q, want the first attempt's %q", i+1, b, bodies[0])
				}
			}
			if !tt.wantErr {
				if err != nil || dev == nil || !created {
					t.Fatalf("CreateEdgeDevice() = %v, %v, %v; want a minted client", dev, created, err)
				}
				return
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || !errors.Is(err, ErrRateLimited) {
				t.Fatalf("CreateEdgeDevice() = %v, want *APIError matching ErrRateLimited", err)
			}
			if apiErr.RetryAfter != tt.wantRA || apiErr.Status != 429 {
				t.Errorf("APIError = %+v, want status 429 with RetryAfter %v", apiErr, tt.wantRA)
			}
		})
	}
}

// TestRateLimitContext: a context that ends during the wait stops the retries.
func TestRateLimitContext(t *testing.T) {
	var hits atomic.Int32
	c, _, s := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.onWait = cancel
	_, err := c.UserInfo(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("UserInfo() = %v, want context.Canceled", err)
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

// TestUpgradeRequiredNeverRetried: 426 is final, on every endpoint, whatever Retry-After says.
func TestUpgradeRequiredNeverRetried(t *testing.T) {
	for _, ec := range endpointCalls() {
		t.Run(ec.name, func(t *testing.T) {
			var hits atomic.Int32
			c, _, s := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusUpgradeRequired)
				_, _ = io.WriteString(w, `{"error":"upgrade_required","min_version":"9.1.0"}`)
			}))
			_, err := ec.call(context.Background(), c.WithToken("t"))
			var up *UpgradeRequiredError
			if !errors.As(err, &up) {
				t.Fatalf("%s() = %v (%T), want *UpgradeRequiredError", ec.name, err, err)
			}
			if diff := cmp.Diff(&UpgradeRequiredError{Endpoint: ec.path, MinVersion: "9.1.0"}, up); diff != "" {
				t.Errorf("UpgradeRequiredError (-want +got):\n%s", diff)
			}
			if hits.Load() != 1 || len(s.got()) != 0 {
				t.Errorf("requests = %d, waits = %v; want 1 request and no wait", hits.Load(), s.got())
			}
		})
	}
}

// TestMalformedBodies: every call turns an unusable 2xx body into a *DecodeError naming
// its endpoint.
func TestMalformedBodies(t *testing.T) {
	huge := `{"token":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	bodies := []struct {
		name, body string
		status     int
	}{
		{"empty", "", 200},
		{"null", "null", 200},
		{"truncated", `{"id": 1, "username": "u`, 200},
		{"not JSON", `<html>hello</html>`, 200},
		{"wrong types", `{"id":"seven","username":5,"device_code":1,"user_code":[],"token":{},"client_id":"x","email":3}`, 200},
		{"array for object, object for array", `{"results": {}}`, 200},
		{"trailing garbage", `{"token":"t"} x`, 200},
		{"larger than the cap", huge, 200},
	}
	for _, ec := range endpointCalls() {
		if ec.name == "RevokeToken" || ec.name == "VerifyCredential" {
			continue // no body is read from their 2xx answers
		}
		for _, b := range bodies {
			t.Run(ec.name+"/"+b.name, func(t *testing.T) {
				c, _, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(b.status)
					_, _ = io.WriteString(w, b.body)
				}))
				got, err := ec.call(context.Background(), c.WithToken("t"))
				var decErr *DecodeError
				if !errors.As(err, &decErr) {
					// Some bodies are valid for some calls (e.g. {"results":{}} is not an
					// array for Admins, but an object with unknown fields for UserInfo).
					if err == nil && acceptable(ec.name, b.name) {
						return
					}
					t.Fatalf("%s() = %v, %v (%T); want *DecodeError", ec.name, got, err, err)
				}
				if decErr.Endpoint != ec.path {
					t.Errorf("DecodeError.Endpoint = %q, want %q", decErr.Endpoint, ec.path)
				}
			})
		}
	}
}

// acceptable lists the malformed-looking bodies that are in fact valid for a call.
func acceptable(call, body string) bool {
	return body == "array for object, object for array" &&
		(call == "UserInfo" || call == "GetEdgeDevice" || call == "PatchEdgeDevice" || call == "RevokeEdgeDevice" || call == "Heartbeat")
}

// TestCreateStatus: only 201 and 200 are answers of the get-or-create.
func TestCreateStatus(t *testing.T) {
	c, _, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, devJSON("a"))
	}))
	_, _, err := c.CreateEdgeDevice(context.Background(), CreateRequest{FirstName: "a", Namespace: "a", Password: "p"})
	var decErr *DecodeError
	if !errors.As(err, &decErr) || decErr.Status != http.StatusAccepted {
		t.Errorf("CreateEdgeDevice() on 202 = %v, want *DecodeError with status 202", err)
	}
}

// TestContextCancellation: cancelling the context ends a call that waits for an answer.
func TestContextCancellation(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	c, _, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the server notices a gone client only once the body is read
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.PollDeviceToken(ctx, "DC")
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("PollDeviceToken() = %v, want context.Canceled", err)
	}
}

// TestTransportErrorSaysWhatToCheck: an unreachable backend names what to check.
func TestTransportErrorSaysWhatToCheck(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, err := New(url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RequestDeviceCode(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "check the backend URL") {
		t.Errorf("RequestDeviceCode() = %v, want an error that says what to check", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"absent", "", 0, false},
		{"seconds", "12", 12 * time.Second, true},
		{"spaces", " 3 ", 3 * time.Second, true},
		{"negative", "-1", 0, false},
		{"longer than the cap", "601", MaxRetryAfter, true},
		{"days", "864000", MaxRetryAfter, true},
		{"huge", "99999999999999999", MaxRetryAfter, true},
		{"beyond uint64", "99999999999999999999999", 0, false},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"date years ahead", now.AddDate(30, 0, 0).Format(http.TimeFormat), MaxRetryAfter, true},
		{"past date", now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"garbage", "later", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.in, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestLoggerNeverLogsSecrets: the debug log names method, path and status, never a token,
// a password, a device code or a body.
func TestLoggerNeverLogsSecrets(t *testing.T) {
	var buf strings.Builder
	logger := zerolog.New(&buf).Level(zerolog.DebugLevel)
	c, _, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if r.URL.Path == "/device/token" {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = io.WriteString(w, `{"token":"SECRET-ANSWER-TOKEN","email":"a@b.c","username":"u"}`)
	}), WithLogger(&logger))
	c = c.WithToken("SECRET-USER-TOKEN")
	ctx := context.Background()
	_, _ = c.PollDeviceToken(ctx, "SECRET-DEVICE-CODE")
	_, _ = c.UserInfo(ctx)
	_ = c.VerifyCredential(ctx, "u", "SECRET-PASSWORD")
	_, _, _ = c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "a", Namespace: "b", Password: "SECRET-PASSWORD"})
	out := buf.String()
	for _, want := range []string{`"path":"/device/token"`, `"status":429`, `"path":"/userinfo/"`, `"status":200`, `"method":"POST"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("log carries a secret:\n%s", out)
	}
}
