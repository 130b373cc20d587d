package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRedirectRefused: a 3xx is an error naming the endpoint, and the host Location names
// never gets the request (nor its body: the device code, the password), whichever HTTP
// client the Client was given.
func TestRedirectRefused(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = io.WriteString(w, `{"token":"stolen-token-value"}`)
	}))
	t.Cleanup(other.Close)

	hc, err := NewHTTPClient("", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	own := &http.Client{Timeout: 5 * time.Second} // follows redirects, as any http.Client does
	clients := []struct {
		name string
		opts []Option
	}{
		{name: "default client"},
		{name: "NewHTTPClient", opts: []Option{WithHTTPClient(hc)}},
		{name: "a caller's http.Client", opts: []Option{WithHTTPClient(own)}},
	}
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, cl := range clients {
			t.Run(cl.name+"/"+http.StatusText(status), func(t *testing.T) {
				elsewhere.Store(0)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, other.URL+r.URL.Path, status)
				}))
				t.Cleanup(srv.Close)
				c, err := New(srv.URL, cl.opts...)
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.PollDeviceToken(context.Background(), "device-code-secret")
				if !errors.Is(err, ErrRedirect) {
					t.Fatalf("PollDeviceToken() = %v, want ErrRedirect", err)
				}
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.Status != status || apiErr.Endpoint != "/device/token" || apiErr.Location != other.URL {
					t.Errorf("PollDeviceToken() = %#v, want status %d on /device/token, Location %s", apiErr, status, other.URL)
				}
				for _, want := range []string{"POST /device/token", "redirect to " + other.URL, "set the backend URL"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if n := elsewhere.Load(); n != 0 {
					t.Errorf("the redirect target got %d requests, want none", n)
				}
			})
		}
	}
	if own.CheckRedirect != nil {
		t.Errorf("New changed the caller's http.Client")
	}
	t.Run("NewHTTPClient on its own", func(t *testing.T) {
		srv := httptest.NewServer(http.RedirectHandler(other.URL, http.StatusTemporaryRedirect))
		t.Cleanup(srv.Close)
		elsewhere.Store(0)
		resp, err := hc.Post(srv.URL, "application/json", strings.NewReader(`{"password":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || elsewhere.Load() != 0 {
			t.Errorf("POST through NewHTTPClient = %d, %d requests elsewhere; want the 307 itself and none", resp.StatusCode, elsewhere.Load())
		}
	})
}
