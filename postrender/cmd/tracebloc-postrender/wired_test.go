package main

import (
	"strings"
	"testing"
)

// TestRunLogsWhatItWired checks the post-renderer's log: one line per object that the
// wiring of the client chart edited or removed, naming the object.
func TestRunLogsWhatItWired(t *testing.T) {
	clearEnv(t)
	stdout, stderr, err := runPR(t, fixtureStream(t), "--offline", "--namespace", "tracebloc")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	var wired []string
	for line := range strings.Lines(stderr) {
		if strings.Contains(line, " wired: ") {
			wired = append(wired, line)
		}
	}
	for i, want := range []string{
		`object="Secret tracebloc/edge-secrets"`,
		`object="Secret tracebloc-node-agents/edge-secrets"`,
		`object="DaemonSet tracebloc-node-agents/edge-resource-monitor"`,
		`object="Deployment tracebloc/edge-jobs-manager"`,
		`object="PostRendererRequired tracebloc/edge-install-with-post-renderer-tracebloc-postrender"`,
	} {
		if i >= len(wired) || !strings.Contains(wired[i], want) {
			t.Errorf("wired line %d: want one with %s; the lines:\n%s", i+1, want, strings.Join(wired, ""))
		}
	}
	if len(wired) != 5 {
		t.Errorf("%d wired lines, want 5 (one per object):\n%s", len(wired), strings.Join(wired, ""))
	}
	if strings.Contains(stdout, "PostRendererRequired") {
		t.Error("the wiring object is still in the output")
	}
}
