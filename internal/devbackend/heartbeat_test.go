package devbackend

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/api"
)

// machineToken logs in with the machine credential of d (POST /api-token-auth/).
func (e *env) machineToken(d api.EdgeDevice) string {
	e.t.Helper()
	a := e.do("POST", "/api-token-auth/", "", map[string]string{"username": d.Username, "password": goodPassword})
	if a.status != http.StatusOK {
		e.t.Fatalf("api-token-auth = %d %s, want 200", a.status, a.body)
	}
	var tok api.Token
	a.decode(e.t, &tok)
	return tok.Token
}

// stored is client id as the backend holds it now.
func (e *env) stored(id int64) api.EdgeDevice {
	e.t.Helper()
	for _, c := range mustClients(e.t.(*testing.T), e.srv) {
		if c.ID == id {
			return c
		}
	}
	e.t.Fatalf("no client %d", id)
	return api.EdgeDevice{}
}

// TestHeartbeatBody: a machine token reports its own client with the status it sends (1
// when it sends none) and the backend's now; a body that is not {"status": 0|1} is 400
// naming status, and changes nothing.
func TestHeartbeatBody(t *testing.T) {
	tests := []struct {
		name       string
		body       any
		wantCode   int
		wantStatus int // stored afterwards
	}{
		{name: "no body", wantCode: 200, wantStatus: api.StatusOnline},
		{name: "online", body: `{"status": 1}`, wantCode: 200, wantStatus: api.StatusOnline},
		{name: "offline", body: `{"status": 0}`, wantCode: 200, wantStatus: api.StatusOffline},
		{name: "unknown fields ignored", body: `{"status": 1, "pods": 3}`, wantCode: 200, wantStatus: api.StatusOnline},
		{name: "empty object", body: `{}`, wantCode: 200, wantStatus: api.StatusOnline},
		{name: "pending is the backend's", body: `{"status": 2}`, wantCode: 400, wantStatus: api.StatusPending},
		{name: "a string", body: `{"status": "1"}`, wantCode: 400, wantStatus: api.StatusPending},
		{name: "not an object", body: `[1]`, wantCode: 400, wantStatus: api.StatusPending},
		{name: "not JSON", body: `status=1`, wantCode: 400, wantStatus: api.StatusPending},
		{name: "too long", body: `{"status": 1, "pad": "` + strings.Repeat("x", maxHeartbeatBody) + `"}`, wantCode: 400, wantStatus: api.StatusPending},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.mustCreate(e.login(adminA), createReq("x", "x", "cluster-x"))
			e.clock.Add(time.Hour)
			a := e.do("POST", "/edge-device/heartbeat/", e.machineToken(d), tc.body)
			if a.status != tc.wantCode {
				t.Fatalf("POST /edge-device/heartbeat/ %v = %d %s, want %d", tc.body, a.status, a.body, tc.wantCode)
			}
			got := e.stored(d.ID)
			if got.Status != tc.wantStatus {
				t.Errorf("status after the heartbeat = %d, want %d", got.Status, tc.wantStatus)
			}
			if tc.wantCode != 200 {
				if got.LastInfoUpdate != nil {
					t.Errorf("last_info_update = %v after a refused heartbeat, want null", got.LastInfoUpdate)
				}
				if !strings.Contains(string(a.body), `"status":[`) {
					t.Errorf("answer %s does not name the field status", a.body)
				}
				return
			}
			if got.LastInfoUpdate == nil || !got.LastInfoUpdate.Equal(e.clock.Now()) {
				t.Errorf("last_info_update = %v, want the backend's now %v", got.LastInfoUpdate, e.clock.Now())
			}
			var answered api.EdgeDevice
			a.decode(t, &answered)
			if answered.ID != d.ID || answered.Status != tc.wantStatus {
				t.Errorf("answer = client %d status %d, want client %d status %d", answered.ID, answered.Status, d.ID, tc.wantStatus)
			}
		})
	}
}

// TestHeartbeatAuth: only a working machine login reports a client. Every other bearer is
// 401 and the client stays as it was.
func TestHeartbeatAuth(t *testing.T) {
	tests := []struct {
		name       string
		token      func(e *env, d api.EdgeDevice, user string) string
		wantDetail string
	}{
		{name: "no token", token: func(*env, api.EdgeDevice, string) string { return "" }},
		{name: "unknown token", token: func(*env, api.EdgeDevice, string) string { return "not-a-token-of-this-backend" }},
		{name: "user token", token: func(_ *env, _ api.EdgeDevice, user string) string { return user },
			wantDetail: "Only a machine credential reports a client: log in at /api-token-auth/."},
		{name: "revoked client", token: func(e *env, d api.EdgeDevice, user string) string {
			tok := e.machineToken(d)
			e.do("POST", fmt.Sprintf("/edge-device/%d/revoke/", d.ID), user, nil)
			return tok
		}},
		{name: "password reset since", token: func(e *env, d api.EdgeDevice, user string) string {
			tok := e.machineToken(d)
			e.do("PATCH", fmt.Sprintf("/edge-device/%d/", d.ID), user, api.PatchRequest{Password: "a-new-machine-password"})
			return tok
		}},
		{name: "deleted client", token: func(e *env, d api.EdgeDevice, _ string) string {
			tok := e.machineToken(d)
			if err := e.srv.DeleteClient(d.ID); err != nil {
				e.t.Fatal(err)
			}
			return tok
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			user := e.login(adminA)
			d := e.mustCreate(user, createReq("x", "x", "cluster-x"))
			tok := tc.token(e, d, user)
			a := e.do("POST", "/edge-device/heartbeat/", tok, `{"status": 1}`)
			if a.status != http.StatusUnauthorized {
				t.Fatalf("heartbeat with %s = %d %s, want 401", tc.name, a.status, a.body)
			}
			if got := a.errBody(t).Detail; tc.wantDetail != "" && got != tc.wantDetail {
				t.Errorf("detail = %q, want %q", got, tc.wantDetail)
			}
			for _, c := range mustClients(t, e.srv) {
				if c.Status == api.StatusOnline || c.LastInfoUpdate != nil {
					t.Errorf("client %d after a refused heartbeat: status %d, last_info_update %v; want neither set", c.ID, c.Status, c.LastInfoUpdate)
				}
			}
		})
	}
}

// TestHeartbeatMakesLive: a reported client is live by the contract's rule, so another
// namespace cannot take its cluster (409 cluster_in_use); once the heartbeat is older than
// the reset window and the client reported itself offline, it can.
func TestHeartbeatMakesLive(t *testing.T) {
	e := newEnv(t)
	user := e.login(adminA)
	d := e.mustCreate(user, createReq("x", "x", "cluster-x"))
	tok := e.machineToken(d)
	e.do("POST", "/edge-device/heartbeat/", tok, nil)
	if a := e.create(user, createReq("y", "y", "cluster-x")); a.status != http.StatusConflict || codeOf(t, a) != api.CodeClusterInUse {
		t.Errorf("create on the cluster of a reported client = %d %s, want 409 %s", a.status, a.body, api.CodeClusterInUse)
	}
	e.do("POST", "/edge-device/heartbeat/", tok, `{"status": 0}`)
	e.clock.Add(11 * time.Minute)
	if a := e.create(user, createReq("y", "y", "cluster-x")); a.status != http.StatusOK {
		t.Errorf("create on the cluster of a client offline for 11 minutes = %d %s, want 200 (adopt)", a.status, a.body)
	}
}

// FuzzHeartbeatBody: whatever the body, readHeartbeat accepts only status 0 or 1, and only
// bodies within its bound.
func FuzzHeartbeatBody(f *testing.F) {
	for _, seed := range []string{"", " ", "{}", `{"status":1}`, `{"status":0}`, `{"status":2}`, `{"status":1.5}`,
		`{"status":"1"}`, `{"status":null}`, `[1]`, `1`, `{"status":1}{"status":7}`, "{\"status\":1,\"x\":\"\xff\"}"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		status, fields := readHeartbeat(httptest.NewRequest("POST", "/edge-device/heartbeat/", strings.NewReader(body)))
		if len(fields) > 0 {
			return
		}
		if status != api.StatusOnline && status != api.StatusOffline {
			t.Errorf("readHeartbeat(%q) accepted status %d", body, status)
		}
		if len(body) > maxHeartbeatBody {
			t.Errorf("readHeartbeat accepted a body of %d bytes, more than %d", len(body), maxHeartbeatBody)
		}
	})
}
