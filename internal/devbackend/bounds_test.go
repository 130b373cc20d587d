package devbackend

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// serveFrom serves one request in-process as if it came from remote.
func (e *env) serveFrom(method, path, remote string) int {
	e.t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = remote
	e.srv.Handler().ServeHTTP(rec, req)
	return rec.Code
}

func TestRequestLogKeepsTheNewest(t *testing.T) {
	e := newEnv(t)
	const extra = 5
	for i := range maxRequests + extra {
		e.serveFrom("GET", fmt.Sprintf("/nope/%d", i), "127.0.0.1:1")
	}
	got := e.srv.Requests()
	if len(got) != maxRequests {
		t.Fatalf("%d requests kept, want the newest %d", len(got), maxRequests)
	}
	first, last := RequestRecord{Method: "GET", Path: fmt.Sprintf("/nope/%d", extra), Status: 404},
		RequestRecord{Method: "GET", Path: fmt.Sprintf("/nope/%d", maxRequests+extra-1), Status: 404}
	if diff := cmp.Diff([]RequestRecord{first, last}, []RequestRecord{got[0], got[len(got)-1]}); diff != "" {
		t.Errorf("oldest and newest kept (-want +got):\n%s", diff)
	}

	e.dev("DELETE", "/_dev/requests", nil)
	e.serveFrom("GET", "/after", "127.0.0.1:1")
	var after []RequestRecord
	e.dev("GET", "/_dev/requests", nil).decode(t, &after)
	if diff := cmp.Diff([]RequestRecord{{Method: "GET", Path: "/after", Status: 404}}, after); diff != "" {
		t.Errorf("after DELETE /_dev/requests (-want +got):\n%s", diff)
	}
}

// TestLimitersStayBounded fills the per-IP limiters from more addresses than they hold:
// the map never grows past its cap, and an address that is still limited stays limited.
func TestLimitersStayBounded(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Rate = 1 })
	ip := func(i int) string { return fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255) }
	token := func(remote string) int { return e.serveFrom("POST", "/device/token", remote) }
	size := func() int {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return len(e.srv.limiters)
	}
	for i := range maxLimiters {
		if got := token(ip(i)); got != http.StatusBadRequest {
			t.Fatalf("first request of %s = %d, want 400 (within its budget)", ip(i), got)
		}
	}
	hot := ip(maxLimiters - 1)
	e.clock.Add(time.Millisecond)
	if got := token(hot); got != http.StatusTooManyRequests {
		t.Fatalf("second request of %s = %d, want 429", hot, got)
	}

	// Every budget is in use: a new address pushes out the least recently used.
	e.clock.Add(time.Millisecond)
	token("192.0.2.1:1")
	if n := size(); n != maxLimiters {
		t.Errorf("%d limiters after one more address, want the cap %d", n, maxLimiters)
	}
	if got := token(hot); got != http.StatusTooManyRequests {
		t.Errorf("%s after an eviction = %d, want 429 still", hot, got)
	}

	// A second later every budget is full again except the one used now: only that one
	// and the newcomer remain.
	e.clock.Add(time.Second)
	if got := token(hot); got != http.StatusBadRequest {
		t.Fatalf("%s a second later = %d, want 400", hot, got)
	}
	token("192.0.2.2:1")
	if n := size(); n != 2 {
		t.Errorf("%d limiters after the sweep, want 2", n)
	}
	if got := token(hot); got != http.StatusTooManyRequests {
		t.Errorf("%s after the sweep = %d, want 429: its budget is spent", hot, got)
	}
}
