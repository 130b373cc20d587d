package main

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
)

// output collects what a stand-in prints and tells a test when a line arrives.
type output struct {
	mu    sync.Mutex
	text  strings.Builder
	lines chan string
}

func newOutput() *output { return &output{lines: make(chan string, 100)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.text.Write(p)
	o.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		select {
		case o.lines <- l:
		default:
		}
	}
	return len(p), nil
}

func (o *output) String() string { o.mu.Lock(); defer o.mu.Unlock(); return o.text.String() }

// waitFor returns once a line containing want is printed.
func (o *output) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-o.lines:
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no line with %q; the stand-in printed:\n%s", want, o.String())
		}
	}
}

// world is a development backend with one client, and the stand-in's environment for it.
type world struct {
	srv      *devbackend.Server
	url      string
	now      *clocktesting.FakeClock // the backend's clock and the stand-in's
	user     *api.Client
	device   *api.EdgeDevice
	password string
}

func newWorld(t *testing.T, contractOnly bool) *world {
	t.Helper()
	return newWorldNamed(t, contractOnly, "edge-x")
}

// newWorldNamed is newWorld whose client has the display name name.
func newWorldNamed(t *testing.T, contractOnly bool, name string) *world {
	t.Helper()
	w := &world{now: clocktesting.NewFakeClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)), password: "the-machine-password-of-x"}
	srv, err := devbackend.New(devbackend.Config{Now: w.now.Now, Logger: zerolog.Nop(), ContractOnly: contractOnly})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	w.srv, w.url = srv, ts.URL
	ctx := context.Background()
	c, err := api.New(ts.URL, api.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.RequestDeviceCode(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Approve(dc.UserCode, "dev@example.com"); err != nil {
		t.Fatal(err)
	}
	tok, err := c.PollDeviceToken(ctx, dc.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	w.user = c.WithToken(tok.Token)
	w.device, _, err = w.user.CreateEdgeDevice(ctx, api.CreateRequest{FirstName: name, Namespace: "tracebloc", Password: w.password, ClusterID: "cluster-x"})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) env(password string) func(string) string {
	vars := map[string]string{"CLIENT_ID": w.device.Username, "CLIENT_PASSWORD": password, "TRACEBLOC_API_URL": w.url}
	return func(k string) string { return vars[k] }
}

// client is the backend's record of the world's client.
func (w *world) client(t *testing.T) api.EdgeDevice {
	t.Helper()
	list, err := w.srv.Clients()
	if err != nil || len(list) != 1 {
		t.Fatalf("Clients() = %v, %v; want one", list, err)
	}
	return list[0]
}

// ended is the end of a run: wait returns its error, as often as it is called.
type ended struct {
	once sync.Once
	c    chan error
	err  error
}

func (e *ended) wait() error {
	e.once.Do(func() { e.err = <-e.c })
	return e.err
}

// start runs the stand-in with argv until the test ends.
func (w *world) start(t *testing.T, argv []string, password string) (*output, *ended, context.CancelFunc) {
	t.Helper()
	out := newOutput()
	ctx, cancel := context.WithCancel(context.Background())
	done := &ended{c: make(chan error, 1)}
	go func() { done.c <- run(ctx, argv, w.env(password), out, w.now) }()
	t.Cleanup(func() {
		cancel()
		_ = done.wait()
		for _, secret := range []string{w.password, w.device.Username} {
			if strings.Contains(out.String(), secret) {
				t.Errorf("the stand-in printed the credential:\n%s", out.String())
			}
		}
	})
	return out, done, cancel
}

// stepWhenWaiting moves the clock on by d once the stand-in waits on it.
func stepWhenWaiting(t *testing.T, clk *clocktesting.FakeClock, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the stand-in never waited on its clock")
		}
		time.Sleep(time.Millisecond)
	}
	clk.Step(d)
}

// TestReportingRolesMakeTheClientOnline: each reporting role logs in and reports the
// client online at the backend's now, and again after each interval.
func TestReportingRolesMakeTheClientOnline(t *testing.T) {
	for _, role := range []string{"jobs-manager", "pods-monitor", "resource-monitor"} {
		t.Run(role, func(t *testing.T) {
			w := newWorld(t, false)
			argv := []string{"/usr/bin/tracebloc-standin", role}
			if role == "jobs-manager" {
				argv = append(argv, "--listen", "127.0.0.1:0")
			}
			out, _, _ := w.start(t, argv, w.password)
			out.waitFor(t, "reported online")
			c := w.client(t)
			if c.Status != api.StatusOnline || c.LastInfoUpdate == nil || !c.LastInfoUpdate.Equal(w.now.Now()) {
				t.Fatalf("after the first report: status %d, last_info_update %v; want 1 at %v", c.Status, c.LastInfoUpdate, w.now.Now())
			}
			stepWhenWaiting(t, w.now, 10*time.Second)
			deadline := time.Now().Add(10 * time.Second)
			for c := w.client(t); c.LastInfoUpdate == nil || !c.LastInfoUpdate.Equal(w.now.Now()); c = w.client(t) {
				if time.Now().After(deadline) {
					t.Fatalf("10 s later: last_info_update %v, want %v (a heartbeat every interval)", c.LastInfoUpdate, w.now.Now())
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// TestClientNameCleaned: the client's name comes from the backend; it is printed without
// its control characters, so a name cannot rewrite the terminal of whoever reads the log.
func TestClientNameCleaned(t *testing.T) {
	w := newWorldNamed(t, false, "edge\x1b[2J-y")
	out, _, _ := w.start(t, []string{"tracebloc-standin", "pods-monitor"}, w.password)
	out.waitFor(t, "reported online")
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("the stand-in printed an escape sequence of the client's name:\n%q", out.String())
	}
}

// TestWrongCredential: a refused credential ends the stand-in with exit code 1 and a line
// that says what to check; the client stays offline.
func TestWrongCredential(t *testing.T) {
	w := newWorld(t, false)
	_, done, _ := w.start(t, []string{"tracebloc-standin", "pods-monitor"}, "not-the-password-of-x")
	err := done.wait()
	if err == nil || !strings.Contains(err.Error(), "refused the machine credential") || !strings.Contains(err.Error(), "bootstrap") {
		t.Fatalf("run with a wrong password = %v, want the refusal naming the bootstrap", err)
	}
	if code := exitCode(err, &strings.Builder{}); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if c := w.client(t); c.Status == api.StatusOnline || c.LastInfoUpdate != nil {
		t.Errorf("client after a refused login: status %d, last_info_update %v; want offline", c.Status, c.LastInfoUpdate)
	}
}

// TestRevokedWhileRunning: when the client is revoked, the next heartbeat is refused, the
// login again too, and the stand-in ends with the refusal.
func TestRevokedWhileRunning(t *testing.T) {
	w := newWorld(t, false)
	out, done, _ := w.start(t, []string{"tracebloc-standin", "resource-monitor"}, w.password)
	out.waitFor(t, "reported online")
	if _, err := w.user.RevokeEdgeDevice(context.Background(), w.device.ID); err != nil {
		t.Fatal(err)
	}
	stepWhenWaiting(t, w.now, 10*time.Second)
	if err := done.wait(); err == nil || !strings.Contains(err.Error(), "refused the machine credential") {
		t.Fatalf("run after the revoke = %v, want the refusal", err)
	}
	if !strings.Contains(out.String(), "logging in again") {
		t.Errorf("no line about the refused token:\n%s", out.String())
	}
}

// TestBackendWithoutHeartbeat: a backend with only the contract has no heartbeat; the
// stand-in says so once and runs on, without reporting.
func TestBackendWithoutHeartbeat(t *testing.T) {
	w := newWorld(t, true)
	out, done, cancel := w.start(t, []string{"tracebloc-standin", "pods-monitor"}, w.password)
	out.waitFor(t, "the backend has no heartbeat call")
	cancel()
	if err := done.wait(); err != nil {
		t.Errorf("run after the stop = %v, want nil", err)
	}
}

// TestProbePortTaken: a taken probe port is said once and taken as soon as it is free.
func TestProbePortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := taken.Addr().String()
	clk := clocktesting.NewFakeClock(time.Now())
	out := newOutput()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tracebloc-standin", "idle", "--listen", addr}, func(string) string { return "" }, out, clk)
	}()
	out.waitFor(t, "cannot listen on "+addr)
	taken.Close()
	stepWhenWaiting(t, clk, rebindWait)
	out.waitFor(t, "listening on "+addr)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("the probe cannot connect: %v", err)
	}
	conn.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after the stop = %v", err)
	}
}

// TestCalledAs: the programs the chart's manifests call by name pick their role by it.
func TestCalledAs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	_, freePort, _ := net.SplitHostPort(free.Addr().String())
	free.Close()
	tests := []struct {
		name     string
		argv     []string
		wantErr  string // "" = ran until stopped, or succeeded
		wantCode int
		wantLine string
	}{
		{name: "mysqladmin ping, alive", argv: []string{"/usr/bin/mysqladmin", "ping", "-h", "127.0.0.1", "-P", port}, wantLine: "mysqld is alive"},
		{name: "mysqladmin ping, dead", argv: []string{"mysqladmin", "ping", "-h", "127.0.0.1", "-P", freePort}, wantErr: "connect to server at '127.0.0.1' failed", wantCode: 1},
		{name: "mysqladmin other", argv: []string{"mysqladmin", "status"}, wantErr: "only `mysqladmin ping", wantCode: 2},
		{name: "python gunicorn", argv: []string{"python", "-m", "gunicorn", "--bind=0.0.0.0:" + freePort, "--workers=1"}, wantLine: "listening on 127.0.0.1:" + freePort},
		{name: "squid", argv: []string{"squid", "-N", "-f", "/etc/squid/squid.conf"}, wantLine: "waiting until stopped"},
		{name: "no role", argv: []string{"/usr/bin/tracebloc-standin"}, wantErr: "give the role", wantCode: 2},
		{name: "unknown role", argv: []string{"tracebloc-standin", "mysql"}, wantErr: `unknown role "mysql"`, wantCode: 2},
		{name: "listen beyond the loopback", argv: []string{"tracebloc-standin", "idle", "--listen", "0.0.0.0:80"}, wantErr: "127.0.0.1:PORT", wantCode: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := newOutput()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, tc.argv, func(string) string { return "" }, out, clocktesting.NewFakeClock(time.Now()))
			}()
			if tc.wantLine != "" {
				out.waitFor(t, tc.wantLine)
			}
			cancel()
			err := <-done
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("run(%q) = %v, want error containing %q", tc.argv, err, tc.wantErr)
			}
			if code := exitCode(err, &strings.Builder{}); code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", code, tc.wantCode)
			}
		})
	}
}

// TestLoadConfig: the backend URL comes from TRACEBLOC_API_URL, else from the chart's
// CLIENT_ENV; every refusal names its variable.
func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		wantURL string
		wantErr string
	}{
		{name: "default prod", vars: map[string]string{}, wantURL: "https://api.tracebloc.io"},
		{name: "alias staging", vars: map[string]string{"CLIENT_ENV": "staging"}, wantURL: "https://stg-api.tracebloc.io"},
		{name: "dev", vars: map[string]string{"CLIENT_ENV": "dev"}, wantURL: "https://dev-api.tracebloc.io"},
		{name: "URL wins", vars: map[string]string{"CLIENT_ENV": "dev", "TRACEBLOC_API_URL": "http://127.0.0.1:9"}, wantURL: "http://127.0.0.1:9"},
		{name: "unknown env", vars: map[string]string{"CLIENT_ENV": "develop"}, wantErr: "CLIENT_ENV"},
		{name: "bad interval", vars: map[string]string{"TRACEBLOC_HEARTBEAT_INTERVAL": "-1s"}, wantErr: "TRACEBLOC_HEARTBEAT_INTERVAL"},
		{name: "unparsable interval", vars: map[string]string{"TRACEBLOC_HEARTBEAT_INTERVAL": "often"}, wantErr: "TRACEBLOC_HEARTBEAT_INTERVAL"},
		{name: "no password", vars: map[string]string{"CLIENT_PASSWORD": ""}, wantErr: "CLIENT_PASSWORD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"CLIENT_ID": "id", "CLIENT_PASSWORD": "pw"}
			for k, v := range tc.vars {
				vars[k] = v
			}
			_, url, err := loadConfig(context.Background(), func(k string) string { return vars[k] })
			var usage *usageError
			if tc.wantErr != "" {
				if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig() error = %v, want a usage error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || url != tc.wantURL {
				t.Errorf("loadConfig() = %q, %v; want %q", url, err, tc.wantURL)
			}
		})
	}
}

func TestPortOf(t *testing.T) {
	for bind, want := range map[string]string{"0.0.0.0:8888": "8888", "[::]:80": "80", "unix:/x": "/x", "8888": "", "host:": ""} {
		if got := portOf(bind); got != want {
			t.Errorf("portOf(%q) = %q, want %q", bind, got, want)
		}
	}
}
