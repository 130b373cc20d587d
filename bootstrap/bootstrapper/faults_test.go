package bootstrapper_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/tracebloc/edge/bootstrap/bootstrapper"
	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/internal/devbackend"
)

// faultTimeout is the bootstrap's HTTP timeout in these tests; a delayed answer waits longer.
const faultTimeout = 2 * time.Second

// startTimed is env.start approving each code once (see approveOnce).
func (e *env) startTimed(ctx context.Context, r *run) (*bootstrapper.Outcome, error) {
	e.t.Helper()
	return e.startWith(ctx, r, e.approveOnce)
}

// approveOnce approves a code as dev@example.com. A run never shows a code of an earlier
// run (codes live in memory only); a code already decided or forgotten by the backend, as
// after a faulted answer, is passed over as a person's late click would be.
func (e *env) approveOnce(r *run, code string) {
	r.mu.Lock()
	r.codes = append(r.codes, code)
	r.mu.Unlock()
	if r.approve == "-" {
		return
	}
	err := e.backend.Approve(code, "dev@example.com")
	if err != nil && !errors.Is(err, devbackend.ErrDecidedCode) && !errors.Is(err, devbackend.ErrUnknownCode) {
		e.t.Errorf("approve %s: %v", code, err)
	}
}

// converge starts the bootstrap again after each failed run, as the kubelet restarts the
// init container, and returns the failures seen before the run that succeeded.
func (e *env) converge(ctx context.Context, maxRuns int) []error {
	e.t.Helper()
	var failed []error
	for i := range maxRuns {
		r := e.newRun(fmt.Sprintf("edge-%d", i))
		r.cfg.HTTPTimeout = faultTimeout
		_, err := e.startTimed(ctx, r)
		if testing.Verbose() {
			e.t.Logf("run %d:\n%s", i+1, r.out.String())
		}
		if err == nil {
			return failed
		}
		e.t.Logf("run %d failed (the kubelet would restart it): %v", i+1, err)
		failed = append(failed, err)
	}
	e.t.Fatalf("no run of %d converged; last error: %v", maxRuns, failed[len(failed)-1])
	return nil
}

// fault arms /_dev/faults.
func (e *env) fault(path string, status, count, delayMS int) {
	e.t.Helper()
	e.devPost("/_dev/faults", fmt.Sprintf(`{"path":%q,"status":%d,"count":%d,"delay_ms":%d}`, path, status, count, delayMS))
}

// assertConverged checks the end state every fault must leave: one client, anchored to this
// cluster; a credential the backend accepts; every user token revoked.
func (e *env) assertConverged() {
	e.t.Helper()
	e.devDelete("/_dev/faults") // faults not consumed must not hit the checks below
	clients := e.clients()
	if len(clients) != 1 || clients[0].ClusterID == nil || *clients[0].ClusterID != e.uid {
		e.t.Fatalf("backend clients = %+v, want exactly one with cluster id %s", clients, e.uid)
	}
	if s := e.secret(); string(s.Data[credential.KeyClientID]) != clients[0].Username {
		e.t.Errorf("CLIENT_ID = %q, want the client's username %q", s.Data[credential.KeyClientID], clients[0].Username)
	}
	e.verify()
	e.assertUserTokensRevoked()
}

func (e *env) devDelete(path string) {
	e.t.Helper()
	e.devRequest(http.MethodDelete, path, "").Body.Close()
}

// faultKinds are the failures the backend (or the path to it) can show.
var faultKinds = []struct {
	name            string
	status, delayMS int
}{
	{name: "500", status: 500},
	{name: "502", status: 502},
	{name: "429 with Retry-After", status: 429},
	{name: "dropped connection", status: 0},
	{name: "slower than the client timeout", status: 503, delayMS: 3000},
}

// TestBackendFaultsConverge makes every endpoint the enrollment calls fail twice in each
// way; the enrollment still converges (restarted when a step legitimately gives up), with
// exactly one client, a working credential and no user token left valid.
func TestBackendFaultsConverge(t *testing.T) {
	endpoints := []struct {
		name, path string
		lostSecret bool // enroll once and delete the Secret first: the path that calls it
		retried    bool // the bootstrap retries it within the run: no run may fail
	}{
		{name: "device code", path: "/device/code", retried: true},
		{name: "device token", path: "/device/token", retried: true},
		{name: "userinfo", path: "/userinfo/"},
		{name: "edge-device list and create", path: "/edge-device/"},
		// /api-token-auth/ is called when the create finds this cluster's client already
		// there: a reinstall that lost its Secret.
		{name: "api-token-auth", path: "/api-token-auth/", lostSecret: true},
		{name: "revoke", path: "/auth/revoke", retried: true},
	}
	for _, ep := range endpoints {
		for _, fk := range faultKinds {
			t.Run(ep.name+"/"+fk.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, devbackend.Config{})
				ctx := e.ctx()
				if ep.lostSecret {
					e.converge(ctx, 1)
					if err := e.cluster.Client.CoreV1().Secrets(e.ns).Delete(ctx, secretName, metav1.DeleteOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				before := len(e.backend.Requests())
				e.fault(ep.path, fk.status, 2, fk.delayMS)
				failed := e.converge(ctx, 3)
				want := fk.status // the status the backend logged for a faulted call (0: dropped)
				// A delayed fault on a POST is logged when its delay ends (the server does not
				// see the client leave before it reads the body): wait for it.
				hit := 0
				for deadline := time.Now().Add(10 * time.Second); hit == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					for _, rq := range e.backend.Requests()[before:] {
						if rq.Path == ep.path && rq.Status == want {
							hit++
						}
					}
				}
				if hit == 0 {
					t.Errorf("no call to %s met the fault (status %d): the test did not test", ep.path, want)
				}
				for _, err := range failed {
					// (A run may also fail when a loaded API server lets the Lease lapse:
					// its work is cancelled and the restart converges; that is not this fault.)
					if ep.retried && strings.Contains(err.Error(), ep.path) {
						t.Errorf("a run failed on %s, want none: the bootstrap retries it itself: %v", ep.path, err)
					}
				}
				e.assertConverged()
			})
		}
	}
}

// TestLostCreateAnswerConverges: the create reaches the backend and mints the client, but
// its answer is lost (the connection drops, or the answer comes after the client's timeout).
// The next run must find its own client through the write-ahead password, not mint another.
func TestLostCreateAnswerConverges(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(w http.ResponseWriter, r *http.Request)
	}{
		{name: "dropped after the create", lose: func(w http.ResponseWriter, _ *http.Request) {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		}},
		{name: "answer after the client timeout", lose: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // answer only once the client gave up waiting
			w.WriteHeader(http.StatusServiceUnavailable)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var lost atomic.Int32
			e := newEnvWrapped(t, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPost && r.URL.Path == "/edge-device/" && lost.Add(1) == 1 {
						next.ServeHTTP(httptest.NewRecorder(), r) // the backend does the work...
						tc.lose(w, r)                             // ...and the answer never arrives
						return
					}
					next.ServeHTTP(w, r)
				})
			})
			failed := e.converge(e.ctx(), 3)
			if len(failed) != 1 {
				t.Errorf("failed runs = %d (%v), want 1: the run whose create answer was lost", len(failed), failed)
			}
			if s := e.secret(); s.Annotations[credential.AnnEnrollment] != credential.Minted {
				t.Errorf("enrollment = %q, want %q (our own earlier create, recognised)", s.Annotations[credential.AnnEnrollment], credential.Minted)
			}
			e.assertConverged()
		})
	}
}

// newEnvWrapped is newEnv with wrap around the development backend's handler.
func newEnvWrapped(t *testing.T, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	e := newEnv(t, devbackend.Config{})
	hs := httptest.NewServer(wrap(e.backend.Handler()))
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

// TestPermanentFaultEndsWithAClearError: /device/token answers 500 for ever. The flow
// retries (a 5xx is transient) for the code's lifetime, then stops with one error that names
// the failing call and the next step, bounded by the code's expiry: never a hang. The
// code lives deviceflow.MinExpiresIn, the shortest lifetime the flow accepts.
func TestPermanentFaultEndsWithAClearError(t *testing.T) {
	e := newEnv(t, devbackend.Config{DeviceTTL: deviceflow.MinExpiresIn})
	e.fault("/device/token", 500, 1000, 0)
	r := e.newRun("edge-1")
	r.cfg.HTTPTimeout = faultTimeout
	ctx, cancel := context.WithTimeout(context.Background(), deviceflow.MinExpiresIn+time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := e.startTimed(ctx, r); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(deviceflow.MinExpiresIn + 2*time.Minute): // far past the code's expiry: a hang
		t.Fatalf("the run did not end\n%s", r.out.String())
	}
	if !errors.Is(err, deviceflow.ErrUnreachable) || !strings.Contains(err.Error(), "POST /device/token: HTTP 500") || ctx.Err() != nil {
		t.Errorf("Run() = %v, want ErrUnreachable naming POST /device/token: HTTP 500, before the run's deadline", err)
	}
	if logs := r.out.String(); !strings.Contains(logs, "could not ask whether the code was approved, retrying") {
		t.Errorf("the logs lack the retries:\n%s", logs)
	}
	if n := len(e.clients()); n != 0 {
		t.Errorf("clients = %d, want 0", n)
	}
}

// conflictingClient is a Kubernetes client that, once armed, changes the credential Secret
// (with the admin client) just before the bootstrap's next update of it reaches the API
// server: that update then carries a stale resourceVersion and gets 409 Conflict.
type conflictingClient struct {
	armed     atomic.Bool
	conflicts atomic.Int32
}

func (cc *conflictingClient) client(t *testing.T, e *env) kubernetes.Interface {
	t.Helper()
	rc := rest.CopyConfig(e.cluster.REST)
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/secrets/"+secretName) && cc.armed.CompareAndSwap(true, false) {
				s, err := e.cluster.Client.CoreV1().Secrets(e.ns).Get(r.Context(), secretName, metav1.GetOptions{})
				if err != nil {
					return nil, err
				}
				s.Annotations["test.tracebloc.io/touched"] = "by-someone-else"
				if _, err := e.cluster.Client.CoreV1().Secrets(e.ns).Update(r.Context(), s, metav1.UpdateOptions{}); err != nil {
					return nil, err
				}
			}
			resp, err := rt.RoundTrip(r)
			if err == nil && resp.StatusCode == http.StatusConflict {
				cc.conflicts.Add(1)
			}
			return resp, err
		})
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestSecretConflictAtCommitConverges: the Secret changes underneath between the
// write-ahead and the commit; the commit meets a resourceVersion conflict, reads again and
// still writes the credential, keeping the other writer's change.
func TestSecretConflictAtCommitConverges(t *testing.T) {
	for _, step := range []string{"create"} {
		t.Run("changed at "+step, func(t *testing.T) {
			e := newEnv(t, devbackend.Config{})
			cc := &conflictingClient{}
			e.kube = cc.client(t, e)
			r := e.newRun("edge-1")
			r.hook = func(s string) {
				if s == step {
					cc.armed.Store(true)
				}
			}
			if _, err := e.start(e.ctx(), r); err != nil {
				t.Fatalf("Run() = %v\n%s", err, r.out.String())
			}
			if cc.armed.Load() || cc.conflicts.Load() == 0 {
				t.Fatalf("no resourceVersion conflict happened (armed %v, conflicts %d): the test did not test", cc.armed.Load(), cc.conflicts.Load())
			}
			if got := e.secret().Annotations["test.tracebloc.io/touched"]; got != "by-someone-else" {
				t.Errorf("the other writer's annotation = %q: the bootstrap overwrote a change it had not read", got)
			}
			e.assertConverged()
		})
	}
}

// TestLeaseOfADeadPodIsTakenOver: the Lease is held by a pod that died without releasing
// it. The bootstrap waits for the Lease to expire, takes it over and enrolls.
func TestLeaseOfADeadPodIsTakenOver(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	ctx := e.ctx()
	now := metav1.NewMicroTime(time.Now())
	if _, err := e.cluster.Client.CoordinationV1().Leases(e.ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: secretName + "-lock"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("dead-pod"), LeaseDurationSeconds: ptr.To[int32](3),
			AcquireTime: &now, RenewTime: &now,
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := e.newRun("edge-1")
	var mu sync.Mutex
	var holderAtApproval string
	r.hook = func(step string) {
		if step != "approval" {
			return
		}
		l, err := e.cluster.Client.CoordinationV1().Leases(e.ns).Get(context.Background(), secretName+"-lock", metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil {
			mu.Lock()
			holderAtApproval = *l.Spec.HolderIdentity
			mu.Unlock()
		}
	}
	if _, err := e.start(ctx, r); err != nil {
		t.Fatalf("Run() = %v\n%s", err, r.out.String())
	}
	if !strings.Contains(r.out.String(), `"holder":"dead-pod"`) {
		t.Errorf("the run did not see the dead pod's Lease (no wait logged):\n%s", r.out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if holderAtApproval != "edge-1" {
		t.Errorf("Lease holder while enrolling = %q, want edge-1 (taken over)", holderAtApproval)
	}
	e.assertConverged()
}
