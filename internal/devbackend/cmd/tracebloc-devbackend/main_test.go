package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/syncbuf"
)

// TestRunServes starts the binary's run on a free loopback port, makes a request and stops
// it by cancelling the context, as SIGINT does. The /_dev/ API answers only with the
// admin token of the file run wrote, which never shows in the output.
func TestRunServes(t *testing.T) {
	tests := []struct {
		name string
		file string // --admin-token-file; "" for the default
	}{
		{name: "token file given", file: filepath.Join(t.TempDir(), "admin.token")},
		{name: "temporary token file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.file != "" {
				if err := os.WriteFile(tc.file, []byte("stale\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			var stdout, output syncbuf.Buffer
			done := make(chan error, 1)
			args := []string{"--listen", "127.0.0.1:0", "--log-format", "json", "--user", "ops@x.example:ops:Ops"}
			if tc.file != "" {
				args = append(args, "--admin-token-file", tc.file)
			}
			go func() {
				done <- run(ctx, args, nil, &stdout, pw)
				pw.Close()
			}()
			lines := bufio.NewScanner(io.TeeReader(pr, &output))
			if !lines.Scan() {
				t.Fatalf("no output; run: %v", <-done)
			}
			url, ok := strings.CutPrefix(lines.Text(), "listening on ")
			if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
				t.Fatalf("first line %q, want \"listening on http://127.0.0.1:PORT\"", lines.Text())
			}
			if !lines.Scan() {
				t.Fatalf("no second line; run: %v", <-done)
			}
			m := regexp.MustCompile(`^admin token in (\S+) `).FindStringSubmatch(lines.Text())
			if m == nil || (tc.file != "" && m[1] != tc.file) {
				t.Fatalf("second line %q, want \"admin token in %s ...\"", lines.Text(), tc.file)
			}
			path := m[1]
			go func() { _, _ = io.Copy(io.Discard, io.TeeReader(pr, &output)) }() // the request log

			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			token := strings.TrimSpace(string(b))
			if len(token) < 16 {
				t.Fatalf("token file holds %q, want a token", b)
			}

			get := func(path, token string) int {
				t.Helper()
				req, _ := http.NewRequest("GET", url+path, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if got := get("/userinfo/", ""); got != http.StatusUnauthorized {
				t.Errorf("GET /userinfo/ = %d, want 401", got)
			}
			if got := get("/_dev/pending", ""); got != http.StatusUnauthorized {
				t.Errorf("GET /_dev/pending without the token = %d, want 401", got)
			}
			if got := get("/_dev/pending", token); got != http.StatusOK {
				t.Errorf("GET /_dev/pending with the token of the file = %d, want 200", got)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run after cancel = %v, want nil", err)
			}
			if strings.Contains(stdout.String()+output.String(), token) {
				t.Error("the output shows the admin token")
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("token file after exit: %v, want it removed", err)
			}
		})
	}
}

// TestServeTimeouts: a client that sends half a request, or keeps an idle connection,
// is disconnected; the test reads until the server closes, it does not sleep.
func TestServeTimeouts(t *testing.T) {
	const short = 50 * time.Millisecond
	// Each case sets only the timeout it tests: net/http falls back from one to another.
	tests := []struct {
		name, send string
		timeouts   timeouts
	}{
		{name: "half a header", send: "GET / HTTP/1.1\r\nHost: x\r\n", timeouts: timeouts{readHeader: short}},
		{name: "half a body", send: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab", timeouts: timeouts{read: short}},
		{name: "idle after an answer", send: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeouts: timeouts{idle: short}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.ReadAll(r.Body) })
			go func() { done <- serve(ctx, ln, h, tc.timeouts) }()
			defer func() { cancel(); <-done }()

			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			// Far beyond the timeouts: only a server without them reaches this deadline.
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("the server kept the connection open for 10s, want it closed after %v", short)
			}
		})
	}
	if d := defaultTimeouts(); d.readHeader <= 0 || d.read <= 0 || d.write <= 0 || d.idle <= 0 {
		t.Errorf("defaultTimeouts() = %+v, want every timeout set", d)
	}
}

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{name: "all interfaces", args: []string{"--listen", ":8787"}, want: "--allow-non-loopback"},
		{name: "wildcard address", args: []string{"--listen", "0.0.0.0:8787"}, want: "--allow-non-loopback"},
		{name: "a LAN address", args: []string{"--listen", "192.0.2.7:8787"}, want: "not a loopback address"},
		{name: "no port", args: []string{"--listen", "127.0.0.1"}, want: "host:port"},
		{name: "log format", args: []string{"--log-format", "xml"}, want: "console or json"},
		{name: "user without account", args: []string{"--user", "a@b.example"}, want: "email:account"},
		{name: "user role", args: []string{"--user", "a@b.example:acct:A:root"}, want: "neither admin nor viewer"},
		{name: "min version", args: []string{"--listen", "127.0.0.1:0", "--min-version", "latest"}, want: "semantic version"},
		{name: "positional argument", args: []string{"serve"}, want: "unexpected arguments"},
		{name: "token file in a missing folder", args: []string{"--listen", "127.0.0.1:0", "--admin-token-file", "/nonexistent/folder/token"}, want: "write the admin token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			err := run(context.Background(), tc.args, nil, io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Errorf("run(%q) = %v, want an error that says %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		addr     string
		allowAny bool
		ok       bool
	}{
		{addr: "127.0.0.1:8787", ok: true},
		{addr: "127.0.0.2:1", ok: true},
		{addr: "[::1]:8787", ok: true},
		{addr: "localhost:8787", ok: true},
		{addr: "0.0.0.0:8787"},
		{addr: "[::]:8787"},
		{addr: "example.com:80"},
		{addr: "0.0.0.0:8787", allowAny: true, ok: true},
	}
	for _, tc := range tests {
		if err := checkListen(tc.addr, tc.allowAny); (err == nil) != tc.ok {
			t.Errorf("checkListen(%q, %v) = %v, want ok %v", tc.addr, tc.allowAny, err, tc.ok)
		}
	}
}
