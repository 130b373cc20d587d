package devbackend

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/syncbuf"
)

// clock is the injected clock of the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Users of the tests: two accounts, one viewer.
const (
	adminA  = "alice@a.example"
	admin2A = "anna@a.example"
	viewerA = "victor@a.example"
	adminB  = "bob@b.example"
)

func testUsers() []User {
	return []User{
		{Email: adminA, Account: "acme", FirstName: "Alice", Admin: true},
		{Email: admin2A, Account: "acme", FirstName: "Anna", Admin: true},
		{Email: viewerA, Account: "acme", FirstName: "Victor"},
		{Email: adminB, Account: "bravo", FirstName: "Bob", Admin: true},
	}
}

type env struct {
	t     testing.TB
	srv   *Server
	ts    *httptest.Server
	clock *clock
	log   *syncbuf.Buffer
}

// newEnv serves a fresh in-memory backend on 127.0.0.1 with the test users and clock.
func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, log: &syncbuf.Buffer{}}
	cfg := Config{Users: testUsers(), Now: e.clock.Now, Logger: zerolog.New(e.log)}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = srv
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		e.ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// errBody decodes an error answer.
func (a answer) errBody(t testing.TB) api.ErrorBody {
	t.Helper()
	var b api.ErrorBody
	a.decode(t, &b)
	return b
}

// do sends one request; body is JSON-encoded unless it is a string (sent as is).
func (e *env) do(method, path, token string, body any, header ...string) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	hc := *e.ts.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// dev calls the test-only /_dev/ API with the admin token.
func (e *env) dev(method, path string, body any) answer {
	e.t.Helper()
	return e.do(method, path, e.srv.AdminToken(), body)
}

func (e *env) deviceCode() api.DeviceCode {
	e.t.Helper()
	a := e.do("POST", "/device/code", "", nil)
	if a.status != http.StatusOK {
		e.t.Fatalf("POST /device/code = %d %s, want 200", a.status, a.body)
	}
	var dc api.DeviceCode
	a.decode(e.t, &dc)
	return dc
}

func (e *env) poll(deviceCode string) answer {
	e.t.Helper()
	return e.do("POST", "/device/token", "", map[string]string{"device_code": deviceCode})
}

// login runs the whole device flow as email and returns the user token.
func (e *env) login(email string) string {
	e.t.Helper()
	dc := e.deviceCode()
	if err := e.srv.Approve(dc.UserCode, email); err != nil {
		e.t.Fatalf("Approve: %v", err)
	}
	a := e.poll(dc.DeviceCode)
	if a.status != http.StatusOK {
		e.t.Fatalf("poll after approval = %d %s, want 200", a.status, a.body)
	}
	var tok api.Token
	a.decode(e.t, &tok)
	return tok.Token
}

// create is POST /edge-device/.
func (e *env) create(token string, req api.CreateRequest) answer {
	e.t.Helper()
	return e.do("POST", "/edge-device/", token, req)
}

func (e *env) mustCreate(token string, req api.CreateRequest) api.EdgeDevice {
	e.t.Helper()
	a := e.create(token, req)
	if a.status != http.StatusCreated {
		e.t.Fatalf("create %+v = %d %s, want 201", req.Namespace, a.status, a.body)
	}
	var d api.EdgeDevice
	a.decode(e.t, &d)
	return d
}

const goodPassword = "0123456789abcdef-machine-credential"

func createReq(name, namespace, clusterID string) api.CreateRequest {
	return api.CreateRequest{FirstName: name, Namespace: namespace, Password: goodPassword, ClusterID: clusterID}
}
