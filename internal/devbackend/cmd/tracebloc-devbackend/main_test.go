package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRunServes starts the binary's run on a free loopback port, makes a request and stops
// it by cancelling the context, as SIGINT does.
func TestRunServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--log-format", "json", "--user", "ops@x.example:ops:Ops"}, nil, io.Discard, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output; run: %v", <-done)
	}
	url, ok := strings.CutPrefix(lines.Text(), "listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q, want \"listening on http://127.0.0.1:PORT\"", lines.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // the request log

	resp, err := http.Get(url + "/userinfo/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /userinfo/ = %d, want 401", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
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
