package bootstrapper_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/bootstrap/bootstrapper"
	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/events"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
)

// secondCluster names the harness instance that stands in for a rebuilt cluster: another
// kube-system UID, the same namespace names. TRACEBLOC_TEST_CLUSTER_B overrides it.
func secondCluster() string {
	if name := os.Getenv("TRACEBLOC_TEST_CLUSTER_B"); name != "" {
		return name
	}
	return "test-b"
}

// rebuiltOn is e's world on another cluster instance: the same backend and namespace name
// (created there for the test), that cluster's id.
func rebuiltOn(t *testing.T, e *env, name string) *env {
	t.Helper()
	b := clustertest.GetNamed(t, name)
	ctx := context.Background()
	if _, err := b.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Client.CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{}) })
	n := *e
	n.cluster, n.uid = b, clustertest.KubeSystemUID(t, b)
	n.kube, n.kubeCalls = countingClient(t, b.REST)
	if n.uid == e.uid {
		t.Fatalf("clusters %s and %s have the same id %s", e.cluster.Name, name, n.uid)
	}
	return &n
}

// TestRebuiltClusterWaitsForTheOldClient: a cluster was rebuilt (a new kube-system UID,
// the same namespace) while its old client is offline. The new cluster's bootstrap says
// which client holds the namespace, its old cluster id and its last heartbeat, and how to
// free it, and waits; once the person revokes or deletes the old client in the dashboard,
// the run goes on by itself with the same sign-in and mints the new cluster's client.
// The contract-only backend (no credential_revoked, no namespace_conflict code) gets the
// same wait, which a revoke does not end there: only the deletion does.
func TestRebuiltClusterWaitsForTheOldClient(t *testing.T) {
	for _, tc := range []struct {
		name         string
		contractOnly bool
		revoke       bool // the person revokes the old client; else deletes it
	}{
		{name: "deleted"},
		{name: "revoked", revoke: true},
		{name: "contract-only, deleted", contractOnly: true},
	} {
		t.Run(tc.name, func(t *testing.T) { assertRebuiltClusterWaits(t, tc.contractOnly, tc.revoke) })
	}
}

func assertRebuiltClusterWaits(t *testing.T, contractOnly, revoke bool) {
	var ago atomic.Int64 // how far in the past the backend's clock is
	e := newEnv(t, devbackend.Config{ContractOnly: contractOnly, Now: func() time.Time { return time.Now().Add(-time.Duration(ago.Load())) }})
	if _, err := e.start(e.ctx(), e.newRun("edge-old")); err != nil {
		t.Fatal(err)
	}
	old := e.clients()[0]
	ago.Store(int64(time.Hour))
	e.devPost(fmt.Sprintf("/_dev/clients/%d/heartbeat", old.ID), `{"status":0}`) // its last, an hour ago
	ago.Store(0)
	heartbeat := e.clients()[0].LastInfoUpdate
	if heartbeat == nil {
		t.Fatal("the old client has no heartbeat")
	}

	b := rebuiltOn(t, e, secondCluster())
	r := b.newRun("edge-new")
	r.formerPoll = 200 * time.Millisecond
	type result struct {
		out *bootstrapper.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() { out, err := b.start(b.ctx(), r); done <- result{out, err} }()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(r.out.String(), "looks rebuilt"); {
		select {
		case res := <-done:
			t.Fatalf("the run ended without saying the cluster looks rebuilt: %+v, %v\n%s", res.out, res.err, r.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run does not say the cluster looks rebuilt:\n%s", r.out.String())
		}
	}
	log := r.out.String()
	for _, want := range []string{old.FirstName, *old.ClusterID, b.uid, e.ns, "revoke or delete client", "goes on by itself", "last heartbeat " + heartbeat.UTC().Format(time.RFC3339)} {
		if !strings.Contains(log, want) {
			t.Errorf("the message does not say %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "not enough") {
		t.Errorf("the message still says revoking is not enough:\n%s", log)
	}
	assertWaitingEvent(t, b, "edge-new", old.FirstName)
	dashboard := e.userClient("dev@example.com") // the person, in the dashboard
	revokeOld := func() {
		if _, err := dashboard.RevokeEdgeDevice(context.Background(), old.ID); err != nil {
			t.Fatal(err)
		}
	}
	wantClients := 1
	switch {
	case contractOnly:
		revokeOld()
		assertStillWaiting(t, b, r, done, "a revoke on a backend that does not show it")
		b.devDelete(fmt.Sprintf("/_dev/clients/%d", old.ID)) // the dashboard's delete
	case revoke:
		revokeOld()
		wantClients = 2 // the revoked record stays
	default:
		b.devDelete(fmt.Sprintf("/_dev/clients/%d", old.ID))
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("the run did not go on after the old client was revoked or deleted:\n%s", r.out.String())
	}
	if res.err != nil || res.out.Enrollment != credential.Minted {
		t.Fatalf("Run() = %+v, %v, want a new client minted\n%s", res.out, res.err, r.out.String())
	}
	clients := b.clients()
	var mine []api.EdgeDevice
	for _, c := range clients {
		if c.ClusterID != nil && *c.ClusterID == b.uid && c.Namespace == e.ns {
			mine = append(mine, c)
		}
	}
	if len(clients) != wantClients || len(mine) != 1 || mine[0].CredentialRevoked {
		t.Fatalf("clients = %+v, want %d with one new client of cluster %s in %s", clients, wantClients, b.uid, e.ns)
	}
	if len(distinct(r.codes)) != 1 {
		t.Errorf("codes shown = %v, want the one approval", r.codes)
	}
	b.verify()
}

// assertStillWaiting: after what happened (why), the run polls on.
func assertStillWaiting[T any](t *testing.T, b *env, r *run, done <-chan T, why string) {
	t.Helper()
	lists := b.countRequests(http.MethodGet, "/edge-device/")
	if !b.waitRequests(http.MethodGet, "/edge-device/", lists+2, time.Minute) {
		t.Fatalf("the run stopped polling after %s:\n%s", why, r.out.String())
	}
	select {
	case res := <-done:
		t.Fatalf("the run ended after %s: %+v\n%s", why, res, r.out.String())
	default:
	}
}

// countRequests is how many method path requests the backend has served.
func (e *env) countRequests(method, path string) int {
	n := 0
	for _, req := range e.backend.Requests() {
		if req.Method == method && req.Path == path {
			n++
		}
	}
	return n
}

// waitRequests reports whether the backend comes to have served n method path requests
// within d.
func (e *env) waitRequests(method, path string, n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for e.countRequests(method, path) < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// assertWaitingEvent checks that the pod has the Event that says what the run waits for.
func assertWaitingEvent(t *testing.T, e *env, pod, client string) {
	t.Helper()
	evs, err := e.cluster.Client.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Name == pod && ev.Reason == events.ReasonWaiting && strings.Contains(ev.Message, client) {
			return
		}
	}
	t.Errorf("no %s Event on pod %s naming client %s", events.ReasonWaiting, pod, client)
}
