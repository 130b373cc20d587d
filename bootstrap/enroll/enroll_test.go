package enroll_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
)

const (
	clusterID  = "uid-of-this-cluster"
	secretName = "edge-credentials"
	password   = "the-password-of-the-old-client-0123456789"
)

// world is a development backend behind a filter that can fail calls or edit answers, and
// a credential Store over the fake clientset (these tests are about the decisions, not
// about Kubernetes).
type world struct {
	t     *testing.T
	srv   *devbackend.Server
	url   string
	kube  *fake.Clientset
	store *credential.Store

	mu           sync.Mutex
	fail         map[string]int  // "METHOD /path" (the path up to its id) -> status answered instead
	decommission map[string]bool // usernames listed as decommissioned
	lists        int             // GET /edge-device/ calls so far
	beforeList   func(n int)     // called before the n-th list (from 1) is answered
	hide         map[string]int  // username -> left out of the lists up to this one (from 1)
}

func newWorld(t *testing.T, cfg devbackend.Config) *world {
	t.Helper()
	cfg.Users = []devbackend.User{
		{Email: "dev@example.com", Account: "dev", FirstName: "Dev", Admin: true},
		{Email: "other@example.com", Account: "other", FirstName: "Other", Admin: true},
	}
	srv, err := devbackend.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, srv: srv, kube: fake.NewClientset(), fail: map[string]int{}, decommission: map[string]bool{}, hide: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(w.filter))
	t.Cleanup(func() { hs.Close(); srv.Close() })
	w.url = hs.URL
	w.store = &credential.Store{Client: w.kube, Namespace: "edge", Name: secretName}
	return w
}

func (w *world) filter(rw http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	if r.Method == http.MethodPatch {
		key = "PATCH /edge-device/"
	}
	w.mu.Lock()
	status, rewrite := w.fail[key], len(w.decommission) > 0 || len(w.hide) > 0
	list, before := r.Method == http.MethodGet && r.URL.Path == "/edge-device/", w.beforeList
	if list {
		w.lists++
	}
	n := w.lists
	w.mu.Unlock()
	if list && before != nil {
		before(n)
	}
	if status != 0 {
		rw.WriteHeader(status)
		_, _ = io.WriteString(rw, `{"detail":"failed by the test"}`)
		return
	}
	if !rewrite || !list {
		w.srv.Handler().ServeHTTP(rw, r)
		return
	}
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, r)
	var page map[string]json.RawMessage
	var results []map[string]any
	if json.Unmarshal(rec.Body.Bytes(), &page) != nil || json.Unmarshal(page["results"], &results) != nil {
		w.t.Errorf("the client list is not a page: %s", rec.Body)
		return
	}
	w.mu.Lock()
	kept := results[:0]
	for _, c := range results {
		name, _ := c["username"].(string)
		if w.decommission[name] {
			c["is_decommissioned"] = true
		}
		if n > w.hide[name] {
			kept = append(kept, c)
		}
	}
	w.mu.Unlock()
	page["results"], _ = json.Marshal(kept)
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(page)
}

func (w *world) decommissionClient(username string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.decommission[username] = true
}

func (w *world) failWith(call string, status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail[call] = status
}

// signIn returns a client signed in as email through the device grant.
func (w *world) signIn(email string) *api.Client {
	w.t.Helper()
	c, err := api.New(w.url, api.WithMaxRetries(1))
	if err != nil {
		w.t.Fatal(err)
	}
	ctx := context.Background()
	code, err := c.RequestDeviceCode(ctx, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.srv.Approve(code.UserCode, email); err != nil {
		w.t.Fatal(err)
	}
	tok, err := c.PollDeviceToken(ctx, code.DeviceCode)
	if err != nil {
		w.t.Fatal(err)
	}
	return c.WithToken(tok.Token)
}

// client creates a client of dev@example.com's account with password.
func (w *world) client(ns, cluster string) api.EdgeDevice {
	w.t.Helper()
	dev, _, err := w.signIn("dev@example.com").CreateEdgeDevice(context.Background(), api.CreateRequest{
		FirstName: "old-client", Namespace: ns, Password: password, ClusterID: cluster,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return *dev
}

// putSecret stores the bootstrap's credential Secret (labelled) with data and ann.
func (w *world) putSecret(data map[string]string, ann map[string]string) {
	w.t.Helper()
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: "edge", Annotations: ann, Labels: map[string]string{credential.LabelCredential: "true"}},
		Type:       corev1.SecretTypeOpaque, Data: map[string][]byte{},
	}
	for k, v := range data {
		sec.Data[k] = []byte(v)
	}
	if _, err := w.kube.CoreV1().Secrets("edge").Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) secretData() map[string]string {
	w.t.Helper()
	sec, err := w.kube.CoreV1().Secrets("edge").Get(context.Background(), secretName, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range sec.Data {
		out[k] = string(v)
	}
	return out
}

// run enrolls as email in namespace ns, with prior read from the Store.
func (w *world) run(email, ns string, legacy *enroll.Legacy, log io.Writer) (*enroll.Result, error) {
	w.t.Helper()
	prior, err := w.store.Read(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	e := &enroll.Enroller{
		Backend: w.signIn(email), Store: w.store, ClusterID: clusterID, Namespace: ns,
		ResetWindow: 10 * time.Minute, Legacy: legacy, Log: zerolog.New(log),
	}
	acct, err := e.Who(context.Background())
	if err != nil {
		return nil, err
	}
	if legacy != nil {
		return e.Migrate(context.Background(), acct)
	}
	return e.MintOrAdopt(context.Background(), acct, prior)
}

func (w *world) verifies(username, pw string) bool {
	c, _ := api.New(w.url)
	return c.VerifyCredential(context.Background(), username, pw) == nil
}

// stopKind is the Kind of the stop err is, -1 for a plain error.
func stopKind(err error) enroll.Kind {
	var stop *enroll.Error
	if errors.As(err, &stop) {
		return stop.Kind
	}
	return -1
}

// A working credential in the Secret that is not complete for this cluster (annotations
// lost, a Secret the operator labelled) is kept on every answer but the backend's
// refusal: the run stops, and the restart checks again.
func TestWorkingCredentialIsKeptUnlessRefused(t *testing.T) {
	tests := []struct {
		name     string
		anchored bool   // the old client holds this cluster's id already
		ns       string // the old client's namespace
		fail     string // the call that fails
		status   int
		signIn   string
		wantCode enroll.Kind // the stop's kind, -1 for a plain error
	}{
		{name: "503 from api-token-auth", anchored: true, ns: "edge", fail: "POST /api-token-auth/", status: 503, wantCode: -1},
		{name: "429 from api-token-auth, retries spent", anchored: true, ns: "edge", fail: "POST /api-token-auth/", status: 429, wantCode: -1},
		{name: "failed PATCH of the cluster id", ns: "old-ns", fail: "PATCH /edge-device/", status: 500, wantCode: -1},
		{name: "signed in with another account", anchored: true, ns: "edge", signIn: "other@example.com", wantCode: enroll.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, devbackend.Config{})
			cluster := ""
			if tt.anchored {
				cluster = clusterID
			}
			old := w.client(tt.ns, cluster)
			w.putSecret(map[string]string{credential.KeyClientID: old.Username, credential.KeyClientPassword: password}, nil)
			if tt.fail != "" {
				w.failWith(tt.fail, tt.status)
			}
			email := tt.signIn
			if email == "" {
				email = "dev@example.com"
			}
			var log bytes.Buffer
			res, err := w.run(email, "edge", nil, &log)
			if err == nil || stopKind(err) != tt.wantCode {
				t.Fatalf("Run() = %+v, %v (exit %d), want a stop with exit %d\n%s", res, err, stopKind(err), tt.wantCode, log.String())
			}
			want := map[string]string{credential.KeyClientID: old.Username, credential.KeyClientPassword: password}
			if got := w.secretData(); got[credential.KeyClientID] != want[credential.KeyClientID] || got[credential.KeyClientPassword] != password {
				t.Errorf("the Secret's credential was replaced: keys %d, CLIENT_ID %q, want %q and the old password", len(got), got[credential.KeyClientID], old.Username)
			}
			w.failWith(tt.fail, 0)
			if !w.verifies(old.Username, password) {
				t.Errorf("the old client's credential no longer works")
			}
		})
	}
}

// A credential the backend refuses, or whose client is decommissioned, is replaced.
func TestRefusedCredentialIsReplaced(t *testing.T) {
	tests := []struct {
		name         string
		password     string
		decommission bool
	}{
		{name: "refused password", password: "not-the-password-0123456789"},
		{name: "decommissioned client", password: password, decommission: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, devbackend.Config{})
			old := w.client("elsewhere", "")
			if tt.decommission {
				w.decommissionClient(old.Username)
			}
			w.putSecret(map[string]string{credential.KeyClientID: old.Username, credential.KeyClientPassword: tt.password}, nil)
			var log bytes.Buffer
			res, err := w.run("dev@example.com", "edge", nil, &log)
			if err != nil {
				t.Fatalf("Run() = %v\n%s", err, log.String())
			}
			if res.Enrollment != credential.Minted || res.Client.Username == old.Username {
				t.Errorf("Run() enrolled %q as %s, want a new client minted", res.Client.Username, res.Enrollment)
			}
			if got := w.secretData(); got[credential.KeyClientID] != res.Client.Username || !w.verifies(got[credential.KeyClientID], got[credential.KeyClientPassword]) {
				t.Errorf("the Secret does not hold the new client's working credential")
			}
		})
	}
}

// The client the backend adopts for this cluster belongs to another namespace's install:
// its password is not reset, whatever its heartbeat says.
func TestAdoptOfAnotherNamespacesClientIsNotReset(t *testing.T) {
	w := newWorld(t, devbackend.Config{})
	a := w.client("ns-a", clusterID)
	var log bytes.Buffer
	_, err := w.run("dev@example.com", "ns-b", nil, &log)
	if stopKind(err) != enroll.Conflict {
		t.Fatalf("Run() = %v (kind %d), want kind %d\n%s", err, stopKind(err), enroll.Conflict, log.String())
	}
	for _, want := range []string{"namespace ns-a", "namespace ns-b", "helm install -n ns-a", "delete client"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run() = %q, want it to say %q", err, want)
		}
	}
	if !w.verifies(a.Username, password) {
		t.Errorf("namespace ns-a's client was reset: its credential no longer works")
	}
}

// A legacy credential is migrated only when the backend accepts it and its client is not
// decommissioned; otherwise nothing is anchored and nothing is written.
func TestMigrationChecksTheLegacyCredential(t *testing.T) {
	tests := []struct {
		name         string
		password     string
		decommission bool
		want         string
	}{
		{name: "refused password", password: "not-the-password-0123456789", want: "refuses the CLIENT_PASSWORD"},
		{name: "decommissioned client", password: password, decommission: true, want: "is decommissioned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, devbackend.Config{})
			old := w.client("edge", "")
			if tt.decommission {
				w.decommissionClient(old.Username)
			}
			var log bytes.Buffer
			_, err := w.run("dev@example.com", "edge", &enroll.Legacy{Secret: "tracebloc-client", ClientID: old.Username, Password: tt.password}, &log)
			if stopKind(err) != enroll.Config || !strings.Contains(fmt.Sprint(err), tt.want) || !strings.Contains(fmt.Sprint(err), "legacySecret") {
				t.Fatalf("Run() = %v (kind %d), want kind %d saying %q and naming legacySecret\n%s", err, stopKind(err), enroll.Config, tt.want, log.String())
			}
			clients, _ := w.srv.Clients()
			if len(clients) != 1 || clients[0].ClusterID != nil {
				t.Errorf("clients = %+v, want the legacy one, not anchored", clients)
			}
			if got := w.secretData(); len(got) != 0 {
				t.Errorf("the Secret holds %d keys, want none written", len(got))
			}
		})
	}
}

// A backend without the password reset extension: the lost-credential path stops with
// one line that says what to do instead.
func TestResetWithoutTheExtensionSaysWhatToDo(t *testing.T) {
	w := newWorld(t, devbackend.Config{ContractOnly: true})
	a := w.client("edge", clusterID)
	var log bytes.Buffer
	_, err := w.run("dev@example.com", "edge", nil, &log)
	if stopKind(err) != enroll.Conflict {
		t.Fatalf("Run() = %v (kind %d), want kind %d\n%s", err, stopKind(err), enroll.Conflict, log.String())
	}
	msg := err.Error()
	for _, want := range []string{"cannot reset", "HTTP 400", "tracebloc client delete old-client", "Revoking it is not enough"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Run() = %q, want it to say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("Run() = %q, want one line", msg)
	}
	if !w.verifies(a.Username, password) {
		t.Errorf("the client's credential changed")
	}
}
