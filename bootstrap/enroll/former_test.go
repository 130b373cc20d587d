package enroll_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/retry/retrytest"
)

const oldCluster = "uid-of-the-cluster-this-one-replaces"

// former is a world whose backend and enrollment share one fake clock, on which every wait
// of the run ends at once: the client of the cluster this one replaces holds namespace
// "edge", offline.
type former struct {
	*world
	clock   *retrytest.Clock
	old     api.EdgeDevice
	notices []string
}

func newFormer(t *testing.T, heartbeat bool) *former {
	t.Helper()
	clk := retrytest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	f := &former{world: newWorld(t, devbackend.Config{Now: clk.Now, AdminToken: "admin-token-of-the-test"}), clock: clk}
	f.old = f.client("edge", oldCluster)
	if heartbeat {
		f.heartbeat(0)
		clk.Step(time.Hour) // an hour ago: not live
	}
	return f
}

// heartbeat reports the old client with status, as its cluster's edge would.
func (f *former) heartbeat(status int) {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/_dev/clients/%d/heartbeat", f.old.ID), strings.NewReader(fmt.Sprintf(`{"status":%d}`, status)))
	req.RemoteAddr = "127.0.0.1:1234"
	req.Header.Set("Authorization", "Bearer admin-token-of-the-test")
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		f.t.Fatalf("heartbeat: HTTP %d %s", rec.Code, rec.Body)
	}
}

// enroll runs MintOrAdopt as dev@example.com in namespace "edge" of this cluster.
func (f *former) enroll(wait time.Duration) (*enroll.Result, string, error) {
	f.t.Helper()
	var log bytes.Buffer
	e := &enroll.Enroller{
		Backend: f.signIn("dev@example.com"), Store: f.store, ClusterID: clusterID, Namespace: "edge",
		ResetWindow: 10 * time.Minute, Clock: f.clock, Log: zerolog.New(&log),
		FormerPoll: 20 * time.Second, FormerWait: wait,
		Notice: func(_ context.Context, msg string) { f.notices = append(f.notices, msg) },
	}
	acct, err := e.Who(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := e.MintOrAdopt(context.Background(), acct, credential.State{})
	return res, log.String(), err
}

// TestRebuiltClusterWaitsForTheFormerClient: the namespace is held by the client of
// another cluster that is not live (the cluster was rebuilt); the run says so, naming the
// client, its cluster and its last heartbeat, polls the list at FormerPoll on the clock,
// and creates this cluster's client once the old one is deleted, with the same sign-in.
func TestRebuiltClusterWaitsForTheFormerClient(t *testing.T) {
	for _, heartbeat := range []bool{false, true} {
		t.Run(fmt.Sprintf("heartbeat=%v", heartbeat), func(t *testing.T) {
			f := newFormer(t, heartbeat)
			f.beforeList = func(n int) { // the person deletes the old client while the run polls
				if n == 3 {
					if err := f.srv.DeleteClient(f.old.ID); err != nil {
						t.Error(err)
					}
				}
			}
			res, log, err := f.enroll(time.Hour)
			if err != nil {
				t.Fatalf("MintOrAdopt() = %v\n%s", err, log)
			}
			if res.Enrollment != credential.Minted || res.Client.ClusterID == nil || *res.Client.ClusterID != clusterID || res.Client.Namespace != "edge" {
				t.Errorf("MintOrAdopt() = %s client %+v, want a new client of this cluster in edge", res.Enrollment, res.Client)
			}
			if diff := cmp.Diff([]time.Duration{20 * time.Second, 20 * time.Second}, f.clock.Waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			last := "no heartbeat ever"
			if heartbeat {
				last = "last heartbeat 2026-05-01T12:00:00Z"
			}
			if len(f.notices) != 1 {
				t.Fatalf("notices = %q, want one", f.notices)
			}
			for _, want := range []string{`client "old-client"`, oldCluster, last, "delete client \"old-client\" in the tracebloc dashboard", "goes on by itself", "namespace edge", clusterID} {
				if !strings.Contains(f.notices[0], want) {
					t.Errorf("the notice does not say %q:\n%s", want, f.notices[0])
				}
			}
			if !strings.Contains(log, "looks rebuilt") || !strings.Contains(log, oldCluster) {
				t.Errorf("the log does not hold the notice:\n%s", log)
			}
		})
	}
}

// TestRebuiltClusterWaitEnds: the wait ends with a stop that says what to do when the old
// client comes back to life, or is not deleted within FormerWait.
func TestRebuiltClusterWaitEnds(t *testing.T) {
	tests := []struct {
		name      string
		live      bool
		wantKind  enroll.Kind
		wantText  string
		wantWaits int
	}{
		{name: "never deleted", wantKind: enroll.Conflict, wantText: "waited 1m0s for client \"old-client\"", wantWaits: 3},
		{name: "live again", live: true, wantKind: enroll.Conflict, wantText: "is live again", wantWaits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFormer(t, false)
			f.beforeList = func(n int) {
				if tt.live && n == 3 {
					f.heartbeat(api.StatusOnline)
				}
			}
			res, log, err := f.enroll(time.Minute)
			if stopKind(err) != tt.wantKind || !strings.Contains(fmt.Sprint(err), tt.wantText) || !strings.Contains(fmt.Sprint(err), "edge-2") {
				t.Fatalf("MintOrAdopt() = %+v, %v, want a stop saying %q and naming a free namespace\n%s", res, err, tt.wantText, log)
			}
			if n := len(f.clock.Waits()); n != tt.wantWaits {
				t.Errorf("waits = %v, want %d", f.clock.Waits(), tt.wantWaits)
			}
			if clients, _ := f.srv.Clients(); len(clients) != 1 {
				t.Errorf("clients = %d, want only the old one", len(clients))
			}
		})
	}
}

// TestNamespaceHolderThatIsNotFormerStopsAtOnce: a live holder, or one of no cluster, is
// another install: today's message, no wait.
func TestNamespaceHolderThatIsNotFormerStopsAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		live    bool
	}{
		{name: "live holder of another cluster", cluster: oldCluster, live: true},
		{name: "holder of no cluster", cluster: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			f := &former{world: newWorld(t, devbackend.Config{Now: clk.Now, AdminToken: "admin-token-of-the-test"}), clock: clk}
			f.old = f.client("edge", tt.cluster)
			if tt.live {
				f.heartbeat(api.StatusOnline)
			}
			_, log, err := f.enroll(time.Hour)
			if stopKind(err) != enroll.Conflict || !strings.Contains(fmt.Sprint(err), "is already used by client \"old-client\"") {
				t.Fatalf("MintOrAdopt() = %v, want the namespace-taken stop\n%s", err, log)
			}
			if len(f.clock.Waits()) != 0 || len(f.notices) != 0 {
				t.Errorf("waits %v, notices %q; want none", f.clock.Waits(), f.notices)
			}
		})
	}
}

// TestNamespaceConflictAtCreateWaitsForTheFormerClient: when only the create finds the
// namespace taken (the list the run decided on did not show the holder yet), the answer,
// namespace_conflict or the contract-only 400, is explained by a fresh list; a former
// client found there is waited for like one found before the create.
func TestNamespaceConflictAtCreateWaitsForTheFormerClient(t *testing.T) {
	for _, contractOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("contractOnly=%v", contractOnly), func(t *testing.T) {
			clk := retrytest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			f := &former{world: newWorld(t, devbackend.Config{Now: clk.Now, ContractOnly: contractOnly, AdminToken: "admin-token-of-the-test"}), clock: clk}
			f.old = f.client("edge", oldCluster)
			f.hide[f.old.Username] = 1 // Who's list misses it
			f.beforeList = func(n int) {
				if n == 3 { // after the create's explaining list, one wait
					if err := f.srv.DeleteClient(f.old.ID); err != nil {
						t.Error(err)
					}
				}
			}
			res, log, err := f.enroll(time.Hour)
			if err != nil || res.Enrollment != credential.Minted {
				t.Fatalf("MintOrAdopt() = %+v, %v, want minted after the wait\n%s", res, err, log)
			}
			if len(f.notices) != 1 || len(f.clock.Waits()) != 1 {
				t.Errorf("notices %q, waits %v; want one of each", f.notices, f.clock.Waits())
			}
			if secret := f.secretData(); secret[credential.KeyClientID] != res.Client.Username || !f.verifies(res.Client.Username, secret[credential.KeyClientPassword]) {
				t.Errorf("the Secret does not hold the new client's working credential")
			}
		})
	}
}

// TestRevokedFormerClientFreesTheNamespace: the person revokes the old client instead of
// deleting it. Revoked while the run waits: the wait ends at the next look and the run
// mints this cluster's client with the same sign-in; revoked before the run: no wait at
// all. A backend that does not say which clients are revoked (contract-only) gets the wait
// for the deletion, as before.
func TestRevokedFormerClientFreesTheNamespace(t *testing.T) {
	tests := []struct {
		name         string
		contractOnly bool
		revokeAt     int // the list before which the old client is revoked; 0: before the run
		deleteAt     int // the list before which it is deleted; 0: never
		wantWaits    int
		wantNotices  int
	}{
		{name: "revoked while waiting", revokeAt: 3, wantWaits: 2, wantNotices: 1},
		{name: "revoked before the run", wantWaits: 0, wantNotices: 0},
		{name: "backend without the field", contractOnly: true, deleteAt: 3, wantWaits: 2, wantNotices: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := retrytest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			f := &former{world: newWorld(t, devbackend.Config{Now: clk.Now, ContractOnly: tt.contractOnly, AdminToken: "admin-token-of-the-test"}), clock: clk}
			f.old = f.client("edge", oldCluster)
			dashboard := f.signIn("dev@example.com") // the person's own sign-in, as the dashboard's
			revoke := func() {
				if _, err := dashboard.RevokeEdgeDevice(context.Background(), f.old.ID); err != nil {
					t.Error(err)
				}
			}
			if tt.revokeAt == 0 {
				revoke()
			}
			f.beforeList = func(n int) {
				if n == tt.revokeAt {
					revoke()
				}
				if n == tt.deleteAt {
					if err := f.srv.DeleteClient(f.old.ID); err != nil {
						t.Error(err)
					}
				}
			}
			res, log, err := f.enroll(time.Hour)
			if err != nil || res.Enrollment != credential.Minted || res.Client.ClusterID == nil || *res.Client.ClusterID != clusterID || res.Client.Namespace != "edge" {
				t.Fatalf("MintOrAdopt() = %+v, %v, want a new client of this cluster in edge\n%s", res, err, log)
			}
			if n := len(f.clock.Waits()); n != tt.wantWaits {
				t.Errorf("waits = %v, want %d", f.clock.Waits(), tt.wantWaits)
			}
			if len(f.notices) != tt.wantNotices {
				t.Fatalf("notices = %q, want %d", f.notices, tt.wantNotices)
			}
			for _, msg := range f.notices {
				if !strings.Contains(msg, `revoke or delete client "old-client" in the tracebloc dashboard`) || strings.Contains(msg, "not enough") {
					t.Errorf("the notice does not say to revoke or delete the old client:\n%s", msg)
				}
			}
			if secret := f.secretData(); secret[credential.KeyClientID] != res.Client.Username || !f.verifies(res.Client.Username, secret[credential.KeyClientPassword]) {
				t.Errorf("the Secret does not hold the new client's working credential")
			}
			wantClients := 2 // the revoked one is kept
			if tt.deleteAt != 0 {
				wantClients = 1
			}
			if clients, _ := f.srv.Clients(); len(clients) != wantClients {
				t.Errorf("clients = %d, want %d", len(clients), wantClients)
			}
		})
	}
}
