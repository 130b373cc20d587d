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
)

var codeRE = regexp.MustCompile(`\b[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}\b`)

// podsOf returns the release's workload pods (not hooks, not tests, not being deleted).
// A failed list is an empty one: the callers poll.
func (w *world) podsOf(ctx context.Context, release, ns string) []corev1.Pod {
	list, err := w.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	if err != nil {
		return nil
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if _, hook := p.Annotations["helm.sh/hook"]; hook || p.DeletionTimestamp != nil || p.Labels["app.kubernetes.io/component"] == "test" {
			continue
		}
		out = append(out, p)
	}
	return out
}

// replicaLogs follows the bootstrap log of every pod of a release, as a person would with
// `kubectl logs -l ... -c bootstrap -f`, and approves each distinct code once.
type replicaLogs struct {
	mu       sync.Mutex
	logs     map[string]*strings.Builder // pod -> its bootstrap log
	codes    map[string][]string         // code -> pods that showed it
	approved map[string]bool
}

func (w *world) followReplicas(ctx context.Context, release, ns string, n int) *replicaLogs {
	rl := &replicaLogs{logs: map[string]*strings.Builder{}, codes: map[string][]string{}, approved: map[string]bool{}}
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
			_ = w.backend.Approve(code, "dev@example.com")
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

// TestReplicasShareOneCredential: a Deployment with 3 replicas. One of them shows a code
// and enrolls; the others wait on the Lease and start with the same credential.
func TestReplicasShareOneCredential(t *testing.T) {
	const replicas = 3
	w := newWorld(t, clusterName)
	ctx := w.ctx()
	w.install(ctx, "edge", w.ns, "--set", "replicas=3")
	rl := w.followReplicas(ctx, "edge", w.ns, replicas)

	// Every replica gets its workload running.
	var running []corev1.Pod
	for {
		running = running[:0]
		for _, p := range w.podsOf(ctx, "edge", w.ns) {
			for _, st := range p.Status.ContainerStatuses {
				if st.Name == "edge" && st.State.Running != nil {
					running = append(running, p)
				}
			}
		}
		if len(running) >= replicas {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d replicas running before the deadline\nbootstrap logs:\n%s", len(running), replicas, rl.String())
		case <-time.After(300 * time.Millisecond):
		}
	}

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
	// Each replica logged in with it (its workload says so).
	for _, p := range running {
		var wl string
		for deadline := time.Now().Add(30 * time.Second); ; {
			b, err := w.c.Client.CoreV1().Pods(w.ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: "edge"}).DoRaw(ctx)
			wl = string(b)
			if err == nil && strings.Contains(wl, "logged in to "+w.url) || time.Now().After(deadline) {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if !strings.Contains(wl, "logged in to "+w.url) {
			t.Errorf("replica %s did not log in with the credential:\n%s", p.Name, wl)
		}
	}
	w.assertUserTokensRevoked()
}
