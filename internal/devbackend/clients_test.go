package devbackend

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/tracebloc/edge/internal/api"
)

func TestCreateValidation(t *testing.T) {
	e := newEnv(t)
	tok := e.login(adminA)
	tests := []struct {
		name  string
		body  any
		field string // the field the 400 names; "" for a parse error
	}{
		{name: "malformed JSON", body: `{"first_name":`},
		{name: "not an object", body: `[]`},
		{name: "no first_name", body: api.CreateRequest{Namespace: "ns", Password: goodPassword}, field: "first_name"},
		{name: "no namespace", body: api.CreateRequest{FirstName: "x", Password: goodPassword}, field: "namespace"},
		{name: "namespace upper case", body: createReq("x", "Team-A", ""), field: "namespace"},
		{name: "namespace underscore", body: createReq("x", "team_a", ""), field: "namespace"},
		{name: "namespace ends with dash", body: createReq("x", "team-", ""), field: "namespace"},
		{name: "namespace too long", body: createReq("x", strings.Repeat("a", 64), ""), field: "namespace"},
		{name: "no password", body: api.CreateRequest{FirstName: "x", Namespace: "ns"}, field: "password"},
		{name: "short password", body: api.CreateRequest{FirstName: "x", Namespace: "ns", Password: "fifteen-chars.."}, field: "password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do("POST", "/edge-device/", tok, tc.body)
			if a.status != http.StatusBadRequest {
				t.Fatalf("POST /edge-device/ = %d %s, want 400", a.status, a.body)
			}
			var got map[string]any
			a.decode(t, &got)
			if got["detail"] == "" || got["detail"] == nil {
				t.Errorf("400 without detail: %s", a.body)
			}
			if _, ok := got[tc.field]; tc.field != "" && !ok {
				t.Errorf("400 does not name %q: %s", tc.field, a.body)
			}
		})
	}
	if n := len(mustClients(t, e.srv)); n != 0 {
		t.Errorf("%d clients after invalid requests, want 0", n)
	}
	ok := createReq("x", strings.Repeat("a", 63), "")
	ok.Password = strings.Repeat("p", 16)
	if a := e.create(tok, ok); a.status != http.StatusCreated {
		t.Errorf("63-character namespace and 16-character password = %d %s, want 201", a.status, a.body)
	}
}

func mustClients(t *testing.T, s *Server) []api.EdgeDevice {
	t.Helper()
	c, err := s.Clients()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateMint(t *testing.T) {
	e := newEnv(t)
	tok := e.login(adminA)
	req := createReq("edge-01", "team-a", "cluster-1")
	req.Location = "DE"
	got := e.mustCreate(tok, req)
	if _, err := uuid.Parse(got.Username); err != nil {
		t.Errorf("username = %q, want a UUID", got.Username)
	}
	cluster := "cluster-1"
	want := api.EdgeDevice{
		ID: got.ID, Account: 1, Username: got.Username, FirstName: "edge-01", Namespace: "team-a",
		Location: "DE", LocationStatus: "set", Status: api.StatusPending, ClusterID: &cluster,
		DateJoined: e.clock.Now(), CreatedBy: &api.CreatedBy{ID: 1, FirstName: "Alice", IsActive: true},
		CPUNodes: map[string]any{}, GPUNodes: map[string]any{}, PUEConstant: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("201 answer (-want +got):\n%s", diff)
	}
	noLoc := e.mustCreate(tok, createReq("edge-02", "team-b", ""))
	if noLoc.LocationStatus != "unset" || noLoc.ClusterID != nil {
		t.Errorf("without location and cluster_id: location_status %q, cluster_id %v; want unset, null", noLoc.LocationStatus, noLoc.ClusterID)
	}
	e.mustCreate(tok, createReq("edge-03", "team-c", "")) // many NULL cluster_ids
}

// TestCreateDecisions covers every answer of the get-or-create after a first mint of
// cluster-1 in namespace team-a by alice (account acme).
func TestCreateDecisions(t *testing.T) {
	tests := []struct {
		name    string
		as      string
		prepare func(e *env, first api.EdgeDevice)
		req     api.CreateRequest
		status  int
		want    api.ErrorBody // for 409 and 403
	}{
		{name: "adopt", as: adminA, req: createReq("other-name", "team-a", "cluster-1"), status: 200},
		{name: "adopt by another user of the account", as: admin2A, req: createReq("x", "team-a", "cluster-1"), status: 200},
		{name: "adopt from another namespace when not live", as: adminA, req: createReq("x", "team-z", "cluster-1"), status: 200},
		{
			name: "adopt while live in the same namespace", as: adminA,
			prepare: func(e *env, d api.EdgeDevice) { e.heartbeat(d.ID, 1, 0) },
			req:     createReq("x", "team-a", "cluster-1"), status: 200,
		},
		{
			name: "cluster in use: live in another namespace", as: adminA,
			prepare: func(e *env, d api.EdgeDevice) { e.heartbeat(d.ID, 0, 2) },
			req:     createReq("x", "team-z", "cluster-1"), status: 409,
			want: api.ErrorBody{Error: api.CodeClusterInUse, ClusterID: "cluster-1", HolderClientID: 1, HolderName: "edge-01"},
		},
		{
			name: "cluster in use: recent heartbeat", as: adminA,
			prepare: func(e *env, d api.EdgeDevice) { e.heartbeat(d.ID, 0, 0); e.clock.Add(9 * time.Minute) },
			req:     createReq("x", "team-z", "cluster-1"), status: 409,
			want: api.ErrorBody{Error: api.CodeClusterInUse, ClusterID: "cluster-1", HolderClientID: 1, HolderName: "edge-01"},
		},
		{
			name: "old heartbeat is not live", as: adminA,
			prepare: func(e *env, d api.EdgeDevice) { e.heartbeat(d.ID, 0, 0); e.clock.Add(11 * time.Minute) },
			req:     createReq("x", "team-z", "cluster-1"), status: 200,
		},
		{
			name: "cluster of another account", as: adminB, req: createReq("x", "team-a", "cluster-1"), status: 409,
			want: api.ErrorBody{Error: api.CodeClusterConflict, ClusterID: "cluster-1", OwnerEmail: adminA},
		},
		{
			name: "namespace taken in the account", as: admin2A, req: createReq("x", "team-a", "cluster-2"), status: 409,
			want: api.ErrorBody{Error: api.CodeNamespaceConflict, Namespace: "team-a", HolderName: "edge-01"},
		},
		{
			name: "namespace taken, no cluster_id", as: adminA, req: createReq("x", "team-a", ""), status: 409,
			want: api.ErrorBody{Error: api.CodeNamespaceConflict, Namespace: "team-a", HolderName: "edge-01"},
		},
		{name: "same namespace in another account", as: adminB, req: createReq("x", "team-a", "cluster-2"), status: 201},
		{
			name: "viewer", as: viewerA, req: createReq("x", "team-v", "cluster-3"), status: 403,
			want: api.ErrorBody{Detail: "You do not have permission to perform this action."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			first := e.mustCreate(e.login(adminA), createReq("edge-01", "team-a", "cluster-1"))
			if tc.prepare != nil {
				tc.prepare(e, first)
			}
			req := tc.req
			req.Password = "another-password-that-is-ignored"
			a := e.create(e.login(tc.as), req)
			if a.status != tc.status {
				t.Fatalf("POST /edge-device/ = %d %s, want %d", a.status, a.body, tc.status)
			}
			switch tc.status {
			case 200:
				var got api.EdgeDevice
				a.decode(t, &got)
				if got.ID != first.ID || got.Username != first.Username || got.Namespace != "team-a" || got.FirstName != "edge-01" {
					t.Errorf("adopted %+v, want the first client unchanged", got)
				}
				if !e.credentialWorks(first.Username, goodPassword) || e.credentialWorks(first.Username, req.Password) {
					t.Errorf("after adopt the first password must stand and the one sent be ignored")
				}
			case 409, 403:
				got := a.errBody(t)
				if tc.status == 409 {
					got.Detail = ""
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("error body (-want +got):\n%s", diff)
				}
			}
			wantRows := 1
			if tc.status == 201 {
				wantRows = 2
			}
			if n := len(mustClients(t, e.srv)); n != wantRows {
				t.Errorf("%d clients, want %d", n, wantRows)
			}
		})
	}
}

func (e *env) heartbeat(id int64, status, running int) {
	e.t.Helper()
	a := e.dev("POST", fmt.Sprintf("/_dev/clients/%d/heartbeat", id), map[string]int{"status": status, "num_running_experiments": running})
	if a.status != 200 {
		e.t.Fatalf("heartbeat = %d %s", a.status, a.body)
	}
}

func (e *env) credentialWorks(username, password string) bool {
	e.t.Helper()
	a := e.do("POST", "/api-token-auth/", "", map[string]string{"username": username, "password": password})
	return a.status == 200
}

// TestConcurrentCreate fires 50 creates for one cluster at once: the UNIQUE constraint
// lets exactly one mint, and every loser adopts it.
func TestConcurrentCreate(t *testing.T) {
	e := newEnv(t)
	tok := e.login(adminA)
	const n = 50
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		ids      = map[int64]bool{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Distinct namespaces, so that only the cluster_id constraint can stop a mint.
			req := createReq(fmt.Sprintf("edge-%02d", i), fmt.Sprintf("team-%02d", i), "cluster-race")
			req.Password = fmt.Sprintf("password-of-racer-%02d", i)
			a := e.create(tok, req)
			var d api.EdgeDevice
			if a.status < 300 {
				a.decode(t, &d)
			}
			mu.Lock()
			statuses[a.status]++
			ids[d.ID] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(map[int]int{201: 1, 200: n - 1}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if len(ids) != 1 {
		t.Errorf("answers name %d different clients, want 1", len(ids))
	}
	if got := mustClients(t, e.srv); len(got) != 1 {
		t.Errorf("%d rows, want 1", len(got))
	}
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	tokA, tokB := e.login(adminA), e.login(adminB)
	var made []int64
	for i := range 23 {
		made = append(made, e.mustCreate(tokA, createReq(fmt.Sprintf("a-%02d", i), fmt.Sprintf("ns-%02d", i), "")).ID)
	}
	e.mustCreate(tokB, createReq("b", "ns-b", ""))
	ptr := func(s string) *string { return &s }
	base := e.ts.URL + "/edge-device/"
	tests := []struct {
		query          string
		status         int
		results        int
		next, previous *string
		firstID        int64
	}{
		{query: "", status: 200, results: 10, next: ptr(base + "?page=2"), firstID: made[22]},
		{query: "?page=1", status: 200, results: 10, next: ptr(base + "?page=2"), firstID: made[22]},
		{query: "?page=2", status: 200, results: 10, next: ptr(base + "?page=3"), previous: ptr(base), firstID: made[12]},
		{query: "?page=3", status: 200, results: 3, previous: ptr(base + "?page=2"), firstID: made[2]},
		{query: "?page=4", status: 404},
		{query: "?page=0", status: 404},
		{query: "?page=x", status: 404},
	}
	for _, tc := range tests {
		t.Run("page"+tc.query, func(t *testing.T) {
			a := e.do("GET", "/edge-device/"+tc.query, tokA, nil)
			if a.status != tc.status {
				t.Fatalf("GET = %d %s, want %d", a.status, a.body, tc.status)
			}
			if tc.status != 200 {
				if d := a.errBody(t).Detail; d != "Invalid page." {
					t.Errorf("detail = %q, want %q", d, "Invalid page.")
				}
				return
			}
			var p api.EdgeDevicePage
			a.decode(t, &p)
			if p.Count != 23 || len(p.Results) != tc.results || p.Results[0].ID != tc.firstID {
				t.Errorf("count %d, %d results starting at id %d; want 23, %d, %d", p.Count, len(p.Results), p.Results[0].ID, tc.results, tc.firstID)
			}
			if diff := cmp.Diff(tc.next, p.Next); diff != "" {
				t.Errorf("next (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.previous, p.Previous); diff != "" {
				t.Errorf("previous (-want +got):\n%s", diff)
			}
		})
	}
	// Following next to the end yields every client of the account once, and no other.
	seen := map[int64]bool{}
	for url := base; url != ""; {
		a := e.do("GET", strings.TrimPrefix(url, e.ts.URL), tokA, nil)
		var p api.EdgeDevicePage
		a.decode(t, &p)
		for _, d := range p.Results {
			if seen[d.ID] || d.Account != 1 {
				t.Errorf("client %d (account %d) listed twice or from another account", d.ID, d.Account)
			}
			seen[d.ID] = true
		}
		url = ""
		if p.Next != nil {
			url = *p.Next
		}
	}
	if len(seen) != 23 {
		t.Errorf("followed next through %d clients, want 23", len(seen))
	}
	var empty api.EdgeDevicePage
	e.do("GET", "/edge-device/", e.login(adminB), nil).decode(t, &empty)
	if empty.Count != 1 || len(empty.Results) != 1 {
		t.Errorf("account bravo lists %d of %d, want 1 of 1", len(empty.Results), empty.Count)
	}
}

func TestGetPatchRevoke(t *testing.T) {
	e := newEnv(t)
	tok := e.login(adminA)
	legacy := e.mustCreate(tok, createReq("legacy", "legacy", ""))
	anchored := e.mustCreate(tok, createReq("anchored", "anchored", "cluster-a"))
	foreign := e.mustCreate(e.login(adminB), createReq("foreign", "foreign", "cluster-b"))
	path := func(id int64, tail string) string { return fmt.Sprintf("/edge-device/%d/%s", id, tail) }

	steps := []struct {
		name   string
		method string
		path   string
		as     string // default adminA
		body   any
		status int
		code   string // the "error" of a 409
	}{
		{name: "get own", method: "GET", path: path(legacy.ID, ""), status: 200},
		{name: "get another account's", method: "GET", path: path(foreign.ID, ""), status: 404},
		{name: "get missing", method: "GET", path: path(999, ""), status: 404},
		{name: "get non-numeric", method: "GET", path: "/edge-device/abc/", status: 404},
		{name: "get without slash", method: "GET", path: fmt.Sprintf("/edge-device/%d", legacy.ID), status: 404},
		{name: "patch nothing", method: "PATCH", path: path(legacy.ID, ""), body: map[string]string{}, status: 400},
		{name: "patch malformed", method: "PATCH", path: path(legacy.ID, ""), body: `{`, status: 400},
		{name: "patch by viewer", method: "PATCH", path: path(legacy.ID, ""), as: viewerA, body: api.PatchRequest{ClusterID: "cluster-l"}, status: 403},
		{name: "backfill to a foreign cluster", method: "PATCH", path: path(legacy.ID, ""), body: api.PatchRequest{ClusterID: "cluster-b"}, status: 409, code: api.CodeClusterConflict},
		{name: "backfill to a cluster of the account", method: "PATCH", path: path(legacy.ID, ""), body: api.PatchRequest{ClusterID: "cluster-a"}, status: 409, code: api.CodeClusterInUse},
		{name: "backfill", method: "PATCH", path: path(legacy.ID, ""), body: api.PatchRequest{ClusterID: "cluster-l"}, status: 200},
		{name: "backfill again, same value", method: "PATCH", path: path(legacy.ID, ""), body: api.PatchRequest{ClusterID: "cluster-l"}, status: 200},
		{name: "backfill again, other value", method: "PATCH", path: path(legacy.ID, ""), body: api.PatchRequest{ClusterID: "cluster-x"}, status: 409, code: "cluster_id_set"},
		{name: "patch another account's", method: "PATCH", path: path(foreign.ID, ""), body: api.PatchRequest{ClusterID: "cluster-b"}, status: 404},
		{name: "short password", method: "PATCH", path: path(anchored.ID, ""), body: api.PatchRequest{Password: "short"}, status: 400},
		{name: "revoke by viewer", method: "POST", path: path(anchored.ID, "revoke/"), as: viewerA, status: 403},
		{name: "revoke another account's", method: "POST", path: path(foreign.ID, "revoke/"), status: 404},
		{name: "revoke without slash", method: "POST", path: path(anchored.ID, "revoke"), status: 404},
		{name: "revoke", method: "POST", path: path(anchored.ID, "revoke/"), status: 200},
	}
	tokens := map[string]string{adminA: tok, viewerA: e.login(viewerA)}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			as := s.as
			if as == "" {
				as = adminA
			}
			a := e.do(s.method, s.path, tokens[as], s.body)
			if a.status != s.status {
				t.Fatalf("%s %s = %d %s, want %d", s.method, s.path, a.status, a.body, s.status)
			}
			if s.code != "" {
				if got := a.errBody(t).Error; got != s.code {
					t.Errorf("error = %q, want %q", got, s.code)
				}
			}
		})
	}

	var got api.EdgeDevice
	e.do("GET", path(legacy.ID, ""), tok, nil).decode(t, &got)
	if got.ClusterID == nil || *got.ClusterID != "cluster-l" {
		t.Errorf("cluster_id after backfill = %v, want cluster-l", got.ClusterID)
	}

	// The revoked credential is dead, and a password reset revives the client.
	if e.credentialWorks(anchored.Username, goodPassword) {
		t.Error("api-token-auth accepts a revoked credential")
	}
	const newPassword = "a-brand-new-machine-password"
	a := e.do("PATCH", path(anchored.ID, ""), tok, api.PatchRequest{Password: newPassword})
	if a.status != 200 {
		t.Fatalf("PATCH password = %d %s", a.status, a.body)
	}
	if !e.credentialWorks(anchored.Username, newPassword) || e.credentialWorks(anchored.Username, goodPassword) {
		t.Error("after the reset the new password must work and the old one not")
	}
}

func TestRevokeKillsMachineTokens(t *testing.T) {
	e := newEnv(t)
	tok := e.login(adminA)
	d := e.mustCreate(tok, createReq("x", "x", "c"))
	if !e.credentialWorks(d.Username, goodPassword) {
		t.Fatal("fresh credential refused")
	}
	var before []TokenRecord
	e.dev("GET", "/_dev/tokens", nil).decode(t, &before)
	a := e.do("POST", fmt.Sprintf("/edge-device/%d/revoke/", d.ID), tok, nil)
	var res api.RevokeResult
	a.decode(t, &res)
	want := api.RevokeResult{ClientID: d.ID, Status: "revoked",
		Detail: "Machine credential revoked; the client can re-enroll via the normal provisioning path."}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("revoke answer (-want +got):\n%s", diff)
	}
	var after []TokenRecord
	e.dev("GET", "/_dev/tokens", nil).decode(t, &after)
	for _, tr := range after {
		if tr.Kind == "machine" && !tr.Revoked {
			t.Errorf("machine token %d still valid after revoke", tr.ID)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d tokens after revoke, want %d", len(after), len(before))
	}
}

func TestAPITokenAuth(t *testing.T) {
	e := newEnv(t)
	d := e.mustCreate(e.login(adminA), createReq("x", "x", "c"))
	tests := []struct {
		name   string
		body   any
		status int
		key    string // a key the answer must have
	}{
		{name: "valid", body: map[string]string{"username": d.Username, "password": goodPassword}, status: 200, key: "token"},
		{name: "wrong password", body: map[string]string{"username": d.Username, "password": goodPassword + "x"}, status: 400, key: "non_field_errors"},
		{name: "unknown user", body: map[string]string{"username": "nobody", "password": goodPassword}, status: 400, key: "non_field_errors"},
		{name: "no password", body: map[string]string{"username": d.Username}, status: 400, key: "password"},
		{name: "no username", body: map[string]string{"password": goodPassword}, status: 400, key: "username"},
		{name: "malformed", body: `{"username"`, status: 400, key: "detail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do("POST", "/api-token-auth/", "", tc.body)
			var got map[string]any
			a.decode(t, &got)
			if _, ok := got[tc.key]; a.status != tc.status || !ok {
				t.Errorf("POST /api-token-auth/ = %d %s, want %d with %q", a.status, a.body, tc.status, tc.key)
			}
		})
	}
}

func TestAdmins(t *testing.T) {
	e := newEnv(t)
	var got []api.Admin
	a := e.do("GET", "/edge-device/admins/", e.login(viewerA), nil)
	a.decode(t, &got)
	want := []api.Admin{{Name: "Alice", Email: adminA}, {Name: "Anna", Email: admin2A}}
	if diff := cmp.Diff(want, got); a.status != 200 || diff != "" {
		t.Errorf("GET /edge-device/admins/ = %d, (-want +got):\n%s", a.status, diff)
	}
}

func TestPersistence(t *testing.T) {
	path := t.TempDir() + "/dev.db"
	cfg := Config{DBPath: path}
	e := newEnv(t, func(c *Config) { *c = cfg })
	d := e.mustCreate(e.login("dev@example.com"), createReq("kept", "kept", "cluster-kept"))
	e.ts.Close()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := New(cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer again.Close()
	got, err := again.Clients()
	if err != nil || len(got) != 1 || got[0].Username != d.Username {
		t.Errorf("after reopening: %v, %v; want the client %s", got, err, d.Username)
	}
}

// Deleting a client (the dashboard's delete, played through /_dev/) frees its cluster id
// and namespace: the same cluster enrolls again with a new client, and the old machine
// credential no longer logs in.
func TestDevDeleteClient(t *testing.T) {
	e := newEnv(t)
	tok := e.login(adminA)
	old := e.mustCreate(tok, createReq("edge-01", "tracebloc", "cluster-1"))
	if a := e.dev(http.MethodDelete, fmt.Sprintf("/_dev/clients/%d", old.ID), nil); a.status != http.StatusNoContent {
		t.Fatalf("DELETE /_dev/clients/%d = %d %s, want 204", old.ID, a.status, a.body)
	}
	if a := e.do(http.MethodGet, fmt.Sprintf("/edge-device/%d/", old.ID), tok, nil); a.status != http.StatusNotFound {
		t.Errorf("GET the deleted client = %d, want 404", a.status)
	}
	if a := e.do(http.MethodPost, "/api-token-auth/", "", map[string]string{"username": old.Username, "password": createReq("", "", "").Password}); a.status == http.StatusOK {
		t.Errorf("the deleted client's credential still logs in")
	}
	if again := e.mustCreate(tok, createReq("edge-02", "tracebloc", "cluster-1")); again.ID == old.ID {
		t.Errorf("the new client got the deleted client's id %d", old.ID)
	}
	if a := e.dev(http.MethodDelete, "/_dev/clients/987654", nil); a.status != http.StatusNotFound {
		t.Errorf("DELETE of no client = %d, want 404", a.status)
	}
}
