package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// emptyObjects is a page of n empty client objects, as a bare array or in a page object.
func emptyObjects(n int, page bool) string {
	items := strings.TrimSuffix(strings.Repeat("{},", n), ",")
	if page {
		return `{"next":null,"results":[` + items + `]}`
	}
	return "[" + items + "]"
}

// TestListLimits: the clients and bytes read over all pages are bounded, and the error
// names the limit and what to do.
func TestListLimits(t *testing.T) {
	tests := []struct {
		name      string
		pages     func(srvURL, page string) (string, bool)
		opts      []Option
		wantN     int
		wantErr   error
		wantHits  int32
		errSubstr []string
	}{
		{
			name:      "a page of far more empty objects than the limit",
			pages:     func(_, _ string) (string, bool) { return emptyObjects(DefaultMaxListClients*20, false), true },
			wantErr:   ErrListTooLarge,
			wantHits:  1,
			errSubstr: []string{"more than 10000 clients", "decommission"},
		},
		{
			name:     "exactly the limit",
			pages:    func(_, _ string) (string, bool) { return emptyObjects(5, true), true },
			opts:     []Option{WithMaxListClients(5)},
			wantN:    5,
			wantHits: 1,
		},
		{
			name: "the limit counts over all pages",
			pages: func(_, page string) (string, bool) {
				if page == "" {
					return `{"next":"/edge-device/?page=2","results":[{},{},{}]}`, true
				}
				return emptyObjects(3, true), true
			},
			opts:      []Option{WithMaxListClients(5)},
			wantErr:   ErrListTooLarge,
			wantHits:  2,
			errSubstr: []string{"more than 5 clients"},
		},
		{
			name: "bytes over all pages",
			pages: func(_, page string) (string, bool) {
				n := 0
				fmt.Sscan(page, &n)
				return fmt.Sprintf(`{"next":"/edge-device/?page=%d","results":[%s]}`, n+1, devJSON(strings.Repeat("x", 300))), true
			},
			opts:      []Option{WithMaxListBytes(3000)},
			wantErr:   ErrListTooLarge,
			wantHits:  4, // about 960 bytes each
			errSubstr: []string{"larger than 3000 bytes after 4 pages", "decommission"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, hits := pagedServer(t, tt.pages, tt.opts...)
			got, err := c.ListEdgeDevices(context.Background())
			if !errors.Is(err, tt.wantErr) || len(got) != tt.wantN {
				t.Fatalf("ListEdgeDevices() = %d clients, %v; want %d, %v", len(got), err, tt.wantN, tt.wantErr)
			}
			for _, s := range tt.errSubstr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if h := hits.Load(); h != tt.wantHits {
				t.Errorf("pages requested = %d, want %d", h, tt.wantHits)
			}
		})
	}
}

// TestListStopsDecodingAtTheLimit: a page of a million empty objects is refused after the
// limit's worth of clients, not after decoding them all into memory.
func TestListStopsDecodingAtTheLimit(t *testing.T) {
	page := emptyObjects(1_000_000, true) // 3 MB, under MaxBodyBytes
	c, _, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, page)
	}), WithMaxListClients(1000))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := c.WithToken("user-token").ListEdgeDevices(context.Background())
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrListTooLarge) {
		t.Fatalf("ListEdgeDevices() = %v, want ErrListTooLarge", err)
	}
	// The body itself (3 MB, read twice over by the growing buffer) and 1000 clients fit
	// well under 64 MB; a million decoded clients take several hundred.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("ListEdgeDevices() allocated %d MB for a refused page, want under 64", alloc>>20)
	}
}

// TestWithoutRetries: the copy answers a 429 at once; the client it came from keeps
// retrying.
func TestWithoutRetries(t *testing.T) {
	var hits atomic.Int32
	c, _, s := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	_, err := c.WithoutRetries().RequestDeviceCode(context.Background(), nil)
	if !errors.Is(err, ErrRateLimited) || hits.Load() != 1 || len(s.got()) != 0 {
		t.Errorf("WithoutRetries: %v after %d requests and waits %v; want ErrRateLimited after 1 request, no wait", err, hits.Load(), s.got())
	}
	hits.Store(0)
	_, err = c.RequestDeviceCode(context.Background(), nil)
	if !errors.Is(err, ErrRateLimited) || hits.Load() != 1+DefaultMaxRetries {
		t.Errorf("the original client: %v after %d requests; want ErrRateLimited after %d", err, hits.Load(), 1+DefaultMaxRetries)
	}
}
