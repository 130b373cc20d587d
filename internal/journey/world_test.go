package journey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/journey"
	"github.com/tracebloc/edge/internal/names"
	"github.com/tracebloc/edge/internal/syncbuf"
)

// The journey runs on its own cluster instance: the post-renderer's guard allows one
// credential Secret per cluster, and the other packages' tests write theirs on "test".
// The client chart's pods bind fixed ports on the host network of the harness, so the
// scenarios run one at a time (never t.Parallel).
const clusterName = "e2e"

var (
	buildOnce sync.Once
	artifacts *journey.Artifacts
	buildErr  error
	pushed    sync.Map // cluster dir -> true
)

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := clustertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// world is one scenario: a cluster, a fresh namespace, a development backend.
type world struct {
	t        testing.TB
	c        *cluster.Cluster
	stage    *journey.Stage
	ns       string
	uid      string
	backend  *devbackend.Server
	url      string
	http     *http.Client // trusts the backend's certificate when it serves TLS
	caPEM    []byte       // the backend's certificate, when it serves TLS
	releases []installed  // installed, uninstalled when the test ends
}

type installed struct{ name, ns string }

// The two kinds of world: the release runs the tracebloc/client chart (skipped in a plain
// clone, which has none), or only the edge chart's enrollment Deployment (client.enabled
// false), enough for the scenarios about the bootstrap's decisions and much lighter.
const (
	withClient = true
	enrollOnly = false
)

func newWorld(t testing.TB, name string, client bool) *world {
	t.Helper()
	return newWorldServing(t, name, client, false)
}

// newWorldServing is newWorld with a development backend that serves HTTPS (tls) under a
// certificate of its own, which nothing trusts unless told (w.caPEM).
func newWorldServing(t testing.TB, name string, client, tls bool) *world {
	t.Helper()
	chart := chartCopy(t, client)
	if client {
		// The client chart's pods bind fixed ports of the host network (one release at a
		// time on this machine, whatever the package or instance).
		clustertest.LockHostPorts(t)
	}
	c := clustertest.GetNamed(t, name)
	root := repoRoot(t)
	pushOnce(t, root, c)
	w := &world{t: t, c: c, uid: clustertest.KubeSystemUID(t, c)}
	w.startBackend(tls)
	w.ns = clustertest.Namespace(t, c)
	helmOut := &syncbuf.Buffer{}
	w.stage = &journey.Stage{
		Root: root, Chart: chart, WithClient: client, Kubeconfig: c.Kubeconfig, Kube: c.Client,
		Helm: clustertest.Tool(t, "helm"), HelmHome: t.TempDir(), PostRender: artifacts.PostRender,
		Images: artifacts.Pins, BackendURL: w.url, Harness: c, Output: helmOut,
	}
	t.Cleanup(func() { w.removeCredentials(w.ns) })
	t.Cleanup(func() { suite.add("helm output ("+t.Name()+")", helmOut.String()) })
	w.prepare(w.ns)
	t.Cleanup(w.uninstallAll)
	w.snapshotAtEnd(w.ns) // last: it runs before the namespace is deleted
	return w
}

// chartCopy is a copy of the edge chart with its dependency (chartdeps); a test that
// needs the client chart is skipped without it.
func chartCopy(t testing.TB, client bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "edge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	withClient, err := chartdeps.Prepare(dir)
	if err != nil {
		t.Fatalf("prepare the edge chart with its dependency: %v", err)
	}
	if client && !withClient {
		t.Skipf("needs the tracebloc/client chart %s beside the repository; a plain clone has none", names.ClientChartVersion)
	}
	return dir
}

// pushOnce builds the artifacts once per test binary and pushes them once per cluster.
func pushOnce(t testing.TB, root string, c *cluster.Cluster) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tracebloc-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		artifacts, buildErr = journey.Build(ctx, root, dir, nil)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if _, done := pushed.Load(c.Dir); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := artifacts.Push(ctx, c, journey.ClientStandIns(root, c)); err != nil {
		t.Fatal(err)
	}
	pushed.Store(c.Dir, true)
}

// startBackend starts the world's development backend, whose every issued secret goes to
// the suite's secrets scan.
func (w *world) startBackend(tls bool) {
	t := w.t
	backendLog := &syncbuf.Buffer{}
	srv, err := devbackend.New(devbackend.Config{
		DeviceInterval: time.Second,
		Users: []devbackend.User{
			{Email: "dev@example.com", Account: "dev", FirstName: "Dev", Admin: true},
			{Email: "other@example.com", Account: "other", FirstName: "Other", Admin: true},
		},
		Logger: zerolog.New(backendLog),
		Issued: suite.issued,
	})
	if err != nil {
		t.Fatal(err)
	}
	suite.addWorld()
	t.Cleanup(func() { suite.add("development backend log ("+t.Name()+")", backendLog.String()) })
	hs := httptest.NewUnstartedServer(srv.Handler())
	if tls {
		hs.StartTLS()
		w.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
	} else {
		hs.Start()
	}
	t.Cleanup(func() { hs.Close(); srv.Close() })
	w.backend, w.url, w.http = srv, hs.URL, hs.Client()
}

// prepare makes ns ready for an install (Stage.Prepare) and, with the client chart, its
// node-agents namespace, which the test then deletes and scans like ns.
func (w *world) prepare(ns string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.stage.Prepare(ctx, ns); err != nil {
		w.t.Fatal(err)
	}
	if !w.stage.WithClient {
		return
	}
	agents := w.stage.NodeAgentsNamespace(ns)
	w.t.Cleanup(func() {
		grace := int64(0)
		_ = w.c.Client.CoreV1().Namespaces().Delete(context.Background(), agents, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	})
	w.snapshotAtEnd(agents)
}

// uninstallAll uninstalls the releases the test installed: the client chart's
// cluster-wide objects (ClusterRoles, their bindings) are named after the release only,
// so the next scenario's release of the same name would find them taken.
func (w *world) uninstallAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, r := range w.releases {
		_, _ = w.stage.Helm3(ctx, "uninstall", r.name, "-n", r.ns, "--wait", "--ignore-not-found")
	}
}

// removeCredentials deletes the credential Secrets of ns at once, so that the next
// scenario's guard does not see them while the namespace is still terminating.
func (w *world) removeCredentials(ns string) {
	_ = w.c.Client.CoreV1().Secrets(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: names.CredentialLabel + "=true"})
}

func (w *world) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	w.t.Cleanup(cancel)
	return ctx
}

// follower streams the bootstrap's logs into a buffer and approves (as email, "" for
// nobody) or denies each code shown.
type follower struct {
	mu    sync.Mutex
	logs  bytes.Buffer
	codes []string
	done  chan struct{}
	// approvedAt is when the last code was approved.
	approvedAt time.Time
}

func (f *follower) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.Write(p)
}
func (f *follower) String() string { f.mu.Lock(); defer f.mu.Unlock(); return f.logs.String() }
func (f *follower) Codes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.codes...)
}

func (w *world) follow(ctx context.Context, release, ns, email string, deny bool) *follower {
	return w.followRun(ctx, release, ns, email, deny, 0)
}

// followRun follows the bootstrap's run after minRestarts restarts.
func (w *world) followRun(ctx context.Context, release, ns, email string, deny bool, minRestarts int32) *follower {
	f := &follower{done: make(chan struct{})}
	w.t.Cleanup(func() {
		suite.add(fmt.Sprintf("bootstrap logs followed of %s/%s (%s, cluster %s)", ns, release, w.t.Name(), w.c.Name), f.String())
	})
	codes := make(chan string)
	go func() {
		defer close(f.done)
		_ = w.stage.FollowBootstrap(ctx, release, ns, f, codes, minRestarts)
		close(codes)
	}()
	go func() {
		for code := range codes {
			f.mu.Lock()
			f.codes = append(f.codes, code)
			f.mu.Unlock()
			switch {
			case deny:
				_ = w.backend.Deny(code)
			case email != "":
				if w.backend.Approve(code, email) == nil {
					f.mu.Lock()
					f.approvedAt = time.Now()
					f.mu.Unlock()
				}
			}
		}
	}()
	return f
}

// waitFor returns the followed logs once they contain want, once the stream has ended, or
// after 30 seconds: the exit is seen before the last lines of the log arrive.
func (f *follower) waitFor(want string) string {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if logs := f.String(); strings.Contains(logs, want) {
			return logs
		}
		select {
		case <-f.done:
			return f.String()
		case <-deadline.C:
			return f.String()
		case <-tick.C:
		}
	}
}

func (w *world) install(ctx context.Context, release, ns string, extra ...string) string {
	w.t.Helper()
	w.releases = append(w.releases, installed{release, ns})
	out, err := w.stage.Install(ctx, release, ns, extra...)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// enroll installs and approves, and waits for the workload to run.
func (w *world) enroll(release, ns string, extra ...string) (*follower, string) {
	w.t.Helper()
	ctx := w.ctx()
	out := w.install(ctx, release, ns, extra...)
	f := w.follow(ctx, release, ns, "dev@example.com", false)
	if _, err := w.stage.WaitRunning(ctx, release, ns); err != nil {
		w.t.Fatalf("%v\nbootstrap logs:\n%s", err, f.String())
	}
	return f, out
}

// waitOnline waits until the backend shows the release's client online since since.
func (w *world) waitOnline(ctx context.Context, ns, release string, since time.Time) api.EdgeDevice {
	w.t.Helper()
	data, _ := w.secretKeys(ns, release)
	list := func(context.Context) ([]api.EdgeDevice, error) { return w.backend.Clients() }
	c, err := journey.WaitOnline(ctx, list, string(data["CLIENT_ID"]), since)
	if err != nil {
		w.t.Fatalf("%v\npods: %s", err, w.podStates(ctx, ns))
	}
	return c
}

// podStates describes the pods of ns and of its node-agents namespace, for a failure.
func (w *world) podStates(ctx context.Context, ns string) string {
	var b strings.Builder
	for _, n := range []string{ns, w.stage.NodeAgentsNamespace(ns)} {
		pods, err := w.c.Client.CoreV1().Pods(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			fmt.Fprintf(&b, "\n  %s/%s %s", n, p.Name, p.Status.Phase)
			for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				state := "running"
				switch {
				case st.State.Waiting != nil:
					state = "waiting " + st.State.Waiting.Reason + " " + st.State.Waiting.Message
				case st.State.Terminated != nil:
					state = fmt.Sprintf("exited %d", st.State.Terminated.ExitCode)
				}
				fmt.Fprintf(&b, "; %s %s (restarts %d)", st.Name, state, st.RestartCount)
			}
		}
	}
	return b.String()
}

func (w *world) clients() []api.EdgeDevice {
	w.t.Helper()
	cs, err := w.backend.Clients()
	if err != nil {
		w.t.Fatal(err)
	}
	return cs
}

func (w *world) tokens() []devbackend.TokenRecord {
	w.t.Helper()
	resp := w.devRequest(http.MethodGet, "/_dev/tokens", "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("GET /_dev/tokens = %s", resp.Status)
	}
	var out []devbackend.TokenRecord
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		w.t.Fatalf("GET /_dev/tokens: %v", err)
	}
	return out
}

// assertUserTokensRevoked checks that a device flow issued a user token and that the
// bootstrap revoked every one: an empty list must not pass.
func (w *world) assertUserTokensRevoked() {
	w.t.Helper()
	n := 0
	for _, tok := range w.tokens() {
		if tok.Kind == "user" {
			n++
			if !tok.Revoked {
				w.t.Errorf("the user token of %s is not revoked", tok.Email)
			}
		}
	}
	if n == 0 {
		w.t.Errorf("no user token was issued")
	}
}

// devRequest calls the development backend's /_dev/ API, which needs its admin token.
func (w *world) devRequest(method, path, body string) *http.Response {
	w.t.Helper()
	req, err := http.NewRequest(method, w.url+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.backend.AdminToken())
	resp, err := w.http.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp
}

func (w *world) secretKeys(ns, release string) (map[string][]byte, map[string]string) {
	w.t.Helper()
	s, err := w.c.Client.CoreV1().Secrets(ns).Get(context.Background(), release+"-credentials", metav1.GetOptions{})
	if err != nil {
		w.t.Fatalf("the credential Secret: %v", err)
	}
	return s.Data, s.Annotations
}
