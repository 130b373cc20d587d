package journey_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/journey"
	"github.com/tracebloc/edge/internal/syncbuf"
)

// The journey runs on its own cluster instance: the post-renderer's guard allows one
// credential Secret per cluster, and the other packages' tests write theirs on "test".
const clusterName = "e2e"

var (
	buildOnce sync.Once
	artifacts *journey.Artifacts
	buildErr  error
	pushed    sync.Map // cluster dir -> true
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := clustertest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// world is one scenario: a cluster, a fresh namespace, a development backend.
type world struct {
	t       *testing.T
	c       *cluster.Cluster
	stage   *journey.Stage
	ns      string
	uid     string
	backend *devbackend.Server
	url     string
}

func newWorld(t *testing.T, name string) *world {
	t.Helper()
	c := clustertest.GetNamed(t, name)
	root := repoRoot(t)
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
	if _, done := pushed.Load(c.Dir); !done {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := artifacts.Push(ctx, c); err != nil {
			t.Fatal(err)
		}
		pushed.Store(c.Dir, true)
	}
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
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	w := &world{t: t, c: c, backend: srv, url: hs.URL, uid: clustertest.KubeSystemUID(t, c)}
	w.ns = clustertest.Namespace(t, c)
	helmOut := &syncbuf.Buffer{}
	w.stage = &journey.Stage{
		Root: root, Kubeconfig: c.Kubeconfig, Kube: c.Client, Helm: clustertest.Tool(t, "helm"), HelmHome: t.TempDir(),
		PostRender: artifacts.PostRender, Images: artifacts.Pins, BackendURL: hs.URL, Loopback: true, APIServerPort: c.Ports.APIServer,
		Output: helmOut,
	}
	t.Cleanup(func() { w.removeCredentials(w.ns) })
	t.Cleanup(func() { suite.add("helm output ("+t.Name()+")", helmOut.String()) })
	w.snapshotAtEnd(w.ns) // last: it runs before the namespace is deleted
	return w
}

// removeCredentials deletes the credential Secrets of ns at once, so that the next
// scenario's guard does not see them while the namespace is still terminating.
func (w *world) removeCredentials(ns string) {
	_ = w.c.Client.CoreV1().Secrets(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: "tracebloc.io/credential=true"})
}

func (w *world) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	w.t.Cleanup(cancel)
	return ctx
}

// follow streams the bootstrap's logs into a buffer and approves (as email, "" for nobody)
// or denies each code shown. It returns the codes seen and the logs.
type follower struct {
	mu    sync.Mutex
	logs  bytes.Buffer
	codes []string
	done  chan struct{}
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
				_ = w.backend.Approve(code, email)
			}
		}
	}()
	return f
}

func (w *world) install(ctx context.Context, release, ns string, extra ...string) string {
	w.t.Helper()
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
	resp, err := http.DefaultClient.Do(req)
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

func (w *world) workloadLogs(ctx context.Context, release, ns string) string {
	w.t.Helper()
	pod, err := w.stage.PodOf(ctx, release, ns)
	if err != nil {
		w.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := w.c.Client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "edge"}).DoRaw(ctx)
		if err == nil && strings.Contains(string(b), "logged in") || time.Now().After(deadline) {
			return string(b)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// Scenario 1.
func TestFreshInstall(t *testing.T) {
	w := newWorld(t, clusterName)
	f, out := w.enroll("edge", w.ns)
	if !strings.Contains(out, fmt.Sprintf("kubectl logs -n %s deploy/edge -c bootstrap -f", w.ns)) {
		t.Errorf("helm install's NOTES lack the kubectl logs command:\n%s", out)
	}
	logs := f.String()
	for _, want := range []string{"TRACEBLOC ACTIVATION", w.uid, w.ns} {
		if !strings.Contains(logs, want) {
			t.Errorf("the bootstrap's logs lack %q:\n%s", want, logs)
		}
	}
	data, ann := w.secretKeys(w.ns, "edge")
	if len(data["CLIENT_ID"]) == 0 || len(data["CLIENT_PASSWORD"]) == 0 || ann["tracebloc.io/enrollment"] != "minted" || ann["tracebloc.io/cluster-id"] != w.uid {
		t.Errorf("the Secret: keys %v, annotations %v", len(data), ann)
	}
	clients := w.clients()
	if len(clients) != 1 || clients[0].ClusterID == nil || *clients[0].ClusterID != w.uid {
		t.Fatalf("clients = %+v, want one anchored to %s", clients, w.uid)
	}
	if wl := w.workloadLogs(w.ctx(), "edge", w.ns); !strings.Contains(wl, "logged in to "+w.url) {
		t.Errorf("the workload did not log in with the credential:\n%s", wl)
	}
	w.assertUserTokensRevoked()
	// The chart's check reads the Secret; its pod's log is part of the secrets scan.
	if _, err := w.stage.Helm3(w.ctx(), "test", "edge", "-n", w.ns); err != nil {
		t.Errorf("helm test: %v", err)
	}
	evs, _ := w.c.Client.CoreV1().Events(w.ns).List(context.Background(), metav1.ListOptions{})
	story := ""
	for _, ev := range evs.Items {
		story += ev.Reason + ": " + ev.Message + "\n"
	}
	for _, want := range []string{"ActivationRequired", "Enrolled: enrolled as client dev-01 (" + w.ns + ")"} {
		if !strings.Contains(story, want) {
			t.Errorf("the Events lack %q:\n%s", want, story)
		}
	}
	// Nothing secret where a person reads: logs, Events, annotations. (Helm's release, and
	// everything else the suite produced, is the secrets scan's: see leaks_test.go.)
	pw := string(data["CLIENT_PASSWORD"])
	for where, text := range map[string]string{"bootstrap logs": logs, "events": story, "annotations": fmt.Sprint(ann), "helm output": out} {
		if strings.Contains(text, pw) {
			t.Errorf("the machine credential appears in the %s", where)
		}
	}
}

// Scenario 2.
func TestRestartAndUpgradeNeedNoApproval(t *testing.T) {
	w := newWorld(t, clusterName)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	before := len(w.backend.Requests())
	pod, err := w.stage.PodOf(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.c.Client.CoreV1().Pods(w.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f := w.follow(ctx, "edge", w.ns, "", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatal(err)
	}
	if _, err := w.stage.Helm3(ctx, w.stage.InstallArgs("upgrade", "edge", w.ns, "--set", "client.location=DE")...); err != nil {
		t.Fatal(err)
	}
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatal(err)
	}
	if codes := f.Codes(); len(codes) != 0 {
		t.Errorf("a restart showed codes %v", codes)
	}
	var calls []string
	for _, r := range w.backend.Requests()[before:] {
		if r.Path != "/api-token-auth/" { // the workload's own login
			calls = append(calls, r.Method+" "+r.Path)
		}
	}
	if len(calls) != 0 {
		t.Errorf("the restart and the upgrade called the backend: %v", calls)
	}
}

// Scenario 3.
func TestReinstallAdoptsWithoutApproval(t *testing.T) {
	w := newWorld(t, clusterName)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	if _, err := w.stage.Helm3(ctx, "uninstall", "edge", "-n", w.ns, "--wait"); err != nil {
		t.Fatal(err)
	}
	w.install(ctx, "edge", w.ns)
	f := w.follow(ctx, "edge", w.ns, "", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
	if len(f.Codes()) != 0 || len(w.clients()) != 1 {
		t.Errorf("re-install: codes %v, clients %d; want no code and one client", f.Codes(), len(w.clients()))
	}
}

// Scenario 4.
func TestSecretDeletedResetsOrRefusesWhenLive(t *testing.T) {
	w := newWorld(t, clusterName)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	reinstall := func() {
		t.Helper()
		if _, err := w.stage.Helm3(ctx, "uninstall", "edge", "-n", w.ns, "--wait"); err != nil {
			t.Fatal(err)
		}
		w.removeCredentials(w.ns)
		w.install(ctx, "edge", w.ns)
	}
	reinstall()
	f := w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
	if _, ann := w.secretKeys(w.ns, "edge"); ann["tracebloc.io/enrollment"] != "reset" {
		t.Errorf("enrollment = %q, want reset", ann["tracebloc.io/enrollment"])
	}
	clients := w.clients()
	if len(clients) != 1 {
		t.Fatalf("clients = %d, want 1", len(clients))
	}
	// Now the client is live: the bootstrap must refuse to reset it.
	w.devRequest(http.MethodPost, fmt.Sprintf("/_dev/clients/%d/heartbeat", clients[0].ID), `{"status":1}`).Body.Close()
	reinstall()
	f = w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	code, err := w.stage.BootstrapExit(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.waitFor("is live")
	if code != 4 || !strings.Contains(logs, "is live") {
		t.Errorf("exit %d, logs:\n%s\nwant exit 4 saying the client is live", code, logs)
	}
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

// Scenario 6.
func TestAnotherAccountGets409(t *testing.T) {
	w := newWorld(t, clusterName)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	if _, err := w.stage.Helm3(ctx, "uninstall", "edge", "-n", w.ns, "--wait"); err != nil {
		t.Fatal(err)
	}
	w.removeCredentials(w.ns)
	w.install(ctx, "edge", w.ns)
	f := w.follow(ctx, "edge", w.ns, "other@example.com", false)
	code, err := w.stage.BootstrapExit(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.waitFor("dev@example.com")
	if code != 4 || !strings.Contains(logs, "dev@example.com") {
		t.Errorf("exit %d, logs:\n%s\nwant exit 4 naming the owner dev@example.com", code, logs)
	}
	if s, err := w.c.Client.CoreV1().Secrets(w.ns).Get(ctx, "edge-credentials", metav1.GetOptions{}); err == nil && len(s.Data["CLIENT_PASSWORD"]) > 0 {
		t.Errorf("a refused enrollment wrote a credential")
	}
}

// Scenario 7.
func TestLegacyInstallIsMigrated(t *testing.T) {
	w := newWorld(t, clusterName)
	ctx := w.ctx()
	c, _ := api.New(w.url)
	code, err := c.RequestDeviceCode(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.backend.Approve(code.UserCode, "dev@example.com"); err != nil {
		t.Fatal(err)
	}
	tok, err := c.PollDeviceToken(ctx, code.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	const password = "legacy-password-0123456789"
	legacy, _, err := c.WithToken(tok.Token).CreateEdgeDevice(ctx, api.CreateRequest{FirstName: "old", Namespace: w.ns, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.c.Client.CoreV1().Secrets(w.ns).Create(ctx, secret("tracebloc-client", legacy.Username, password), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.enroll("edge", w.ns, "--set", "legacySecret.name=tracebloc-client")
	clients := w.clients()
	if len(clients) != 1 || clients[0].ClusterID == nil || *clients[0].ClusterID != w.uid {
		t.Fatalf("clients = %+v, want the legacy one anchored to %s", clients, w.uid)
	}
	data, ann := w.secretKeys(w.ns, "edge")
	if string(data["CLIENT_PASSWORD"]) != password || ann["tracebloc.io/enrollment"] != "migrated" {
		t.Errorf("the credential Secret does not hold the migrated credential (enrollment %q)", ann["tracebloc.io/enrollment"])
	}
}

// Scenario 8.
func TestGuardRefusesASecondNamespace(t *testing.T) {
	w := newWorld(t, clusterName)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	other := clustertest.Namespace(t, w.c)
	w.snapshotAtEnd(other)
	out, err := w.stage.Install(ctx, "edge2", other)
	if err == nil || !strings.Contains(out, w.ns) {
		t.Fatalf("helm install into a second namespace: %v\n%s\nwant a refusal naming %s", err, out, w.ns)
	}
	pods, _ := w.c.Client.CoreV1().Pods(other).List(ctx, metav1.ListOptions{})
	deps, _ := w.c.Client.AppsV1().Deployments(other).List(ctx, metav1.ListOptions{})
	if len(pods.Items)+len(deps.Items) != 0 {
		t.Errorf("the refused install applied objects: %d pods, %d deployments", len(pods.Items), len(deps.Items))
	}
}

// Scenario 10.
func TestDeniedShowsANewCodeNextTime(t *testing.T) {
	w := newWorld(t, clusterName)
	ctx := w.ctx()
	w.install(ctx, "edge", w.ns)
	f := w.follow(ctx, "edge", w.ns, "", true)
	code, err := w.stage.BootstrapExit(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.waitFor("denied")
	if code != 3 || !strings.Contains(logs, "denied") {
		t.Fatalf("exit %d, logs:\n%s\nwant exit 3 saying it was denied", code, logs)
	}
	// The kubelet restarts the bootstrap: it shows a new code, which we approve.
	denied := f.Codes()
	f2 := w.followRun(ctx, "edge", w.ns, "dev@example.com", false, 1)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f2.String())
	}
	if codes := f2.Codes(); len(codes) == 0 || len(denied) == 0 || codes[len(codes)-1] == denied[0] {
		t.Errorf("after the denial the codes were %v (denied %v), want a new one", codes, denied)
	}
}

// Scenario 5.
func TestSecondClusterAndNamespaceConflict(t *testing.T) {
	w := newWorld(t, clusterName)
	w.enroll("edge", w.ns)
	b := clustertest.GetNamed(t, "test-b")
	uidB := clustertest.KubeSystemUID(t, b)
	if uidB == w.uid {
		t.Fatal("the second cluster has the same id")
	}
	// The second cluster, same account, another namespace: a second client.
	w2 := *w
	w2.c = b
	st := *w.stage
	st.Kubeconfig, st.Kube, st.APIServerPort, st.HelmHome = b.Kubeconfig, b.Client, b.Ports.APIServer, t.TempDir()
	w2.stage = &st
	if _, done := pushed.Load(b.Dir); !done {
		if err := artifacts.Push(w.ctx(), b); err != nil {
			t.Fatal(err)
		}
		pushed.Store(b.Dir, true)
	}
	nsB := clustertest.Namespace(t, b)
	t.Cleanup(func() { w2.removeCredentials(nsB) })
	w2.snapshotAtEnd(nsB)
	w2.enroll("edge", nsB)
	clients := w.clients()
	if len(clients) != 2 {
		t.Fatalf("clients = %d, want 2 (one per cluster)", len(clients))
	}
	// The second cluster again, in the namespace the first cluster's client uses.
	if _, err := st.Helm3(w.ctx(), "uninstall", "edge", "-n", nsB, "--wait"); err != nil {
		t.Fatal(err)
	}
	w2.removeCredentials(nsB)
	nsSame := w.ns
	if _, err := b.Client.CoreV1().Namespaces().Create(context.Background(), namespace(nsSame), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w2.removeCredentials(nsSame)
		_ = b.Client.CoreV1().Namespaces().Delete(context.Background(), nsSame, metav1.DeleteOptions{})
	})
	w2.snapshotAtEnd(nsSame)
	ctx := w.ctx()
	w2.install(ctx, "edge", nsSame)
	f := w2.follow(ctx, "edge", nsSame, "dev@example.com", false)
	code, err := st.BootstrapExit(ctx, "edge", nsSame)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.waitFor(nsSame + "-2")
	if code != 4 || !strings.Contains(logs, nsSame+"-2") {
		t.Errorf("exit %d, logs:\n%s\nwant exit 4 suggesting %s-2", code, logs, nsSame)
	}
}

// Scenario 9: Helm 4 with the plugin.
func TestHelm4Plugin(t *testing.T) {
	w := newWorld(t, clusterName)
	helm4 := clustertest.Tool(t, "helm4")
	ctx := w.ctx()
	home := t.TempDir()
	env := append(os.Environ(), "KUBECONFIG="+w.c.Kubeconfig,
		"HELM_DATA_HOME="+filepath.Join(home, "data"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"PATH="+filepath.Dir(artifacts.PostRender)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TRACEBLOC_POSTRENDER_KUBECONFIG="+w.c.Kubeconfig)
	run := func(args ...string) string {
		t.Helper()
		out, err := command(ctx, env, helm4, args...)
		_, _ = w.stage.Output.Write([]byte(out))
		if err != nil {
			t.Fatalf("helm4 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	run("plugin", "install", filepath.Join(w.stage.Root, "postrender", "plugin"))
	args := []string{"install", "edge", filepath.Join(w.stage.Root, "chart"), "-n", w.ns, "--post-renderer", "tracebloc"}
	run(append(args, w.stage.Values()...)...)
	f := w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
	dep, err := w.c.Client.AppsV1().Deployments(w.ns).Get(ctx, "edge", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Labels["tracebloc.io/cluster-id"] != w.uid || dep.Spec.Template.Labels["tracebloc.io/cluster-id"] != w.uid {
		t.Errorf("the Helm 4 install lacks the cluster label: %v / %v", dep.Labels, dep.Spec.Template.Labels)
	}
	if n := len(w.clients()); n != 1 {
		t.Errorf("clients = %d, want 1", n)
	}
}
