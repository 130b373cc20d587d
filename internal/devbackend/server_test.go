package devbackend

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/tracebloc/edge/internal/api"
)

func TestMinVersion(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MinVersion = "0.4.0" })
	tests := []struct {
		name, ua, path string
		status         int
	}{
		{name: "equal", ua: "tracebloc-edge-bootstrap/0.4.0 (linux/amd64)", path: "/device/code", status: 200},
		{name: "newer with v", ua: "tracebloc-edge-bootstrap/v0.10.1 (linux/arm64)", path: "/device/code", status: 200},
		{name: "newer major", ua: "tracebloc-edge-bootstrap/1.0.0", path: "/device/code", status: 200},
		{name: "local build", ua: "tracebloc-edge-bootstrap/dev (linux/amd64)", path: "/device/code", status: 200},
		{name: "build metadata", ua: "tracebloc-edge-bootstrap/0.4.0+abc (linux/amd64)", path: "/device/code", status: 200},
		{name: "older", ua: "tracebloc-edge-bootstrap/0.3.9 (linux/amd64)", path: "/device/code", status: 426},
		{name: "pre-release of the minimum", ua: "tracebloc-edge-bootstrap/0.4.0-rc.1 (linux/amd64)", path: "/device/code", status: 426},
		{name: "unparsable", ua: "tracebloc-edge-bootstrap/latest (linux/amd64)", path: "/device/code", status: 426},
		{name: "another product", ua: "curl/8.5.0", path: "/device/code", status: 426},
		{name: "no user agent", ua: "", path: "/device/code", status: 426},
		{name: "authenticated endpoint too", ua: "tracebloc-edge-bootstrap/0.3.0", path: "/userinfo/", status: 426},
		{name: "unknown path too", ua: "tracebloc-edge-bootstrap/0.3.0", path: "/nope", status: 426},
		{name: "activation page is exempt", ua: "Mozilla/5.0", path: "/activate", status: 200},
		{name: "dev API is exempt", ua: "curl/8.5.0", path: "/_dev/pending", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.path == "/device/code" {
				method = "POST"
			}
			token := ""
			if strings.HasPrefix(tc.path, "/_dev/") {
				token = e.srv.AdminToken()
			}
			a := e.do(method, tc.path, token, nil, "User-Agent", tc.ua)
			if a.status != tc.status {
				t.Fatalf("%s %s with %q = %d %s, want %d", method, tc.path, tc.ua, a.status, a.body, tc.status)
			}
			if tc.status == 426 {
				want := api.ErrorBody{Error: "upgrade_required", MinVersion: "0.4.0"}
				if diff := cmp.Diff(want, a.errBody(t)); diff != "" {
					t.Errorf("426 body (-want +got):\n%s", diff)
				}
			}
		})
	}
	if _, err := New(Config{MinVersion: "four"}); err == nil {
		t.Error("New accepted MinVersion \"four\"")
	}
}

func TestVersionOrder(t *testing.T) {
	ordered := []string{"0.0.1", "0.3.9", "0.4.0-alpha", "0.4.0-rc.1", "0.4.0", "0.4.1", "0.10.0", "1.0.0", "dev"}
	for i := range ordered {
		for j := range ordered {
			a, okA := parseVersion(ordered[i])
			b, okB := parseVersion(ordered[j])
			if !okA || !okB {
				t.Fatalf("parseVersion(%q or %q) failed", ordered[i], ordered[j])
			}
			if got := a.less(b); got != (i < j) {
				t.Errorf("%s < %s = %v, want %v", ordered[i], ordered[j], got, i < j)
			}
		}
	}
	for _, bad := range []string{"", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.x", "1.2.3-", "-1.2.3"} {
		if _, ok := parseVersion(bad); ok {
			t.Errorf("parseVersion(%q) succeeded, want failure", bad)
		}
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name       string
		rate       float64
		burst      int
		retryAfter string
	}{
		{name: "one per second", rate: 1, burst: 1, retryAfter: "1"},
		{name: "one per five seconds", rate: 0.2, burst: 1, retryAfter: "5"},
		{name: "three per second", rate: 3, burst: 3, retryAfter: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Rate = tc.rate })
			for i := range tc.burst {
				if a := e.do("POST", "/device/code", "", nil); a.status != 200 {
					t.Fatalf("request %d within the burst = %d", i+1, a.status)
				}
			}
			a := e.do("POST", "/device/token", "", map[string]string{"device_code": "x"})
			if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("request beyond the rate = %d Retry-After %q, want 429 Retry-After %q", a.status, a.header.Get("Retry-After"), tc.retryAfter)
			}
			if a.errBody(t).Detail == "" {
				t.Errorf("429 without detail: %s", a.body)
			}
			if a := e.do("GET", "/userinfo/", "", nil); a.status != 401 {
				t.Errorf("GET /userinfo/ = %d, want 401: only the device endpoints are limited", a.status)
			}
			// Another client IP has its own budget (served in-process, nothing on the network).
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/device/code", nil)
			req.RemoteAddr = "127.0.0.2:40000"
			e.srv.Handler().ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Errorf("another IP = %d, want 200", rec.Code)
			}
			e.clock.Add(time.Duration(float64(time.Second) / tc.rate))
			if a := e.do("POST", "/device/code", "", nil); a.status != 200 {
				t.Errorf("after waiting 1/rate = %d, want 200", a.status)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t)
	tok := e.login(adminA)
	add := func(f fault) {
		t.Helper()
		if a := e.dev("POST", "/_dev/faults", f); a.status != http.StatusCreated {
			t.Fatalf("POST /_dev/faults = %d %s", a.status, a.body)
		}
	}

	add(fault{Path: "/userinfo/", Status: 503, Count: 2})
	var got []int
	for range 3 {
		got = append(got, e.do("GET", "/userinfo/", tok, nil).status)
	}
	if diff := cmp.Diff([]int{503, 503, 200}, got); diff != "" {
		t.Errorf("statuses with 2 faults (-want +got):\n%s", diff)
	}

	add(fault{Path: "/device/code", Status: 429, Count: 1})
	if a := e.do("POST", "/device/code", "", nil); a.status != 429 || a.header.Get("Retry-After") != "1" {
		t.Errorf("429 fault = %d Retry-After %q, want 429 Retry-After 1", a.status, a.header.Get("Retry-After"))
	}

	// A fresh connection: Go's transport retries a GET whose reused connection drops.
	add(fault{Path: "/userinfo/", Status: 0, Count: 1})
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", e.ts.URL+"/userinfo/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := fresh.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("dropped-connection fault answered %d, want a transport error", resp.StatusCode)
	}
	if a := e.do("GET", "/userinfo/", tok, nil); a.status != 200 {
		t.Errorf("after the drop = %d, want 200", a.status)
	}
	if reqs := e.srv.Requests(); reqs[len(reqs)-2] != (RequestRecord{Method: "GET", Path: "/userinfo/", Status: 0}) {
		t.Errorf("the dropped request is recorded as %+v, want status 0", reqs[len(reqs)-2])
	}

	// A delayed answer times out a client with a short timeout; the handler gives up when
	// the client goes away, so the test does not wait for the delay.
	add(fault{Path: "/userinfo/", Status: 503, Count: 1, DelayMS: 60_000})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/userinfo/", nil)
	_, err := e.ts.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("delayed fault: err = %v, want the client's deadline", err)
	}

	for _, bad := range []any{`{`, fault{Status: 503, Count: 1}, fault{Path: "/x", Count: 0}, fault{Path: "/x", Count: 1, Status: 42}, fault{Path: "/x", Count: 1, DelayMS: 60_001}} {
		if a := e.dev("POST", "/_dev/faults", bad); a.status != 400 {
			t.Errorf("POST /_dev/faults %v = %d, want 400", bad, a.status)
		}
	}
	add(fault{Path: "/userinfo/", Status: 500, Count: 5})
	e.dev("DELETE", "/_dev/faults", nil)
	if a := e.do("GET", "/userinfo/", tok, nil); a.status != 200 {
		t.Errorf("after DELETE /_dev/faults = %d, want 200", a.status)
	}
}

// TestDevAPIAccess: the /_dev/ API answers a loopback peer with the admin token, and
// nobody else: another machine gets 404, a local process without the token 401.
func TestDevAPIAccess(t *testing.T) {
	e := newEnv(t)
	admin := "Bearer " + e.srv.AdminToken()
	tests := []struct {
		name, remote, auth string
		status             int
	}{
		{name: "IPv4 loopback with the token", remote: "127.0.0.1:5000", auth: admin, status: 200},
		{name: "another loopback address with the token", remote: "127.8.9.10:1", auth: admin, status: 200},
		{name: "IPv6 loopback with the token", remote: "[::1]:5000", auth: admin, status: 200},
		{name: "lower-case scheme", remote: "127.0.0.1:5000", auth: "bearer " + e.srv.AdminToken(), status: 200},
		{name: "loopback without a token", remote: "127.0.0.1:5000", status: 401},
		{name: "loopback with a wrong token", remote: "127.0.0.1:5000", auth: admin + "x", status: 401},
		{name: "loopback with a prefix of the token", remote: "127.0.0.1:5000", auth: admin[:len(admin)-1], status: 401},
		{name: "loopback with the token as Token", remote: "127.0.0.1:5000", auth: "Token " + e.srv.AdminToken(), status: 401},
		{name: "loopback with a user token", remote: "127.0.0.1:5000", auth: "Bearer " + e.login(adminA), status: 401},
		{name: "another machine with the token", remote: "192.0.2.10:5000", auth: admin, status: 404},
		{name: "another IPv6 machine with the token", remote: "[2001:db8::1]:5000", auth: admin, status: 404},
		{name: "a private address without a token", remote: "10.0.0.1:1", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/_dev/clients", "/_dev/pending", "/_dev/tokens", "/_dev/requests"} {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("GET", path, nil)
				req.RemoteAddr = tc.remote
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				e.srv.Handler().ServeHTTP(rec, req)
				if rec.Code != tc.status {
					t.Errorf("GET %s = %d %s, want %d", path, rec.Code, rec.Body, tc.status)
				}
			}
		})
	}
	for _, m := range []struct{ method, path, body string }{
		{"POST", "/_dev/approve", `{"user_code":"` + e.deviceCode().UserCode + `"}`},
		{"POST", "/_dev/faults", `{"path":"/userinfo/","status":503,"count":1}`},
		{"DELETE", "/_dev/requests", ""},
	} {
		if a := e.do(m.method, m.path, "", m.body); a.status != http.StatusUnauthorized || !strings.Contains(a.errBody(t).Detail, "admin token") {
			t.Errorf("%s %s without the admin token = %d %s, want 401 naming the admin token", m.method, m.path, a.status, a.body)
		}
	}
	if p := e.dev("GET", "/_dev/pending", nil); !strings.Contains(string(p.body), "user_code") {
		t.Errorf("the code was approved without the admin token: GET /_dev/pending = %s", p.body)
	}
}

func TestAdminTokenConfig(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	if len(a.srv.AdminToken()) < minAdminTokenLen || a.srv.AdminToken() == b.srv.AdminToken() {
		t.Errorf("generated admin tokens %q and %q: want two different ones of at least %d characters", a.srv.AdminToken(), b.srv.AdminToken(), minAdminTokenLen)
	}
	const given = "0123456789abcdef-admin"
	var issued []string
	c := newEnv(t, func(c *Config) {
		c.AdminToken = given
		c.Issued = func(kind, v string) { issued = append(issued, kind+"="+v) }
	})
	if c.srv.AdminToken() != given {
		t.Errorf("AdminToken() = %q, want the configured %q", c.srv.AdminToken(), given)
	}
	if diff := cmp.Diff([]string{SecretToken + "=" + given}, issued); diff != "" {
		t.Errorf("Issued calls of New (-want +got):\n%s", diff)
	}
	if _, err := New(Config{AdminToken: "short"}); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("New with a 5-character admin token = %v, want an error asking for 16", err)
	}
}

func TestDevAPI(t *testing.T) {
	e := newEnv(t)
	dc := e.deviceCode()
	a := e.dev("GET", "/_dev/pending", nil)
	var pending []PendingCode
	a.decode(t, &pending)
	want := []PendingCode{{UserCode: dc.UserCode, ExpiresAt: e.clock.Now().Add(15 * time.Minute)}}
	if diff := cmp.Diff(want, pending); diff != "" {
		t.Errorf("GET /_dev/pending (-want +got):\n%s", diff)
	}
	if strings.Contains(string(a.body), dc.DeviceCode) {
		t.Error("GET /_dev/pending reveals the device code")
	}

	approve := []struct {
		name   string
		body   any
		status int
	}{
		{name: "unknown code", body: map[string]string{"user_code": "BBBB-BBBB"}, status: 404},
		{name: "unknown user", body: map[string]string{"user_code": dc.UserCode, "email": "x@y.example"}, status: 404},
		{name: "no code", body: map[string]string{}, status: 400},
		{name: "approve as anna", body: map[string]string{"user_code": dc.UserCode, "email": admin2A}, status: 200},
		{name: "again", body: map[string]string{"user_code": dc.UserCode}, status: 409},
	}
	for _, tc := range approve {
		t.Run(tc.name, func(t *testing.T) {
			if a := e.dev("POST", "/_dev/approve", tc.body); a.status != tc.status {
				t.Errorf("POST /_dev/approve = %d %s, want %d", a.status, a.body, tc.status)
			}
		})
	}
	var tok api.Token
	e.poll(dc.DeviceCode).decode(t, &tok)
	var ui api.UserInfo
	e.do("GET", "/userinfo/", tok.Token, nil).decode(t, &ui)
	if ui.Email != admin2A {
		t.Errorf("token of the /_dev/approve'd code belongs to %q, want %q", ui.Email, admin2A)
	}

	denied := e.deviceCode()
	if a := e.dev("POST", "/_dev/deny", map[string]string{"user_code": denied.UserCode}); a.status != 200 {
		t.Errorf("POST /_dev/deny = %d %s", a.status, a.body)
	}
	if got := e.poll(denied.DeviceCode).errBody(t).Error; got != api.CodeAccessDenied {
		t.Errorf("poll after /_dev/deny = %q, want access_denied", got)
	}

	d := e.mustCreate(tok.Token, createReq("x", "x", "cluster-x"))
	e.clock.Add(time.Minute)
	a = e.dev("POST", "/_dev/clients/1/heartbeat", map[string]int{"num_running_experiments": 3})
	var hb client
	a.decode(t, &hb)
	if hb.Status != api.StatusOnline || hb.NumRunningExperiments != 3 || hb.LastInfoUpdate == nil || !hb.LastInfoUpdate.Equal(e.clock.Now()) {
		t.Errorf("after heartbeat: status %d, running %d, last_info_update %v; want 1, 3, %v", hb.Status, hb.NumRunningExperiments, hb.LastInfoUpdate, e.clock.Now())
	}
	if a := e.dev("POST", "/_dev/clients/99/heartbeat", map[string]int{}); a.status != 404 {
		t.Errorf("heartbeat of a missing client = %d, want 404", a.status)
	}

	a = e.dev("GET", "/_dev/clients", nil)
	var all []map[string]any
	a.decode(t, &all)
	if len(all) != 1 || all[0]["username"] != d.Username || all[0]["account_name"] != "acme" || all[0]["created_by_email"] != admin2A {
		t.Errorf("GET /_dev/clients = %s", a.body)
	}
	if strings.Contains(strings.ToLower(string(a.body)), "password") || strings.Contains(string(a.body), goodPassword) {
		t.Errorf("GET /_dev/clients shows a password: %s", a.body)
	}

	a = e.dev("GET", "/_dev/tokens", nil)
	var tokens []TokenRecord
	a.decode(t, &tokens)
	if len(tokens) != 1 || tokens[0].Email != admin2A || tokens[0].Kind != "user" || tokens[0].Revoked {
		t.Errorf("GET /_dev/tokens = %s", a.body)
	}
	if strings.Contains(string(a.body), tok.Token) {
		t.Error("GET /_dev/tokens reveals a token")
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/device/code", "", nil)
	e.do("GET", "/userinfo/", "", nil)
	e.dev("GET", "/_dev/pending", nil) // not recorded
	e.do("PUT", "/device/code", "", nil)
	want := []RequestRecord{
		{Method: "POST", Path: "/device/code", Status: 200},
		{Method: "GET", Path: "/userinfo/", Status: 401},
		{Method: "PUT", Path: "/device/code", Status: 405},
	}
	var got []RequestRecord
	e.dev("GET", "/_dev/requests", nil).decode(t, &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /_dev/requests (-want +got):\n%s", diff)
	}
	if a := e.dev("DELETE", "/_dev/requests", nil); a.status != 204 {
		t.Errorf("DELETE /_dev/requests = %d", a.status)
	}
	e.dev("GET", "/_dev/requests", nil).decode(t, &got)
	if len(got) != 0 {
		t.Errorf("after DELETE: %v, want none", got)
	}
}

func TestJSONErrorsForUnknownPathsAndMethods(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{method: "GET", path: "/nope", status: 404},
		{method: "GET", path: "/edge-device", status: 404},
		{method: "GET", path: "/device/code", status: 405, allow: "POST"},
		{method: "DELETE", path: "/edge-device/", status: 405},
		{method: "PUT", path: "/edge-device/1/", status: 405},
		{method: "GET", path: "/auth/revoke", status: 405, allow: "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			a := e.do(tc.method, tc.path, "", nil)
			if a.status != tc.status || a.header.Get("Content-Type") != "application/json" || a.errBody(t).Detail == "" {
				t.Errorf("= %d %q %s, want %d JSON with detail", a.status, a.header.Get("Content-Type"), a.body, tc.status)
			}
			if tc.allow != "" && a.header.Get("Allow") != tc.allow {
				t.Errorf("Allow = %q, want %q", a.header.Get("Allow"), tc.allow)
			}
		})
	}
}

// TestLogHasNoSecrets runs every call that carries a secret and then scans the log for
// them; it also checks that each request made one line with method, path, status, duration.
func TestLogHasNoSecrets(t *testing.T) {
	e := newEnv(t)
	e.srv.cfg.Logger = zerolog.New(e.log) // JSON lines
	var secrets []string
	dc := e.deviceCode()
	secrets = append(secrets, dc.DeviceCode)
	e.poll(dc.DeviceCode)
	e.clock.Add(5 * time.Second)
	e.approve(dc.UserCode)
	var tok api.Token
	e.poll(dc.DeviceCode).decode(t, &tok)
	secrets = append(secrets, tok.Token)
	d := e.mustCreate(tok.Token, createReq("x", "x", "c"))
	secrets = append(secrets, goodPassword)
	const reset = "the-reset-machine-password"
	secrets = append(secrets, reset)
	e.do("PATCH", "/edge-device/1/", tok.Token, api.PatchRequest{Password: reset})
	var machine api.Token
	e.do("POST", "/api-token-auth/", "", map[string]string{"username": d.Username, "password": reset}).decode(t, &machine)
	secrets = append(secrets, machine.Token)
	e.do("POST", "/api-token-auth/", "", map[string]string{"username": d.Username, "password": goodPassword})
	e.do("GET", "/userinfo/", "", nil, "Authorization", "Token "+tok.Token)
	e.do("POST", "/auth/revoke", tok.Token, nil)
	e.do("GET", "/userinfo/", tok.Token, nil)
	secrets = append(secrets, e.srv.AdminToken())
	e.dev("GET", "/_dev/tokens", nil)
	e.do("GET", "/_dev/tokens", "wrong-"+e.srv.AdminToken(), nil)

	log := e.log.String()
	for _, s := range secrets {
		if s == "" {
			t.Fatal("a secret of the flow is empty")
		}
		if strings.Contains(log, s) {
			t.Errorf("the log contains the secret %.6s…", s)
		}
	}
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) != 12 {
		t.Errorf("%d log lines, want 12 (one per request):\n%s", len(lines), log)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		for _, k := range []string{"method", "path", "status", "duration"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line without %q: %s", k, l)
			}
		}
	}
}
