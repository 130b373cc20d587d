package journey_test

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var codeRE = regexp.MustCompile(`\b[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}\b`)

// podsOf returns the pods of the release's workload that are not being deleted. A failed
// list is an empty one: the callers poll.
func (w *world) podsOf(ctx context.Context, release, ns string) []corev1.Pod {
	pods, _ := w.stage.Pods(ctx, release, ns)
	return pods
}

// replicaLogs follows the bootstrap log of every pod of a release, as a person would with
// `kubectl logs -l ... -c bootstrap -f`, and approves each distinct code once.
type replicaLogs struct {
	mu       sync.Mutex
	logs     map[string]*strings.Builder // pod -> its bootstrap log
	codes    map[string][]string         // code -> pods that showed it
	approved map[string]bool
	// started is closed once every replica's bootstrap runs: no code is approved before,
	// so that all of them start before the approval.
	started chan struct{}
}

func (w *world) followReplicas(ctx context.Context, release, ns string, n int) *replicaLogs {
	rl := &replicaLogs{logs: map[string]*strings.Builder{}, codes: map[string][]string{}, approved: map[string]bool{}, started: make(chan struct{})}
	w.t.Cleanup(func() {
		suite.add(fmt.Sprintf("bootstrap logs followed of the replicas of %s/%s (%s)", ns, release, w.t.Name()), rl.String())
	})
	started := map[string]bool{}
	go func() {
		for len(started) < n && ctx.Err() == nil {
			for _, p := range w.podsOf(ctx, release, ns) {
				if started[p.Name] || !bootstrapRunning(&p) {
					continue
				}
				started[p.Name] = true
				go rl.stream(ctx, w, ns, p.Name)
			}
			if len(started) >= n {
				close(rl.started)
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return rl
}

func bootstrapRunning(p *corev1.Pod) bool {
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name == "bootstrap" && (st.State.Running != nil || st.State.Terminated != nil) {
			return true
		}
	}
	return false
}

func (rl *replicaLogs) stream(ctx context.Context, w *world, ns, pod string) {
	rl.mu.Lock()
	b := &strings.Builder{}
	rl.logs[pod] = b
	rl.mu.Unlock()
	s, err := w.c.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: "bootstrap", Follow: true}).Stream(ctx)
	if err != nil {
		rl.mu.Lock()
		b.WriteString("(no log: " + err.Error() + ")\n")
		rl.mu.Unlock()
		return
	}
	defer s.Close()
	sc := bufio.NewScanner(s)
	for sc.Scan() {
		line := sc.Text()
		rl.mu.Lock()
		b.WriteString(line + "\n")
		code := codeRE.FindString(line)
		first := false
		if code != "" {
			if !contains(rl.codes[code], pod) {
				rl.codes[code] = append(rl.codes[code], pod)
			}
			first = !rl.approved[code]
			rl.approved[code] = true
		}
		rl.mu.Unlock()
		if first {
			go func() {
				select {
				case <-rl.started:
					_ = w.backend.Approve(code, "dev@example.com")
				case <-ctx.Done():
				}
			}()
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (rl *replicaLogs) String() string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	var names []string
	for n := range rl.logs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString("--- " + n + "\n" + rl.logs[n].String())
	}
	return b.String()
}

// TestReplicasShareOneCredential: the enrollment Deployment scaled to 3 before the
// approval (jobs-manager cannot be: its pod binds fixed ports on the host network of the
// harness, and its volumes are ReadWriteOnce). One replica shows a code and enrolls; the
// others wait on the Lease and start with the same credential.
func TestReplicasShareOneCredential(t *testing.T) {
	const replicas = 3
	w := newWorld(t, clusterName, enrollOnly)
	ctx := w.ctx()
	w.install(ctx, "edge", w.ns)
	name := w.stage.Workload("edge")
	// A merge patch, as `kubectl scale` is: no resourceVersion to lose a race with the
	// Deployment controller over.
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := w.c.Client.AppsV1().Deployments(w.ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	rl := w.followReplicas(ctx, "edge", w.ns, replicas)
	running := w.waitReplicasRunning(ctx, replicas, rl)

	rl.mu.Lock()
	codes := map[string][]string{}
	for c, pods := range rl.codes {
		codes[c] = pods
	}
	rl.mu.Unlock()
	if len(codes) != 1 {
		t.Errorf("codes shown across the replicas = %v, want exactly one\n%s", codes, rl.String())
	}
	clients := w.clients()
	if len(clients) != 1 || clients[0].ClusterID == nil || *clients[0].ClusterID != w.uid {
		t.Fatalf("clients = %+v, want one anchored to %s", clients, w.uid)
	}
	data, _ := w.secretKeys(w.ns, "edge")
	if string(data["CLIENT_ID"]) != clients[0].Username {
		t.Errorf("CLIENT_ID = %q, want the one client's %q", data["CLIENT_ID"], clients[0].Username)
	}
	if len(running) < replicas {
		t.Errorf("%d replicas running, want %d", len(running), replicas)
	}
	w.assertUserTokensRevoked()
}

// waitReplicasRunning waits until n pods of the release's workload run their main
// container: each one's bootstrap ended with the credential in place.
func (w *world) waitReplicasRunning(ctx context.Context, n int, rl *replicaLogs) []corev1.Pod {
	w.t.Helper()
	for {
		var running []corev1.Pod
		for _, p := range w.podsOf(ctx, "edge", w.ns) {
			if len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Running != nil {
				running = append(running, p)
			}
		}
		if len(running) >= n {
			return running
		}
		select {
		case <-ctx.Done():
			w.t.Fatalf("%d of %d replicas running before the deadline\nbootstrap logs:\n%s", len(running), n, rl.String())
		case <-time.After(300 * time.Millisecond):
		}
	}
}
