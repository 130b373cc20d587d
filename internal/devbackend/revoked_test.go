package devbackend

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/api"
)

// TestRevokedClientFreesItsNamespace: a client whose credential was revoked and that is
// anchored to a cluster no longer holds its namespace, so another cluster's client is
// minted there; an offline client that is not revoked, or a revoked one of no cluster,
// still holds it; the same cluster adopts its revoked client. Without the extension the
// namespace stays held.
func TestRevokedClientFreesItsNamespace(t *testing.T) {
	tests := []struct {
		name         string
		contractOnly bool
		cluster      string // of the first client
		revoke       bool
		reqCluster   string
		status       int
		want         api.ErrorBody // of a 409
	}{
		{name: "revoked, another cluster", cluster: "cluster-1", revoke: true, reqCluster: "cluster-2", status: 201},
		{name: "revoked, a request of no cluster", cluster: "cluster-1", revoke: true, reqCluster: "", status: 201},
		{
			name: "offline, not revoked", cluster: "cluster-1", reqCluster: "cluster-2", status: 409,
			want: api.ErrorBody{Error: api.CodeNamespaceConflict, Namespace: "team-a", HolderName: "edge-01"},
		},
		{
			name: "revoked, of no cluster", cluster: "", revoke: true, reqCluster: "cluster-2", status: 409,
			want: api.ErrorBody{Error: api.CodeNamespaceConflict, Namespace: "team-a", HolderName: "edge-01"},
		},
		{name: "revoked, the same cluster adopts", cluster: "cluster-1", revoke: true, reqCluster: "cluster-1", status: 200},
		{name: "without the extension", contractOnly: true, cluster: "cluster-1", revoke: true, reqCluster: "cluster-2", status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ContractOnly = tc.contractOnly })
			tok := e.login(adminA)
			first := e.mustCreate(tok, createReq("edge-01", "team-a", tc.cluster))
			e.heartbeat(first.ID, 0, 0)
			if tc.revoke {
				if a := e.do("POST", fmt.Sprintf("/edge-device/%d/revoke/", first.ID), tok, nil); a.status != 200 {
					t.Fatalf("revoke = %d %s", a.status, a.body)
				}
			}
			a := e.create(tok, createReq("edge-02", "team-a", tc.reqCluster))
			if a.status != tc.status {
				t.Fatalf("POST /edge-device/ = %d %s, want %d", a.status, a.body, tc.status)
			}
			var got api.EdgeDevice
			switch tc.status {
			case 201:
				a.decode(t, &got)
				if got.ID == first.ID || got.Namespace != "team-a" || got.CredentialRevoked {
					t.Errorf("created %+v, want a new client in team-a, not revoked", got)
				}
			case 200:
				a.decode(t, &got)
				if got.ID != first.ID || !got.CredentialRevoked {
					t.Errorf("adopted %+v, want the first client, revoked", got)
				}
			case 409:
				body := a.errBody(t)
				body.Detail = ""
				if diff := cmp.Diff(tc.want, body); diff != "" {
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

// TestCredentialRevokedIsShown: list and get say which client is revoked (an extension);
// without it the field is left out.
func TestCredentialRevokedIsShown(t *testing.T) {
	for _, contractOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("contractOnly=%v", contractOnly), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ContractOnly = contractOnly })
			tok := e.login(adminA)
			revoked := e.mustCreate(tok, createReq("revoked", "team-r", "cluster-r"))
			kept := e.mustCreate(tok, createReq("kept", "team-k", "cluster-k"))
			if a := e.do("POST", fmt.Sprintf("/edge-device/%d/revoke/", revoked.ID), tok, nil); a.status != 200 {
				t.Fatalf("revoke = %d %s", a.status, a.body)
			}
			want := map[int64]any{revoked.ID: true, kept.ID: false}
			if contractOnly {
				want = map[int64]any{revoked.ID: nil, kept.ID: nil}
			}
			var page struct{ Results []map[string]any }
			e.do("GET", "/edge-device/", tok, nil).decode(t, &page)
			got := map[int64]any{}
			for _, c := range page.Results {
				got[int64(c["id"].(float64))] = c["credential_revoked"]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("credential_revoked in the list (-want +got):\n%s", diff)
			}
			for id, w := range want {
				var c map[string]any
				e.do("GET", fmt.Sprintf("/edge-device/%d/", id), tok, nil).decode(t, &c)
				if _, present := c["credential_revoked"]; c["credential_revoked"] != w || present == contractOnly {
					t.Errorf("GET client %d: credential_revoked = %v (present %v), want %v", id, c["credential_revoked"], present, w)
				}
			}
		})
	}
}

// TestResetOfARevokedClientWhoseNamespaceIsTaken: a revoked client whose namespace another
// cluster's client took cannot get a working credential back there: 409 naming the holder.
func TestResetOfARevokedClientWhoseNamespaceIsTaken(t *testing.T) {
	e := newEnv(t)
	tok := e.login(adminA)
	old := e.mustCreate(tok, createReq("edge-old", "team-a", "cluster-1"))
	if a := e.do("POST", fmt.Sprintf("/edge-device/%d/revoke/", old.ID), tok, nil); a.status != 200 {
		t.Fatalf("revoke = %d %s", a.status, a.body)
	}
	e.mustCreate(tok, createReq("edge-new", "team-a", "cluster-2"))
	const pw = "a-new-password-for-the-old-client"
	a := e.do("PATCH", fmt.Sprintf("/edge-device/%d/", old.ID), tok, api.PatchRequest{Password: pw})
	if a.status != 409 {
		t.Fatalf("PATCH password = %d %s, want 409", a.status, a.body)
	}
	if b := a.errBody(t); b.Error != api.CodeNamespaceConflict || b.HolderName != "edge-new" {
		t.Errorf("error body = %+v, want namespace_conflict naming edge-new", b)
	}
	if e.credentialWorks(old.Username, pw) {
		t.Error("the refused password works")
	}
}
