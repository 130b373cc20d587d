package bootstrapper_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/syncbuf"
)

// faultsCluster is the instance whose API server these tests stop: the other tests of
// the repository share "test" and must not see it go.
const faultsCluster = "faults"

// outage stops the API server of c, calls during, keeps it down for down, then starts it
// again; the result arrives on the returned channel. A test that ends early still gets
// its API server back.
func outage(t *testing.T, c *cluster.Cluster, down time.Duration, during func()) <-chan error {
	t.Helper()
	t.Cleanup(func() { _ = c.StartAPIServer(context.Background()) }) // "still runs" when all went well
	res := make(chan error, 1)
	if err := c.StopAPIServer(); err != nil {
		res <- err
		return res
	}
	go func() {
		during()
		time.Sleep(down)
		res <- c.StartAPIServer(context.Background())
	}()
	return res
}

// waitFor reports whether out comes to hold text within d.
func waitFor(out *syncbuf.Buffer, text string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !strings.Contains(out.String(), text) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// distinct returns the codes without repeats (a banner may be written in several parts).
func distinct(codes []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range codes {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// The API server restarts while the bootstrap waits for approval, and the person approves
// meanwhile: the Lease is lost and taken again, the round that takes it polls the code
// already shown (kept in memory by the run, never in the cluster), and the run finishes
// with one code, one client, one user token and a working credential, without a restart.
func TestAPIServerRestartWhileWaitingForApproval(t *testing.T) {
	c := clustertest.GetNamed(t, faultsCluster)
	e := newEnvOn(t, c, devbackend.Config{})
	r := e.newRun("edge-0")
	r.approve = "-" // the outage approves, while the API server is down
	var (
		once      sync.Once
		restarted <-chan error
	)
	down := r.cfg.LeaseDuration // after the Lease is lost
	out, err := e.startWith(e.ctx(), r, func(r *run, code string) {
		e.answer(r, code)
		once.Do(func() {
			restarted = outage(t, c, down, func() {
				// Approve once the Lease is lost, so the approval can only be seen by
				// polling the same code again after the Lease is back.
				if !waitFor(&r.out, "lost the enrollment lease", time.Minute) {
					t.Errorf("the Lease was not lost within a minute of the API server stopping")
				}
				if err := e.backend.Approve(code, "dev@example.com"); err != nil {
					t.Errorf("approve %s: %v", code, err)
				}
			})
		})
	})
	if err != nil {
		t.Fatalf("Run() error = %v\nlogs:\n%s", err, r.out.String())
	}
	if restarted == nil {
		t.Fatal("no code was shown, so the API server was never restarted")
	}
	if err := <-restarted; err != nil {
		t.Fatalf("restart the API server: %v", err)
	}
	assertRodeOutTheRestart(t, e, r, out.Enrollment, 1)
	if !strings.Contains(r.out.String(), "still waiting for the activation code shown before") {
		t.Errorf("the run did not poll the same code again after the Lease came back:\n%s", r.out.String())
	}
	users := 0
	for _, tok := range e.tokens() {
		if tok.Kind == "user" {
			users++
		}
	}
	if users != 1 {
		t.Errorf("user tokens issued = %d, want 1", users)
	}
}

// The API server goes away just before the write-ahead, after the approval: the writes
// wait for it, the Lease is lost and taken again, and the enrollment goes on with the same
// sign-in, so nobody approves twice.
func TestAPIServerRestartAtTheWriteAhead(t *testing.T) {
	c := clustertest.GetNamed(t, faultsCluster)
	e := newEnvOn(t, c, devbackend.Config{})
	r := e.newRun("edge-0")
	var (
		once      sync.Once
		restarted <-chan error
	)
	r.hook = func(step string) {
		if step == "write-ahead" {
			once.Do(func() { restarted = outage(t, c, 2*r.cfg.LeaseDuration, func() {}) })
		}
	}
	out, err := e.start(e.ctx(), r)
	if err != nil {
		t.Fatalf("Run() error = %v\nlogs:\n%s", err, r.out.String())
	}
	if restarted == nil {
		t.Fatal("the run never reached the write-ahead")
	}
	if err := <-restarted; err != nil {
		t.Fatalf("restart the API server: %v", err)
	}
	assertRodeOutTheRestart(t, e, r, out.Enrollment, 1)
	for _, want := range []string{"the Kubernetes API server is not answering", "still signed in from before the lease was lost"} {
		if !strings.Contains(r.out.String(), want) {
			t.Errorf("the logs lack %q:\n%s", want, r.out.String())
		}
	}
}

// assertRodeOutTheRestart checks the end of a run that lost its Lease: minted, with
// wantCodes distinct codes shown, one client, a working credential, no user token left.
func assertRodeOutTheRestart(t *testing.T, e *env, r *run, enrollment string, wantCodes int) {
	t.Helper()
	if enrollment != credential.Minted {
		t.Errorf("enrollment = %q, want %q", enrollment, credential.Minted)
	}
	if !strings.Contains(r.out.String(), "lost the enrollment lease") {
		t.Errorf("the Lease was never lost: the outage was too short to test anything\n%s", r.out.String())
	}
	r.mu.Lock()
	codes := distinct(r.codes)
	r.mu.Unlock()
	if len(codes) != wantCodes {
		t.Errorf("codes shown = %v, want %d distinct codes", codes, wantCodes)
	}
	if n := len(e.clients()); n != 1 {
		t.Errorf("clients = %d, want 1", n)
	}
	e.verify()
	e.assertUserTokensRevoked()
}
