package main

import (
	"bufio"
	"context"
	"os/exec"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// TestCrashAtEveryStepConverges kills the bootstrap process at each step boundary (the
// crashtest build ends the process there like a SIGKILL: no deferred call runs), starts it
// again, and checks that the cluster ends with exactly one client and a credential the
// backend accepts.
func TestCrashAtEveryStepConverges(t *testing.T) {
	c := clustertest.Get(t)
	bin := buildCrashBinary(t)
	steps := []string{"fast-path", "approval", "userinfo", "list", "write-ahead", "create", "created", "commit", "finish"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			srv, url, ns, env := crashWorld(t, c)
			start := func(crashAt string) int {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin)
				cmd.Env = append(env, "TRACEBLOC_TEST_CRASH_AT="+crashAt)
				stdout, _ := cmd.StdoutPipe()
				cmd.Stderr = &testWriter{t}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if code := userCodeRE.FindString(sc.Text()); code != "" {
						_ = srv.Approve(code, "dev@example.com") // the banner may print a code on more than one line
					}
				}
				err := cmd.Wait()
				if ee, ok := err.(*exec.ExitError); ok {
					return ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return 0
			}
			if code := start(step); code != 99 {
				t.Fatalf("the first run exited %d, want 99 (killed at %s)", code, step)
			}
			if code := start(""); code != 0 {
				t.Fatalf("the run after the crash at %s exited %d, want 0", step, code)
			}
			clients, err := srv.Clients()
			if err != nil {
				t.Fatal(err)
			}
			if len(clients) != 1 {
				t.Fatalf("clients after a crash at %s = %d, want 1", step, len(clients))
			}
			sec, err := c.Client.CoreV1().Secrets(ns).Get(context.Background(), "edge-credentials", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			api, _ := api.New(url)
			if err := api.VerifyCredential(context.Background(), string(sec.Data["CLIENT_ID"]), string(sec.Data["CLIENT_PASSWORD"])); err != nil {
				t.Fatalf("after a crash at %s the backend refuses the credential: %v", step, err)
			}
		})
	}
}
