package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// Outcomes of a random kill, by what had happened when the process died.
const (
	killedBeforeCode  = "killed before the code was shown"
	killedPolling     = "killed while waiting for approval or enrolling"
	killedAfterCreate = "killed after the client was created"
	finishedFirst     = "finished before the kill"
)

// TestCrashAtRandomInstantsConverges kills the bootstrap with SIGKILL, from outside the
// process, at a random instant of an enrollment (seeded: TRACEBLOC_CRASH_SEED replays the
// same instants), starts it again, and checks that every run ends with exactly one client
// and a credential that /api-token-auth/ accepts. Each run has its own namespace and its
// own development backend (device interval 1 s); runs go in parallel (go test -parallel).
func TestCrashAtRandomInstantsConverges(t *testing.T) {
	c := clustertest.Get(t)
	bin := buildCrashBinary(t)
	seed := time.Now().UnixNano()
	if s := os.Getenv("TRACEBLOC_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("TRACEBLOC_CRASH_SEED=%q: want an integer: %v", s, err)
		}
	}
	t.Logf("seed %d (TRACEBLOC_CRASH_SEED=%d replays these kill instants)", seed, seed)
	runs := 30
	if s := os.Getenv("TRACEBLOC_CRASH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TRACEBLOC_CRASH_RUNS=%q: want a positive integer", s)
		}
		runs = n
	}
	// span covers a whole enrollment with a 1 s device interval: start, Lease, code, one
	// poll, the enrollment calls and the Secret writes take about 1.2 s here (two runs in
	// parallel on 2 cores), so nearly every instant falls inside an enrollment.
	const span = 1500 * time.Millisecond
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	delays := make([]time.Duration, runs)
	for i := range delays {
		delays[i] = time.Duration(rng.Int64N(int64(span) + 1))
	}
	var (
		mu     sync.Mutex
		counts = map[string]int{}
	)
	t.Run("runs", func(t *testing.T) {
		for i, d := range delays {
			t.Run(fmt.Sprintf("%02d-kill-at-%s", i, d.Round(time.Millisecond)), func(t *testing.T) {
				t.Parallel()
				outcome := crashAtRandom(t, c, bin, d)
				t.Logf("%s", outcome)
				mu.Lock()
				counts[outcome]++
				mu.Unlock()
			})
		}
	})
	t.Logf("outcomes of %d runs (seed %d): %d %s, %d %s, %d %s, %d %s", runs, seed,
		counts[killedBeforeCode], killedBeforeCode, counts[killedPolling], killedPolling,
		counts[killedAfterCreate], killedAfterCreate, counts[finishedFirst], finishedFirst)
}

// crashAtRandom is one run: start, SIGKILL after delay, start again without a kill, check.
func crashAtRandom(t *testing.T, c *cluster.Cluster, bin string, delay time.Duration) string {
	srv, url, ns, env := crashWorld(t, c)
	env = append(env, "TRACEBLOC_TEST_CRASH_AT=")
	var logs []*bytes.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			for i, b := range logs {
				t.Logf("stderr of start %d:\n%s", i+1, b)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// launch starts the bootstrap; its user codes are approved as they appear. done gets
	// the exit once stdout is drained; shown tells whether a code was printed.
	launch := func() (cmd *exec.Cmd, done <-chan error, shown *atomic.Bool) {
		cmd = exec.CommandContext(ctx, bin)
		cmd.Env = env
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stderr := new(bytes.Buffer)
		logs = append(logs, stderr)
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ch, shown := make(chan error, 1), new(atomic.Bool)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if code := userCodeRE.FindString(sc.Text()); code != "" {
					shown.Store(true)
					_ = srv.Approve(code, "dev@example.com") // the banner may print a code on more than one line
				}
			}
			ch <- cmd.Wait()
		}()
		return cmd, ch, shown
	}

	cmd, done, shown := launch()
	kill := time.NewTimer(delay)
	var outcome string
	select {
	case err := <-done:
		kill.Stop()
		if err != nil {
			t.Fatalf("the first start ended on its own before the kill at %s: %v", delay, err)
		}
		outcome = finishedFirst
	case <-kill.C:
		_ = cmd.Process.Kill() // SIGKILL; fails only when the process already ended
		err := <-done
		var ee *exec.ExitError
		switch {
		case err == nil:
			outcome = finishedFirst
		case !errors.As(err, &ee):
			t.Fatalf("waiting for the killed bootstrap: %v", err)
		}
		if outcome == "" {
			clients, err := srv.Clients()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case len(clients) > 0:
				outcome = killedAfterCreate
			case shown.Load():
				outcome = killedPolling
			default:
				outcome = killedBeforeCode
			}
		}
	}

	_, done, _ = launch()
	if err := <-done; err != nil {
		t.Fatalf("the start after a kill at %s (%s) failed: %v", delay, outcome, err)
	}
	clients, err := srv.Clients()
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 1 {
		t.Fatalf("clients after a kill at %s (%s) = %d, want 1", delay, outcome, len(clients))
	}
	sec, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "edge-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client, err := api.New(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyCredential(ctx, string(sec.Data["CLIENT_ID"]), string(sec.Data["CLIENT_PASSWORD"])); err != nil {
		t.Fatalf("after a kill at %s (%s) the backend refuses the credential: %v", delay, outcome, err)
	}
	return outcome
}
