package devbackend

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/api"
)

func TestDeviceCodeAnswer(t *testing.T) {
	e := newEnv(t)
	dc := e.deviceCode()
	if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(dc.UserCode) {
		t.Errorf("user_code = %q, want XXXX-XXXX from the unambiguous alphabet", dc.UserCode)
	}
	if len(dc.DeviceCode) < 43 {
		t.Errorf("len(device_code) = %d, want >= 43 (32 random bytes, base64url)", len(dc.DeviceCode))
	}
	want := api.DeviceCode{
		DeviceCode:              dc.DeviceCode,
		UserCode:                dc.UserCode,
		VerificationURI:         e.ts.URL + "/activate",
		VerificationURIComplete: e.ts.URL + "/activate?code=" + dc.UserCode,
		ExpiresIn:               900,
		Interval:                5,
	}
	if diff := cmp.Diff(want, dc); diff != "" {
		t.Errorf("POST /device/code (-want +got):\n%s", diff)
	}
	if other := e.deviceCode(); other.DeviceCode == dc.DeviceCode || other.UserCode == dc.UserCode {
		t.Errorf("two codes are equal: %q %q", dc.UserCode, other.UserCode)
	}

	withURL := newEnv(t, func(c *Config) {
		c.PublicURL = "https://dev.tracebloc.example/"
		c.DeviceInterval = 1500 * time.Millisecond
		c.DeviceTTL = time.Minute
	})
	dc = withURL.deviceCode()
	if dc.VerificationURI != "https://dev.tracebloc.example/activate" || dc.Interval != 2 || dc.ExpiresIn != 60 {
		t.Errorf("with PublicURL, 1.5s, 1m: got %+v, want the public URL, interval 2, expires_in 60", dc)
	}
}

// TestDeviceFlow walks one code through pending, slow_down (which grows the interval for
// good), approval, the single-use token and what that token may do.
func TestDeviceFlow(t *testing.T) {
	e := newEnv(t)
	dc := e.deviceCode()
	steps := []struct {
		name    string
		advance time.Duration
		approve bool
		status  int
		code    string
	}{
		{name: "first poll", status: 400, code: "authorization_pending"},
		{name: "too fast", advance: 4 * time.Second, status: 400, code: "slow_down"},
		{name: "old interval is too fast now", advance: 5 * time.Second, status: 400, code: "slow_down"},
		{name: "interval grew twice", advance: 15 * time.Second, status: 400, code: "authorization_pending"},
		{name: "approved", advance: 15 * time.Second, approve: true, status: 200},
		{name: "single use", advance: 15 * time.Second, status: 400, code: "invalid_grant"},
	}
	var token string
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			e.clock.Add(s.advance)
			if s.approve {
				if err := e.srv.Approve(strings.ToLower(dc.UserCode), adminA); err != nil {
					t.Fatalf("Approve: %v", err)
				}
			}
			a := e.poll(dc.DeviceCode)
			if a.status != s.status {
				t.Fatalf("poll = %d %s, want %d", a.status, a.body, s.status)
			}
			if s.status == 200 {
				var tok api.Token
				a.decode(t, &tok)
				token = tok.Token
				return
			}
			if got := a.errBody(t).Error; got != s.code {
				t.Errorf("poll error = %q, want %q", got, s.code)
			}
		})
	}
	if token == "" {
		t.Fatal("no token issued")
	}
	a := e.do("GET", "/userinfo/", token, nil)
	var ui api.UserInfo
	a.decode(t, &ui)
	want := api.UserInfo{Email: adminA, FirstName: "Alice", Account: "acme", AccountID: 1, UserID: 1,
		Type: "DS", IsAccountAdmin: true, IsPasswordChange: true}
	if diff := cmp.Diff(want, ui); a.status != 200 || diff != "" {
		t.Errorf("GET /userinfo/ = %d, (-want +got):\n%s", a.status, diff)
	}
	if a := e.do("POST", "/auth/revoke", token, nil); a.status != http.StatusNoContent || len(a.body) != 0 {
		t.Errorf("POST /auth/revoke = %d %q, want 204 and no body", a.status, a.body)
	}
	if a := e.do("POST", "/auth/revoke", token, nil); a.status != http.StatusNoContent {
		t.Errorf("second POST /auth/revoke = %d, want 204 (idempotent)", a.status)
	}
	if a := e.do("GET", "/userinfo/", token, nil); a.status != http.StatusUnauthorized {
		t.Errorf("GET /userinfo/ after revoke = %d, want 401", a.status)
	}
}

func TestDeviceTokenErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    any
		prepare func(e *env, dc api.DeviceCode) // before the poll
		want    api.ErrorBody
	}{
		{name: "no body", body: "", want: api.ErrorBody{Error: "invalid_request"}},
		{name: "malformed JSON", body: `{"device_code":`, want: api.ErrorBody{Error: "invalid_request"}},
		{name: "empty code", body: map[string]string{"device_code": ""}, want: api.ErrorBody{Error: "invalid_request"}},
		{name: "unknown code", body: map[string]string{"device_code": "nope"}, want: api.ErrorBody{Error: "invalid_grant"}},
		{name: "pending", want: api.ErrorBody{Error: api.CodeAuthorizationPending}},
		{
			name:    "expired",
			prepare: func(e *env, _ api.DeviceCode) { e.clock.Add(15 * time.Minute) },
			want:    api.ErrorBody{Error: api.CodeExpiredToken},
		},
		{
			name:    "expired although approved",
			prepare: func(e *env, dc api.DeviceCode) { e.approve(dc.UserCode); e.clock.Add(16 * time.Minute) },
			want:    api.ErrorBody{Error: api.CodeExpiredToken},
		},
		{
			name: "denied",
			prepare: func(e *env, dc api.DeviceCode) {
				if err := e.srv.Deny(dc.UserCode); err != nil {
					e.t.Fatal(err)
				}
			},
			want: api.ErrorBody{Error: api.CodeAccessDenied},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			dc := e.deviceCode()
			if tc.prepare != nil {
				tc.prepare(e, dc)
			}
			body := tc.body
			if body == nil {
				body = map[string]string{"device_code": dc.DeviceCode}
			}
			a := e.do("POST", "/device/token", "", body)
			got := a.errBody(t)
			got.Detail = ""
			if diff := cmp.Diff(tc.want, got); a.status != 400 || diff != "" {
				t.Errorf("POST /device/token = %d, (-want +got):\n%s", a.status, diff)
			}
		})
	}
}

func (e *env) approve(userCode string) {
	e.t.Helper()
	if err := e.srv.Approve(userCode, ""); err != nil {
		e.t.Fatal(err)
	}
}

func TestDeniedAnswersOnce(t *testing.T) {
	e := newEnv(t)
	dc := e.deviceCode()
	if err := e.srv.Deny(dc.UserCode); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		got = append(got, e.poll(dc.DeviceCode).errBody(t).Error)
		e.clock.Add(5 * time.Second)
	}
	if diff := cmp.Diff([]string{"access_denied", "invalid_grant"}, got); diff != "" {
		t.Errorf("polls after deny (-want +got):\n%s", diff)
	}
}

func TestApproveErrors(t *testing.T) {
	e := newEnv(t)
	expired := e.deviceCode()
	e.clock.Add(10 * time.Minute)
	decided := e.deviceCode()
	e.approve(decided.UserCode)
	fresh := e.deviceCode()
	e.clock.Add(6 * time.Minute)
	tests := []struct {
		name, code, email string
		want              error
	}{
		{name: "unknown code", code: "BBBB-CCCC", want: ErrUnknownCode},
		{name: "expired", code: expired.UserCode, want: ErrExpiredCode},
		{name: "already approved", code: decided.UserCode, want: ErrDecidedCode},
		{name: "unknown user", code: fresh.UserCode, email: "mallory@x.example", want: ErrUnknownEmail},
		{name: "typed loosely", code: " " + strings.ToLower(strings.ReplaceAll(fresh.UserCode, "-", "")), email: admin2A},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.srv.Approve(tc.code, tc.email)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Approve(%q, %q) = %v, want %v", tc.code, tc.email, err, tc.want)
			}
		})
	}
	if err := e.srv.Deny(decided.UserCode); !errors.Is(err, ErrDecidedCode) {
		t.Errorf("Deny(approved code) = %v, want %v", err, ErrDecidedCode)
	}
}

func TestBearerAuth(t *testing.T) {
	e := newEnv(t)
	revoked := e.login(adminA)
	e.do("POST", "/auth/revoke", revoked, nil)
	d := e.mustCreate(e.login(adminA), createReq("m", "m", ""))
	var machine api.Token
	e.do("POST", "/api-token-auth/", "", map[string]string{"username": d.Username, "password": goodPassword}).decode(t, &machine)
	good := e.login(adminA)

	tests := []struct {
		name, auth string
		status     int
	}{
		{name: "no header", status: 401},
		{name: "Token scheme", auth: "Token " + good, status: 401},
		{name: "unknown", auth: "Bearer nope", status: 401},
		{name: "revoked", auth: "Bearer " + revoked, status: 401},
		{name: "machine token", auth: "Bearer " + machine.Token, status: 401},
		{name: "valid", auth: "Bearer " + good, status: 200},
		{name: "lower-case scheme", auth: "bearer " + good, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/userinfo/", "/edge-device/", "/edge-device/admins/"} {
				a := e.do("GET", path, "", nil, "Authorization", tc.auth)
				if a.status != tc.status {
					t.Errorf("GET %s = %d %s, want %d", path, a.status, a.body, tc.status)
				}
				if a.status == 401 && a.errBody(t).Detail == "" {
					t.Errorf("GET %s: 401 without detail: %s", path, a.body)
				}
			}
		})
	}
	if a := e.do("POST", "/auth/revoke", "unknown", nil); a.status != 401 {
		t.Errorf("POST /auth/revoke with an unknown token = %d, want 401", a.status)
	}
	if a := e.do("POST", "/auth/revoke", "", nil); a.status != 401 {
		t.Errorf("POST /auth/revoke without a token = %d, want 401", a.status)
	}
}

// TestIssuedReportsEverySecret: the hook of the secrets scan sees the device code and the
// token of a device-flow run, the password of a create and the machine token of a login,
// and never the user code, which is meant to be shown.
func TestIssuedReportsEverySecret(t *testing.T) {
	var (
		mu     sync.Mutex
		issued = map[string]string{} // value -> kind
	)
	e := newEnv(t, func(c *Config) {
		c.Issued = func(kind, value string) {
			mu.Lock()
			defer mu.Unlock()
			issued[value] = kind
		}
	})
	dc := e.deviceCode()
	if err := e.srv.Approve(dc.UserCode, adminA); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	a := e.poll(dc.DeviceCode)
	if a.status != http.StatusOK {
		t.Fatalf("poll after approval = %d %s, want 200", a.status, a.body)
	}
	var tok api.Token
	a.decode(t, &tok)
	dev := e.mustCreate(tok.Token, createReq("edge", "tracebloc", "cluster-1"))
	a = e.do("POST", "/api-token-auth/", "", map[string]string{"username": dev.Username, "password": goodPassword})
	if a.status != http.StatusOK {
		t.Fatalf("POST /api-token-auth/ = %d %s, want 200", a.status, a.body)
	}
	var machine api.Token
	a.decode(t, &machine)

	mu.Lock()
	defer mu.Unlock()
	for _, want := range []struct{ name, value, kind string }{
		{"device code", dc.DeviceCode, SecretDeviceCode},
		{"user token", tok.Token, SecretToken},
		{"password", goodPassword, SecretPassword},
		{"machine token", machine.Token, SecretToken},
		{"admin token", e.srv.AdminToken(), SecretToken},
	} {
		got, ok := issued[want.value]
		switch {
		case !ok:
			t.Errorf("Issued never reported the %s, want it reported as %q", want.name, want.kind)
		case got != want.kind:
			t.Errorf("Issued reported the %s as %q, want %q", want.name, got, want.kind)
		}
	}
	if kind, ok := issued[dc.UserCode]; ok {
		t.Errorf("Issued reported the user code as %q, want it never reported", kind)
	}
	if len(issued) != 5 {
		t.Errorf("Issued reported %d values, want 5", len(issued))
	}
}
