package api_test

// The recorder: the project's own fixtures (testdata/recorded) are recorded from the
// development backend through the real client, so that a change of the backend's answer
// shapes shows up as a diff in review. Rewrite them with
//
//	go test ./internal/api -run TestRecorded -update
//
// and run the tests again without -update; the decode tests (recorded_decode_test.go) read
// the files, and they run before this test.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/version"
)

var update = flag.Bool("update", false, "rewrite testdata/recorded from the development backend")

const (
	recordedDir = "testdata/recorded"
	// recordedURL stands in for the test server's http://127.0.0.1:<random port>.
	recordedURL = "http://backend.test"
	// recordedMinVersion is the development backend's minimum version (426 below it).
	recordedMinVersion = "0.4.0"
)

// Placeholders of the volatile values; recorded_decode_test.go expects exactly these.
const (
	placeholderDeviceCode   = "RECORDED_DEVICE_CODE"
	placeholderUserCode     = "XXXX-XXXX"
	placeholderUserToken    = "RECORDED_USER_TOKEN"
	placeholderMachineToken = "RECORDED_MACHINE_TOKEN"
	placeholderUsername     = "recorded-username-%d" // of the client with that id
)

// Development users of the recording.
const (
	devEmail    = "dev@example.com"
	viewerEmail = "viewer@example.com"
	otherEmail  = "other@example.com"
)

// recordedStart is the injected clock's start: dates in the files do not move.
var recordedStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testClock is the development backend's injected clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func (c *testClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// exchange is one answer the client received.
type exchange struct {
	method, path string
	status       int
	retryAfter   string
	body         []byte
}

// capture wraps the client's transport and keeps every answer it passes on.
type capture struct {
	next      http.RoundTripper
	mu        sync.Mutex
	exchanges []exchange
}

func (c *capture) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("capture the answer of %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.mu.Lock()
	c.exchanges = append(c.exchanges, exchange{method: req.Method, path: req.URL.Path,
		status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: body})
	c.mu.Unlock()
	return resp, nil
}

// take returns the answers since the previous take.
func (c *capture) take() []exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.exchanges
	c.exchanges = nil
	return out
}

// backend is one development backend on a loopback httptest server, with a client of it
// (no retries, so every 429 is seen) whose answers are captured.
type backend struct {
	srv    *devbackend.Server
	ts     *httptest.Server
	cap    *capture
	client *api.Client
}

func startBackend(t *testing.T, cfg devbackend.Config) *backend {
	t.Helper()
	srv, err := devbackend.New(cfg)
	if err != nil {
		t.Fatalf("devbackend.New: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv.Handler()) // binds 127.0.0.1
	t.Cleanup(ts.Close)
	cp := &capture{next: ts.Client().Transport}
	c, err := api.New(ts.URL, api.WithHTTPClient(&http.Client{Transport: cp, Timeout: 30 * time.Second}),
		api.WithMaxRetries(0))
	if err != nil {
		t.Fatalf("api.New(%q): %v", ts.URL, err)
	}
	return &backend{srv: srv, ts: ts, cap: cp, client: c}
}

// recording collects the named answers in the order they were recorded.
type recording struct {
	t     *testing.T
	names []string
	saved map[string]exchange
	urls  []string // base URLs of the backends, normalized to recordedURL
}

// save records the single answer b's client received since the last take as name.
func (r *recording) save(b *backend, name string) {
	r.t.Helper()
	got := b.cap.take()
	if len(got) != 1 {
		r.t.Fatalf("%s: %d answers captured, want 1", name, len(got))
	}
	r.saveExchange(name, got[0])
}

func (r *recording) saveExchange(name string, ex exchange) {
	r.t.Helper()
	if _, dup := r.saved[name]; dup {
		r.t.Fatalf("%s recorded twice", name)
	}
	r.names = append(r.names, name)
	r.saved[name] = ex
}

// expect fails the recording when a call did not provoke the answer it was meant to.
func expect(t *testing.T, name string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", name, err, want)
	}
}

func must(t *testing.T, name string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// login runs the device flow for email and returns the user token; nothing is recorded.
func login(t *testing.T, b *backend, email string) string {
	t.Helper()
	ctx := context.Background()
	dc, err := b.client.RequestDeviceCode(ctx, nil)
	must(t, "login: device code", err)
	must(t, "login: approve", b.srv.Approve(dc.UserCode, email))
	tok, err := b.client.PollDeviceToken(ctx, dc.DeviceCode)
	must(t, "login: token", err)
	b.cap.take()
	return tok.Token
}

// heartbeat plays the edge workload's heartbeat through the /_dev/ API (loopback, admin
// token), so that the client is live.
func heartbeat(t *testing.T, b *backend, id int64) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/_dev/clients/%d/heartbeat", b.ts.URL, id), strings.NewReader(`{"status": 1}`))
	must(t, "heartbeat", err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.srv.AdminToken())
	resp, err := b.ts.Client().Do(req)
	must(t, "heartbeat", err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("heartbeat of client %d: HTTP %d", id, resp.StatusCode)
	}
}

// machinePassword is a machine credential of the recording (never written to a file: no
// request body is recorded).
func machinePassword(n int) string { return fmt.Sprintf("recorded-machine-password-%02d", n) }

func createReq(name, namespace, clusterID string) api.CreateRequest {
	return api.CreateRequest{FirstName: name, Namespace: namespace, Password: machinePassword(0), ClusterID: clusterID}
}

// record drives the development backend through the client to every answer shape of the
// contract and returns the normalized files by name.
func record(t *testing.T) map[string][]byte {
	ctx := context.Background()
	clock := &testClock{t: recordedStart}
	b := startBackend(t, devbackend.Config{
		Now:            clock.Now,
		DeviceInterval: 5 * time.Second,
		DeviceTTL:      15 * time.Minute,
		MinVersion:     recordedMinVersion,
		PageSize:       3,
		Users: []devbackend.User{
			{Email: devEmail, Account: "dev", FirstName: "Dev", Admin: true},
			{Email: viewerEmail, Account: "dev", FirstName: "Viewer"},
			{Email: otherEmail, Account: "other", FirstName: "Other", Admin: true},
		},
	})
	rec := &recording{t: t, saved: map[string]exchange{}, urls: []string{b.ts.URL}}
	c := b.client

	// Device authorization grant: pending, slow_down, success; denied; expired.
	dc, err := c.RequestDeviceCode(ctx, nil)
	must(t, "device code", err)
	rec.save(b, "device_code.json")
	_, err = c.PollDeviceToken(ctx, dc.DeviceCode)
	expect(t, "first poll", err, api.ErrAuthorizationPending)
	rec.save(b, "device_token_error_authorization_pending.json")
	_, err = c.PollDeviceToken(ctx, dc.DeviceCode) // same instant: too fast
	expect(t, "second poll", err, api.ErrSlowDown)
	rec.save(b, "device_token_error_slow_down.json")
	must(t, "approve", b.srv.Approve(dc.UserCode, devEmail))
	clock.Add(15 * time.Second) // past the interval grown by slow_down (10 s)
	tok, err := c.PollDeviceToken(ctx, dc.DeviceCode)
	must(t, "poll after approval", err)
	rec.save(b, "device_token_success.json")

	denied, err := c.RequestDeviceCode(ctx, nil)
	must(t, "device code to deny", err)
	must(t, "deny", b.srv.Deny(denied.UserCode))
	b.cap.take()
	_, err = c.PollDeviceToken(ctx, denied.DeviceCode)
	expect(t, "poll after denial", err, api.ErrAccessDenied)
	rec.save(b, "device_token_error_access_denied.json")

	expiring, err := c.RequestDeviceCode(ctx, nil)
	must(t, "device code to expire", err)
	b.cap.take()
	clock.Add(15 * time.Minute) // DeviceTTL
	_, err = c.PollDeviceToken(ctx, expiring.DeviceCode)
	expect(t, "poll after expiry", err, api.ErrExpiredToken)
	rec.save(b, "device_token_error_expired_token.json")

	viewer := c.WithToken(login(t, b, viewerEmail))
	other := c.WithToken(login(t, b, otherEmail))
	dev := c.WithToken(tok.Token)

	// Clients. Dates are the clock's: date_joined and heartbeats at 01:00.
	clock.Set(recordedStart.Add(time.Hour))
	_, err = dev.UserInfo(ctx)
	must(t, "userinfo", err)
	rec.save(b, "userinfo.json")

	first := api.CreateRequest{FirstName: "edge-dev", Namespace: "tracebloc", Location: "DE",
		Password: machinePassword(1), ClusterID: "recorded-cluster-uid-0001"}
	d1, created, err := dev.CreateEdgeDevice(ctx, first)
	if err != nil || !created {
		t.Fatalf("create: created = %v, err = %v; want minted", created, err)
	}
	rec.save(b, "edge_device_create.json")
	first.Password = machinePassword(2) // ignored on adopt
	if _, created, err := dev.CreateEdgeDevice(ctx, first); err != nil || created {
		t.Fatalf("adopt: created = %v, err = %v; want adopted", created, err)
	}
	rec.save(b, "edge_device_adopt.json")
	_, _, err = other.CreateEdgeDevice(ctx, createReq("edge-other", "tracebloc", "recorded-cluster-uid-0001"))
	expect(t, "create on another account's cluster", err, api.ErrConflict)
	rec.save(b, "error_409_cluster_conflict.json")
	heartbeat(t, b, d1.ID) // live: a second installation on the cluster is refused
	_, _, err = dev.CreateEdgeDevice(ctx, createReq("edge-second", "tracebloc-2", "recorded-cluster-uid-0001"))
	expect(t, "second installation on a live cluster", err, api.ErrConflict)
	rec.save(b, "error_409_cluster_in_use.json")
	_, _, err = dev.CreateEdgeDevice(ctx, createReq("edge-clash", "tracebloc", ""))
	expect(t, "create in a held namespace", err, api.ErrConflict)
	rec.save(b, "error_409_namespace_conflict.json")
	_, _, err = viewer.CreateEdgeDevice(ctx, createReq("edge-viewer", "viewer", ""))
	expect(t, "create as viewer", err, api.ErrForbidden)
	rec.save(b, "error_403_client_write.json")

	legacy, _, err := dev.CreateEdgeDevice(ctx, createReq("edge-legacy", "legacy", ""))
	must(t, "create legacy", err)
	lost, _, err := dev.CreateEdgeDevice(ctx, createReq("edge-lost", "lost", "recorded-cluster-uid-0003"))
	must(t, "create lost", err)
	_, _, err = dev.CreateEdgeDevice(ctx, createReq("edge-spare", "spare", "recorded-cluster-uid-0004"))
	must(t, "create spare", err)
	b.cap.take()

	all, err := dev.ListEdgeDevices(ctx) // 4 clients, 3 a page
	must(t, "list", err)
	if len(all) != 4 {
		t.Fatalf("list: %d clients, want 4", len(all))
	}
	pages := b.cap.take()
	if len(pages) != 2 {
		t.Fatalf("list: %d pages read, want 2", len(pages))
	}
	rec.saveExchange("edge_device_list.json", pages[0])
	rec.saveExchange("edge_device_list_page2.json", pages[1])
	_, err = dev.GetEdgeDevice(ctx, d1.ID)
	must(t, "get", err)
	rec.save(b, "edge_device_get.json")
	_, err = dev.GetEdgeDevice(ctx, 999)
	expect(t, "get an unknown client", err, api.ErrNotFound)
	rec.save(b, "error_404_not_found.json")

	_, err = dev.PatchEdgeDevice(ctx, legacy.ID, api.PatchRequest{ClusterID: "recorded-cluster-uid-0002"})
	must(t, "patch cluster_id", err)
	rec.save(b, "edge_device_patch_cluster_id.json")
	_, err = dev.PatchEdgeDevice(ctx, d1.ID, api.PatchRequest{ClusterID: "recorded-cluster-uid-0009"})
	expect(t, "patch cluster_id of an anchored client", err, api.ErrConflict)
	rec.save(b, "error_409_cluster_id_set.json")
	_, err = dev.PatchEdgeDevice(ctx, lost.ID, api.PatchRequest{Password: machinePassword(3)})
	must(t, "patch password", err)
	rec.save(b, "edge_device_patch_password.json")
	machine, err := c.MachineLogin(ctx, lost.Username, machinePassword(3))
	must(t, "api-token-auth", err)
	rec.save(b, "api_token_auth.json")
	_, err = machine.Heartbeat(ctx, api.StatusOnline)
	must(t, "heartbeat", err)
	rec.save(b, "edge_device_heartbeat.json")
	err = c.VerifyCredential(ctx, lost.Username, machinePassword(0))
	expect(t, "api-token-auth with the old password", err, api.ErrInvalidCredential)
	rec.save(b, "error_400_api_token_auth.json")
	_, err = dev.RevokeEdgeDevice(ctx, lost.ID)
	must(t, "client revoke", err)
	rec.save(b, "edge_device_revoke.json")
	_, err = dev.Admins(ctx)
	must(t, "admins", err)
	rec.save(b, "edge_device_admins.json")

	recordUpgradeRequired(t, b, rec, dev)

	must(t, "revoke token", dev.RevokeToken(ctx))
	rec.save(b, "auth_revoke.json")
	_, err = dev.UserInfo(ctx)
	expect(t, "userinfo with a revoked token", err, api.ErrUnauthorized)
	rec.save(b, "error_401_unauthorized.json")

	// Rate limit: its own backend (1 request/s, burst 1), two codes at the same instant.
	limited := startBackend(t, devbackend.Config{Now: clock.Now, Rate: 1})
	rec.urls = append(rec.urls, limited.ts.URL)
	_, err = limited.client.RequestDeviceCode(ctx, nil)
	must(t, "rate: first code", err)
	limited.cap.take()
	_, err = limited.client.RequestDeviceCode(ctx, nil)
	expect(t, "rate: second code", err, api.ErrRateLimited)
	rec.save(limited, "error_429_rate_limited.json")

	return normalize(t, rec, append(mustClients(t, b.srv), mustClients(t, limited.srv)...))
}

// recordUpgradeRequired sends one call as version 0.0.1, below recordedMinVersion.
func recordUpgradeRequired(t *testing.T, b *backend, rec *recording, dev *api.Client) {
	t.Helper()
	saved := version.Version
	version.Version = "0.0.1"
	defer func() { version.Version = saved }()
	_, err := dev.UserInfo(context.Background())
	var up *api.UpgradeRequiredError
	if !errors.As(err, &up) {
		t.Fatalf("userinfo as 0.0.1: err = %v, want *api.UpgradeRequiredError", err)
	}
	rec.save(b, "error_426_upgrade_required.json")
}

func mustClients(t *testing.T, srv *devbackend.Server) []api.EdgeDevice {
	t.Helper()
	list, err := srv.Clients()
	must(t, "clients", err)
	return list
}

// normalize replaces the volatile values of the saved answers (tokens, device and user
// codes, client usernames, the server's address) with placeholders and encodes each as
// {"status", "body"} (plus "headers" with Retry-After when the answer had one).
func normalize(t *testing.T, rec *recording, clients []api.EdgeDevice) map[string][]byte {
	t.Helper()
	var pairs []string
	secretKeys := map[string]map[string]string{ // path -> JSON key -> placeholder
		"/device/code":     {"device_code": placeholderDeviceCode, "user_code": placeholderUserCode},
		"/device/token":    {"token": placeholderUserToken},
		"/api-token-auth/": {"token": placeholderMachineToken},
	}
	for _, name := range rec.names {
		ex := rec.saved[name]
		var obj map[string]any
		if ex.status/100 != 2 || json.Unmarshal(ex.body, &obj) != nil {
			continue
		}
		for key, placeholder := range secretKeys[ex.path] {
			if v, ok := obj[key].(string); ok && v != "" {
				pairs = append(pairs, v, placeholder)
			}
		}
	}
	for _, d := range clients {
		pairs = append(pairs, d.Username, fmt.Sprintf(placeholderUsername, d.ID))
	}
	for _, u := range rec.urls {
		pairs = append(pairs, u, recordedURL)
	}
	replacer := strings.NewReplacer(pairs...)

	files := map[string][]byte{}
	for _, name := range rec.names {
		ex := rec.saved[name]
		var body any
		if len(bytes.TrimSpace(ex.body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(ex.body))
			dec.UseNumber()
			if err := dec.Decode(&body); err != nil {
				t.Fatalf("%s: the answer of %s %s is not JSON: %v", name, ex.method, ex.path, err)
			}
		}
		body = replaceStrings(body, replacer)
		file := map[string]any{"status": ex.status, "body": body}
		if ex.retryAfter != "" {
			file["headers"] = map[string]string{"Retry-After": ex.retryAfter}
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(file); err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		for i := 0; i < len(pairs); i += 2 {
			if bytes.Contains(buf.Bytes(), []byte(pairs[i])) {
				t.Fatalf("%s: a volatile value survived normalization", name) // never print it
			}
		}
		if bytes.Contains(buf.Bytes(), []byte("127.0.0.1")) {
			t.Fatalf("%s: the server address survived normalization", name)
		}
		checkPlaceholders(t, name, body)
		files[name] = buf.Bytes()
	}
	return files
}

// replaceStrings applies r to every string of a decoded JSON value.
func replaceStrings(v any, r *strings.Replacer) any {
	switch v := v.(type) {
	case string:
		return r.Replace(v)
	case map[string]any:
		for k, e := range v {
			v[k] = replaceStrings(e, r)
		}
	case []any:
		for i, e := range v {
			v[i] = replaceStrings(e, r)
		}
	}
	return v
}

// checkPlaceholders fails when a secret-bearing key holds anything but a placeholder: a
// token or code the normalizer did not know about would otherwise be written to a file.
func checkPlaceholders(t *testing.T, name string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			s, isString := e.(string)
			ok := true
			switch k {
			case "token":
				ok = s == placeholderUserToken || s == placeholderMachineToken
			case "device_code":
				ok = s == placeholderDeviceCode
			case "user_code":
				ok = s == placeholderUserCode
			case "username":
				var id int
				_, err := fmt.Sscanf(s, placeholderUsername, &id)
				ok = err == nil && s == fmt.Sprintf(placeholderUsername, id)
			}
			if isString && !ok {
				t.Fatalf("%s: %q holds a value that is not a placeholder", name, k)
			}
			checkPlaceholders(t, name, e)
		}
	case []any:
		for _, e := range v {
			checkPlaceholders(t, name, e)
		}
	}
}

// TestRecorded records the development backend's answers and compares them with
// testdata/recorded; -update rewrites the files instead.
func TestRecorded(t *testing.T) {
	got := record(t)
	if *update {
		writeRecorded(t, got)
		return
	}
	want := map[string][]byte{}
	paths, err := filepath.Glob(filepath.Join(recordedDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want[filepath.Base(p)] = data
	}
	const hint = "the development backend's answers changed: review, then rewrite with `go test ./internal/api -run TestRecorded -update`"
	if diff := cmp.Diff(sortedKeys(want), sortedKeys(got)); diff != "" {
		t.Errorf("files in %s (-want +got), %s:\n%s", recordedDir, hint, diff)
	}
	for _, name := range sortedKeys(got) {
		if w, ok := want[name]; ok {
			if diff := cmp.Diff(string(w), string(got[name])); diff != "" {
				t.Errorf("%s (-want +got), %s:\n%s", name, hint, diff)
			}
		}
	}
}

func writeRecorded(t *testing.T, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(recordedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := filepath.Glob(filepath.Join(recordedDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, ok := files[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(recordedDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d files to %s", len(files), recordedDir)
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
