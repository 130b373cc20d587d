package bootstrapper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/tracebloc/edge/bootstrap/bootstrapper"
	"github.com/tracebloc/edge/bootstrap/config"
	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/syncbuf"
	"github.com/tracebloc/edge/internal/version"
)

const secretName = "edge-credentials"

// env is one test's world: a namespace of the local cluster and a development backend.
type env struct {
	t         testing.TB
	cluster   *cluster.Cluster
	kube      kubernetes.Interface
	kubeCalls *atomic.Int64
	ns        string
	uid       string
	backend   *devbackend.Server
	url       string
	issued    *issuedLog // every secret the backend issued or received
}

func newEnv(t testing.TB, cfg devbackend.Config) *env {
	t.Helper()
	return newEnvOn(t, clustertest.Get(t), cfg)
}

// newEnvOn is newEnv on another cluster instance, for tests that disrupt the cluster.
func newEnvOn(t testing.TB, c *cluster.Cluster, cfg devbackend.Config) *env {
	t.Helper()
	e := &env{t: t, cluster: c, ns: clustertest.Namespace(t, c), uid: clustertest.KubeSystemUID(t, c), issued: &issuedLog{}}
	e.kube, e.kubeCalls = countingClient(t, c.REST)
	if cfg.DeviceInterval == 0 {
		cfg.DeviceInterval = time.Second
	}
	if len(cfg.Users) == 0 {
		cfg.Users = []devbackend.User{
			{Email: "dev@example.com", Account: "dev", FirstName: "Dev User", Admin: true},
			{Email: "other@example.com", Account: "other", FirstName: "Other", Admin: true},
			{Email: "viewer@example.com", Account: "dev", FirstName: "Viewer", Admin: false},
		}
	}
	if cfg.Issued == nil {
		cfg.Issued = e.issued.record
	}
	srv, err := devbackend.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	e.backend, e.url = srv, hs.URL
	return e
}

func countingClient(t testing.TB, base *rest.Config) (kubernetes.Interface, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	rc := rest.CopyConfig(base)
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) { n.Add(1); return rt.RoundTrip(r) })
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs, &n
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// issuedLog keeps every secret the development backend issued or received (its Issued
// hook), so tests can look for them where a person reads.
type issuedLog struct {
	mu     sync.Mutex
	values []string
}

func (l *issuedLog) record(_, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.values = append(l.values, value)
}

func (l *issuedLog) secrets() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.values...)
}

// run is one start of the bootstrap; out collects its banner and log lines.
type run struct {
	cfg      config.Config
	pod      string
	hook     func(string)
	approve  string // email that approves each code shown ("" = dev@example.com); "-" = nobody
	deny     bool
	out      syncbuf.Buffer
	codes    []string
	mu       sync.Mutex
	codeSeen chan string
	// formerPoll is how often the run reads the client list while a former client holds
	// the namespace (0: the default).
	formerPoll time.Duration
}

func (e *env) newRun(pod string) *run {
	return &run{pod: pod, codeSeen: make(chan string, 10), cfg: config.Config{
		Env: "prod", APIURL: e.url, Namespace: e.ns, PodName: pod, CredentialSecret: secretName,
		ResetWindow: 10 * time.Minute, HTTPTimeout: 10 * time.Second, LeaseDuration: 3 * time.Second, LogFormat: "json", LogLevel: "debug",
	}}
}

var userCode = regexp.MustCompile(`\b[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}\b`)

// start runs the bootstrap and, like a person reading the logs, approves (or denies) every
// code its banner shows.
func (e *env) start(ctx context.Context, r *run) (*bootstrapper.Outcome, error) {
	e.t.Helper()
	return e.startWith(ctx, r, e.answer)
}

// startWith runs the bootstrap with the HTTP timeout of r.cfg, as in the container, and
// calls onCode for every code the banner shows.
func (e *env) startWith(ctx context.Context, r *run, onCode func(*run, string)) (*bootstrapper.Outcome, error) {
	e.t.Helper()
	log := zerolog.New(&r.out).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	client, err := api.New(e.url, api.WithHTTPClient(&http.Client{Timeout: r.cfg.HTTPTimeout}))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := r.cfg
	b := &bootstrapper.Bootstrapper{
		Config: &cfg, Kube: e.kube, API: client, Clock: clock.RealClock{},
		Stdout: &bannerWatch{w: &r.out, seen: func(code string) { onCode(r, code) }},
		Log:    log, Hook: r.hook, LeaseRetry: 500 * time.Millisecond, FormerPoll: r.formerPoll,
	}
	return b.Run(ctx)
}

func (e *env) answer(r *run, code string) {
	r.mu.Lock()
	r.codes = append(r.codes, code)
	r.mu.Unlock()
	select {
	case r.codeSeen <- code:
	default:
	}
	switch {
	case r.approve == "-":
	case r.deny:
		if err := e.backend.Deny(code); err != nil {
			e.t.Errorf("deny %s: %v", code, err)
		}
	default:
		email := r.approve
		if email == "" {
			email = "dev@example.com"
		}
		if err := e.backend.Approve(code, email); err != nil {
			e.t.Errorf("approve %s: %v", code, err)
		}
	}
}

// bannerWatch passes the banner through and reports each user code it shows.
type bannerWatch struct {
	w    io.Writer
	seen func(string)
}

func (b *bannerWatch) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	if m := userCode.FindString(string(p)); m != "" {
		b.seen(m)
	}
	return n, err
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *env) secret() *corev1.Secret {
	e.t.Helper()
	s, err := e.cluster.Client.CoreV1().Secrets(e.ns).Get(context.Background(), secretName, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("read the credential Secret: %v", err)
	}
	return s
}

// clients returns the backend's clients anchored to this test's cluster id
// (other tests share the cluster but each test has its own backend).
func (e *env) clients() []api.EdgeDevice {
	e.t.Helper()
	all, err := e.backend.Clients()
	if err != nil {
		e.t.Fatal(err)
	}
	return all
}

// verify logs in with the Secret's credential, as the edge workloads do.
func (e *env) verify() {
	e.t.Helper()
	s := e.secret()
	c, _ := api.New(e.url)
	if err := c.VerifyCredential(context.Background(), string(s.Data["CLIENT_ID"]), string(s.Data["CLIENT_PASSWORD"])); err != nil {
		e.t.Fatalf("the backend refuses the credential in the Secret: %v", err)
	}
}

func (e *env) tokens() []devbackend.TokenRecord {
	e.t.Helper()
	resp := e.devRequest(http.MethodGet, "/_dev/tokens", "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /_dev/tokens = %s", resp.Status)
	}
	var out []devbackend.TokenRecord
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// devRequest calls the development backend's /_dev/ API, which needs its admin token.
func (e *env) devRequest(method, path, body string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.backend.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *env) devPost(path, body string) {
	e.t.Helper()
	resp := e.devRequest(http.MethodPost, path, body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		e.t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
	}
}

// userClient signs in as email without the bootstrap (to arrange a backend state).
func (e *env) userClient(email string) *api.Client {
	e.t.Helper()
	c, _ := api.New(e.url)
	ctx := context.Background()
	code, err := c.RequestDeviceCode(ctx, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.backend.Approve(code.UserCode, email); err != nil {
		e.t.Fatal(err)
	}
	tok, err := c.PollDeviceToken(ctx, code.DeviceCode)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.WithToken(tok.Token)
}

func TestFreshInstallMintsOneClient(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	r := e.newRun("edge-abc")
	out, err := e.start(e.ctx(), r)
	if err != nil {
		t.Fatalf("Run() = %v\n%s", err, r.out.String())
	}
	if out.Enrollment != credential.Minted {
		t.Errorf("enrollment = %q, want %q", out.Enrollment, credential.Minted)
	}
	s := e.secret()
	for _, k := range []string{"CLIENT_ID", "CLIENT_PASSWORD"} {
		if len(s.Data[k]) == 0 {
			t.Errorf("Secret key %s is empty", k)
		}
	}
	if _, ok := s.Data["TRACEBLOC_DEVICE_GRANT"]; ok {
		t.Errorf("the Secret holds a device grant")
	}
	clients := e.clients()
	if len(clients) != 1 || clients[0].ClusterID == nil || *clients[0].ClusterID != e.uid {
		t.Fatalf("backend clients = %+v, want one with cluster id %s", clients, e.uid)
	}
	c := clients[0]
	wantAnn := map[string]string{
		credential.AnnClusterID: e.uid, credential.AnnEnrollment: credential.Minted,
		credential.AnnClientID: fmt.Sprint(c.ID), credential.AnnClientName: "dev-user-01",
	}
	for k, v := range wantAnn {
		if s.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, s.Annotations[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339, s.Annotations[credential.AnnEnrolledAt]); err != nil {
		t.Errorf("annotation %s = %q, not a time", credential.AnnEnrolledAt, s.Annotations[credential.AnnEnrolledAt])
	}
	if s.Labels[credential.LabelCredential] != "true" {
		t.Errorf("label %s missing", credential.LabelCredential)
	}
	if string(s.Data["CLIENT_ID"]) != c.Username || c.Namespace != e.ns {
		t.Errorf("CLIENT_ID = %q namespace %q, want the client's username %q in %q", s.Data["CLIENT_ID"], c.Namespace, c.Username, e.ns)
	}
	e.verify()
	e.assertUserTokensRevoked()
	banner := r.out.String()
	for _, want := range []string{"TRACEBLOC ACTIVATION", r.codes[0], e.uid, e.ns, e.url + "/activate?code=" + r.codes[0]} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner and logs lack %q", want)
		}
	}
	evs, err := e.cluster.Client.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Name == "edge-abc" {
			reasons[ev.Reason] = ev.Message
		}
	}
	if !strings.Contains(reasons["ActivationRequired"], r.codes[0]) {
		t.Errorf("no ActivationRequired Event with the code; events: %v", reasons)
	}
	if want := "enrolled as client dev-user-01 (" + e.ns + ")"; !strings.Contains(reasons["Enrolled"], want) {
		t.Errorf("Enrolled Event = %q, want it to contain %q", reasons["Enrolled"], want)
	}
}

func TestRestartTakesTheFastPath(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
		t.Fatal(err)
	}
	before := len(e.backend.Requests())
	e.kubeCalls.Store(0)
	r := e.newRun("edge-2")
	out, err := e.start(e.ctx(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !out.FastPath {
		t.Errorf("restart did not take the fast path")
	}
	if got := e.kubeCalls.Load(); got != 2 {
		t.Errorf("Kubernetes requests on restart = %d, want 2", got)
	}
	if got := len(e.backend.Requests()) - before; got != 0 {
		t.Errorf("backend requests on restart = %d, want 0", got)
	}
	if len(r.codes) != 0 {
		t.Errorf("restart showed a code: %v", r.codes)
	}
}

func TestSecretLostResetsClientThatIsNotLive(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
		t.Fatal(err)
	}
	first := e.clients()[0]
	if err := e.cluster.Client.CoreV1().Secrets(e.ns).Delete(context.Background(), secretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r := e.newRun("edge-2")
	out, err := e.start(e.ctx(), r)
	if err != nil {
		t.Fatalf("Run() = %v\n%s", err, r.out.String())
	}
	if out.Enrollment != credential.Reset {
		t.Errorf("enrollment = %q, want %q", out.Enrollment, credential.Reset)
	}
	clients := e.clients()
	if len(clients) != 1 || clients[0].Username != first.Username {
		t.Fatalf("clients = %+v, want still exactly the first one", clients)
	}
	e.verify()
}

func TestSecretLostLiveClientIsNotReset(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
		t.Fatal(err)
	}
	first := e.clients()[0]
	e.devPost(fmt.Sprintf("/_dev/clients/%d/heartbeat", first.ID), `{"status":1}`)
	if err := e.cluster.Client.CoreV1().Secrets(e.ns).Delete(context.Background(), secretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.start(e.ctx(), e.newRun("edge-2"))
	if exitCodeOf(err) != exitConflict || !strings.Contains(fmt.Sprint(err), "is live") || !strings.Contains(fmt.Sprint(err), e.ns) {
		t.Fatalf("Run() = %v (exit %d), want exit %d saying the client is live and where", err, exitCodeOf(err), exitConflict)
	}
}

func TestAnotherAccountsClusterIsRefused(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
		t.Fatal(err)
	}
	if err := e.cluster.Client.CoreV1().Secrets(e.ns).Delete(context.Background(), secretName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r := e.newRun("edge-2")
	r.approve = "other@example.com"
	_, err := e.start(e.ctx(), r)
	if exitCodeOf(err) != exitConflict || !strings.Contains(fmt.Sprint(err), "dev@example.com") {
		t.Fatalf("Run() = %v, want exit %d naming the owner dev@example.com", err, exitConflict)
	}
	s, gerr := e.cluster.Client.CoreV1().Secrets(e.ns).Get(context.Background(), secretName, metav1.GetOptions{})
	if gerr == nil && (len(s.Data["CLIENT_PASSWORD"]) > 0 || len(s.Data["CLIENT_ID"]) > 0) {
		t.Errorf("a refused enrollment left a credential in the Secret: keys %v", keys(s.Data))
	}
	if n := len(e.clients()); n != 1 {
		t.Errorf("clients = %d, want 1", n)
	}
	e.assertUserTokensRevoked()
}

// assertUserTokensRevoked checks that every token a device flow issued was revoked, on
// success and on failure alike.
func (e *env) assertUserTokensRevoked() {
	e.t.Helper()
	n := 0
	for _, tok := range e.tokens() {
		if tok.Kind == "user" {
			n++
			if !tok.Revoked {
				e.t.Errorf("user token %d of %s is not revoked", tok.ID, tok.Email)
			}
		}
	}
	if n == 0 {
		e.t.Errorf("no user token was issued")
	}
}

func TestClusterInUseByALiveClientElsewhere(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	if _, err := e.start(e.ctx(), e.newRun("edge-1")); err != nil {
		t.Fatal(err)
	}
	first := e.clients()[0]
	e.devPost(fmt.Sprintf("/_dev/clients/%d/heartbeat", first.ID), `{"status":1}`)
	// Another namespace of the same cluster, no credential there.
	e.ns = clustertest.Namespace(t, e.cluster)
	_, err := e.start(e.ctx(), e.newRun("edge-2"))
	if exitCodeOf(err) != exitConflict || !strings.Contains(fmt.Sprint(err), first.FirstName) {
		t.Fatalf("Run() = %v, want exit %d naming the live client %s", err, exitConflict, first.FirstName)
	}
	if n := len(e.clients()); n != 1 {
		t.Errorf("clients = %d, want 1", n)
	}
	e.assertUserTokensRevoked()
}

func TestUpgradeRequired(t *testing.T) {
	e := newEnv(t, devbackend.Config{MinVersion: "99.0.0"})
	old := version.Version
	version.Version = "0.1.0"
	t.Cleanup(func() { version.Version = old })
	_, err := e.start(e.ctx(), e.newRun("edge-1"))
	if exitCodeOf(err) != exitUpgrade || !strings.Contains(fmt.Sprint(err), "99.0.0") {
		t.Fatalf("Run() = %v, want exit %d naming the minimum version 99.0.0", err, exitUpgrade)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDeniedStopsWithExit3(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	r := e.newRun("edge-1")
	r.deny = true
	_, err := e.start(e.ctx(), r)
	if exitCodeOf(err) != exitDenied {
		t.Fatalf("Run() = %v, want exit %d", err, exitDenied)
	}
	if n := len(e.clients()); n != 0 {
		t.Errorf("clients = %d, want 0", n)
	}
	// The next start shows a new code.
	r2 := e.newRun("edge-1")
	if _, err := e.start(e.ctx(), r2); err != nil {
		t.Fatal(err)
	}
	if len(r2.codes) == 0 || r2.codes[0] == r.codes[0] {
		t.Errorf("after a denial the next start showed %v, want a new code (denied %v)", r2.codes, r.codes)
	}
}

// TestRestartShowsANewCode: the device code is never kept in the cluster, so a restarted
// container shows a new code, and the old one, even approved after the restart, is never
// polled: no user token is issued for it.
func TestRestartShowsANewCode(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	r := e.newRun("edge-1")
	r.approve = "-"
	ctx, cancel := context.WithCancel(e.ctx())
	done := make(chan error, 1)
	go func() { _, err := e.start(ctx, r); done <- err }()
	var first string
	select {
	case first = <-r.codeSeen:
	case <-time.After(time.Minute):
		t.Fatal("no code shown")
	}
	cancel() // the container dies before anyone approves
	<-done
	if s, err := e.cluster.Client.CoreV1().Secrets(e.ns).Get(context.Background(), secretName, metav1.GetOptions{}); err == nil {
		if _, ok := s.Data["TRACEBLOC_DEVICE_GRANT"]; ok {
			t.Errorf("the Secret holds the pending device grant")
		}
	}
	// The person approves the code they saw, after the restart.
	if err := e.backend.Approve(first, "dev@example.com"); err != nil {
		t.Fatal(err)
	}
	r2 := e.newRun("edge-1")
	if _, err := e.start(e.ctx(), r2); err != nil {
		t.Fatalf("Run() = %v\n%s", err, r2.out.String())
	}
	if len(r2.codes) != 1 || r2.codes[0] == first {
		t.Errorf("after a restart the codes shown were %v, want one new code (not %s)", r2.codes, first)
	}
	if !strings.Contains(r2.out.String(), "a restart of the pod shows a new code") {
		t.Errorf("the log does not say that a restart shows a new code:\n%s", r2.out.String())
	}
	users := 0
	for _, tok := range e.tokens() {
		if tok.Kind == "user" {
			users++
		}
	}
	if users != 1 {
		t.Errorf("user tokens issued = %d, want 1 (the new code's; the old code is never polled)", users)
	}
	if n := len(e.clients()); n != 1 {
		t.Errorf("clients = %d, want 1", n)
	}
}

func TestNamespaceTakenSuggestsAFreeOne(t *testing.T) {
	assertNamespaceTakenSuggestsAFreeOne(t, devbackend.Config{})
}

// assertNamespaceTakenSuggestsAFreeOne: another client of the account, live on another
// cluster, holds the namespace, so the run stops with exit 4 and names a free namespace.
// (One that is not live is waited for: TestRebuiltClusterWaitsForTheOldClient.)
func assertNamespaceTakenSuggestsAFreeOne(t *testing.T, cfg devbackend.Config) {
	t.Helper()
	e := newEnv(t, cfg)
	u := e.userClient("dev@example.com")
	holder, _, err := u.CreateEdgeDevice(context.Background(), api.CreateRequest{
		FirstName: "elsewhere", Namespace: e.ns, Password: "a-password-of-enough-length", ClusterID: "another-cluster",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.devPost(fmt.Sprintf("/_dev/clients/%d/heartbeat", holder.ID), `{"status":1}`)
	_, err = e.start(e.ctx(), e.newRun("edge-1"))
	if exitCodeOf(err) != exitConflict || !strings.Contains(fmt.Sprint(err), e.ns+"-2") {
		t.Fatalf("Run() = %v, want exit %d suggesting %s-2", err, exitConflict, e.ns)
	}
}

func TestLegacySecretIsMigrated(t *testing.T) {
	assertLegacySecretIsMigrated(t, devbackend.Config{})
}

// assertLegacySecretIsMigrated: a previous install's Secret names a client of the account;
// the run takes it over (same client, same password, now anchored to this cluster).
func assertLegacySecretIsMigrated(t *testing.T, cfg devbackend.Config) {
	t.Helper()
	e := newEnv(t, cfg)
	u := e.userClient("dev@example.com")
	const password = "legacy-password-0123456789"
	legacy, _, err := u.CreateEdgeDevice(context.Background(), api.CreateRequest{FirstName: "old-install", Namespace: e.ns, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cluster.Client.CoreV1().Secrets(e.ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "tracebloc-client"},
		Data:       map[string][]byte{"CLIENT_ID": []byte(legacy.Username), "CLIENT_PASSWORD": []byte(password)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := e.newRun("edge-1")
	r.cfg.LegacySecret = "tracebloc-client"
	out, err := e.start(e.ctx(), r)
	if err != nil {
		t.Fatalf("Run() = %v\n%s", err, r.out.String())
	}
	if out.Enrollment != credential.Migrated {
		t.Errorf("enrollment = %q, want migrated", out.Enrollment)
	}
	clients := e.clients()
	if len(clients) != 1 || clients[0].ClusterID == nil || *clients[0].ClusterID != e.uid {
		t.Fatalf("clients = %+v, want the legacy one, anchored to %s", clients, e.uid)
	}
	if s := e.secret(); string(s.Data["CLIENT_PASSWORD"]) != password || string(s.Data["CLIENT_ID"]) != legacy.Username {
		t.Errorf("the Secret does not hold the legacy credential")
	}
	e.verify()
}

func TestNoPermissionNamesTheAdmins(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	r := e.newRun("edge-1")
	r.approve = "viewer@example.com"
	_, err := e.start(e.ctx(), r)
	if exitCodeOf(err) != exitForbidden || !strings.Contains(fmt.Sprint(err), "dev@example.com") {
		t.Fatalf("Run() = %v, want exit %d naming the admin dev@example.com", err, exitForbidden)
	}
	e.assertUserTokensRevoked()
}

func TestClusterMismatchStops(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	r := e.newRun("edge-1")
	r.cfg.ExpectedClusterID = "rendered-for-another-cluster"
	_, err := e.start(e.ctx(), r)
	if exitCodeOf(err) != exitClusterMismatch {
		t.Fatalf("Run() = %v, want exit %d", err, exitClusterMismatch)
	}
}

func TestEnrollmentTokenIsUsedAndNotRevoked(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	c, _ := api.New(e.url)
	code, _ := c.RequestDeviceCode(context.Background(), nil)
	if err := e.backend.Approve(code.UserCode, "dev@example.com"); err != nil {
		t.Fatal(err)
	}
	tok, err := c.PollDeviceToken(context.Background(), code.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	r := e.newRun("edge-1")
	r.cfg.EnrollToken = tok.Token
	r.approve = "-"
	if _, err := e.start(e.ctx(), r); err != nil {
		t.Fatalf("Run() = %v\n%s", err, r.out.String())
	}
	if len(r.codes) != 0 {
		t.Errorf("a code was shown with an enrollment token: %v", r.codes)
	}
	users := 0
	for _, tr := range e.tokens() {
		if tr.Kind == "user" {
			users++
			if tr.Revoked {
				t.Errorf("the operator's enrollment token was revoked")
			}
		}
	}
	if users != 1 {
		t.Errorf("user tokens issued = %d, want 1 (the operator's)", users)
	}
	e.verify()
}

func TestTwoReplicasShowOneCode(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	var wg sync.WaitGroup
	runs := []*run{e.newRun("edge-a"), e.newRun("edge-b")}
	errs := make([]error, len(runs))
	for i, r := range runs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = e.start(e.ctx(), r) }()
	}
	wg.Wait()
	shown := 0
	for i, r := range runs {
		if errs[i] != nil {
			t.Errorf("replica %s: %v\n%s", r.pod, errs[i], r.out.String())
		}
		shown += len(r.codes)
	}
	if shown != 1 {
		t.Errorf("codes shown = %d, want 1", shown)
	}
	if n := len(e.clients()); n != 1 {
		t.Errorf("clients = %d, want 1", n)
	}
	e.verify()
}

func TestNothingSecretIsWrittenWhereAPersonReads(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	r := e.newRun("edge-1")
	if _, err := e.start(e.ctx(), r); err != nil {
		t.Fatal(err)
	}
	s := e.secret()
	secrets := append(e.issued.secrets(), string(s.Data["CLIENT_PASSWORD"]))
	if len(secrets) < 3 {
		t.Fatalf("found %d secrets to look for, want at least a device code, a token and a password", len(secrets))
	}
	var places strings.Builder
	places.WriteString(r.out.String())
	for k, v := range s.Annotations {
		places.WriteString(k + "=" + v + "\n")
	}
	evs, _ := e.cluster.Client.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{})
	for _, ev := range evs.Items {
		places.WriteString(ev.Message + "\n")
	}
	for _, sec := range secrets {
		if strings.Contains(places.String(), sec) {
			t.Errorf("a secret (%d characters) appears in the logs, banner, Events or annotations", len(sec))
		}
	}
}

// TestLeastPrivilege runs the whole enrollment with a ServiceAccount that holds only what
// the chart grants (the design's RBAC).
func TestLeastPrivilege(t *testing.T) {
	e := newEnv(t, devbackend.Config{})
	leastPrivilege(t, e)
	r := e.newRun("edge-1")
	if _, err := e.start(e.ctx(), r); err != nil {
		t.Fatalf("enrollment with the chart's permissions only: %v\n%s", err, r.out.String())
	}
	e.verify()
	if _, err := e.start(e.ctx(), e.newRun("edge-2")); err != nil {
		t.Fatalf("restart with the chart's permissions only: %v", err)
	}
}

// leastPrivilege gives the bootstrap of e a ServiceAccount that holds only what the chart
// grants in the release namespace (the design's RBAC) and returns its name.
func leastPrivilege(t *testing.T, e *env) string {
	t.Helper()
	ctx := context.Background()
	admin := e.cluster.Client
	sa := "edge-bootstrap"
	if _, err := admin.CoreV1().ServiceAccounts(e.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{secretName}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{secretName + "-lock"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
	}}
	if _, err := admin.RbacV1().Roles(e.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: e.ns}}
	if _, err := admin.RbacV1().RoleBindings(e.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa}, Subjects: subj,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cr := "tracebloc-edge-test-" + e.ns
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: cr}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{"kube-system"}, Verbs: []string{"get"}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cr}, Subjects: subj,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: cr}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), cr, metav1.DeleteOptions{})
		_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), cr, metav1.DeleteOptions{})
	})
	clustertest.WaitAllowed(t, e.cluster, clustertest.ServiceAccount(e.ns, sa),
		authzv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: "kube-system"},
		authzv1.ResourceAttributes{Namespace: e.ns, Verb: "create", Resource: "secrets"},
		authzv1.ResourceAttributes{Namespace: e.ns, Verb: "create", Group: "coordination.k8s.io", Resource: "leases"},
		authzv1.ResourceAttributes{Namespace: e.ns, Verb: "create", Resource: "events"})
	token := clustertest.Token(t, e.cluster, e.ns, sa)
	e.kube, e.kubeCalls = countingClient(t, e.cluster.RESTFor(token))
	return sa
}
