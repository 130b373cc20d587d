package devbackend

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tracebloc/edge/internal/api"
)

// requestCode is POST /device/code with body (JSON-encoded unless a string) from remote
// ("" for the test server's own loopback address), as the bootstrap sends it.
func (e *env) requestCode(body any, remote string) answer {
	e.t.Helper()
	if remote == "" {
		return e.do("POST", "/device/code", "", body)
	}
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		raw = string(b)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/device/code", strings.NewReader(raw))
	req.RemoteAddr = remote
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // anyone can send it: never shown
	e.srv.Handler().ServeHTTP(rec, req)
	return answer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func TestDeviceCodeBody(t *testing.T) {
	long := strings.Repeat("a", 254)
	tests := []struct {
		name         string
		body         any
		contractOnly bool
		status       int
		field        string // the field a 400 names
	}{
		{name: "no body", status: 200},
		{name: "null", body: "null", status: 200},
		{name: "empty object", body: "{}", status: 200},
		{name: "every field", body: fullContext(), status: 200},
		{name: "unknown field", body: `{"cluster_id": "c", "future": {"x": 1}}`, status: 200},
		{name: "longest cluster id", body: api.DeviceContext{ClusterID: long[:253]}, status: 200},
		{name: "not an object", body: `["cluster"]`, status: 400},
		{name: "malformed", body: `{"cluster_id":`, status: 400},
		{name: "a number", body: `{"cluster_id": 5}`, status: 400, field: "cluster_id"},
		{name: "cluster id too long", body: api.DeviceContext{ClusterID: long}, status: 400, field: "cluster_id"},
		{name: "namespace too long", body: api.DeviceContext{Namespace: long[:64]}, status: 400, field: "namespace"},
		{name: "client name too long", body: api.DeviceContext{ClientName: long[:151]}, status: 400, field: "client_name"},
		{name: "kubernetes version too long", body: api.DeviceContext{KubernetesVersion: long[:65]}, status: 400, field: "kubernetes_version"},
		{name: "chart version too long", body: api.DeviceContext{ChartVersion: long[:65]}, status: 400, field: "chart_version"},
		{name: "terminal escape", body: api.DeviceContext{Namespace: "ns\x1b[31m"}, status: 400, field: "namespace"},
		{name: "newline", body: api.DeviceContext{ClientName: "a\nb"}, status: 400, field: "client_name"},
		{name: "bidi override", body: api.DeviceContext{ClientName: "edge\u202egnp.exe"}, status: 400, field: "client_name"},
		{name: "zero-width space", body: api.DeviceContext{ClusterID: "c\u200b"}, status: 400, field: "cluster_id"},
		{name: "larger than 4 KiB", body: `{"cluster_id": "c", "x": "` + strings.Repeat("x", 5000) + `"}`, status: 400},
		{name: "contract only: not an object", body: `["cluster"]`, contractOnly: true, status: 200},
		{name: "contract only: too long", body: api.DeviceContext{ClusterID: long}, contractOnly: true, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ContractOnly = tc.contractOnly })
			a := e.requestCode(tc.body, "")
			if a.status != tc.status {
				t.Fatalf("POST /device/code %v = %d %s, want %d", tc.body, a.status, a.body, tc.status)
			}
			var pending []PendingCode
			e.dev("GET", "/_dev/pending", nil).decode(t, &pending)
			if want := map[bool]int{true: 1, false: 0}[tc.status == 200]; len(pending) != want {
				t.Errorf("%d pending codes, want %d", len(pending), want)
			}
			if tc.status != 400 {
				return
			}
			var body map[string]any
			a.decode(t, &body)
			if body["error"] != "invalid_request" || body["detail"] == "" {
				t.Errorf("400 body %s, want error invalid_request and a detail", a.body)
			}
			if _, ok := body[tc.field]; tc.field != "" && !ok {
				t.Errorf("400 body %s does not name the field %s", a.body, tc.field)
			}
		})
	}
}

func fullContext() api.DeviceContext {
	return api.DeviceContext{ClusterID: "3f1c6a52-0d7e-4b8e-9a61-5c2d7e0b9f14", Namespace: "tracebloc",
		ClientName: "edge-lab-7", KubernetesVersion: "v1.34.4", ChartVersion: "0.4.0"}
}

// TestActivatePageShowsRequest opens the activation page of a code and checks what it
// shows about the request that asked for the code.
func TestActivatePageShowsRequest(t *testing.T) {
	full := fullContext()
	tests := []struct {
		name         string
		body         any
		remote       string
		age          time.Duration
		contractOnly bool
		want, not    []string
	}{
		{
			name: "fresh, with every detail", body: full, age: 2*time.Minute + 30*time.Second,
			want: []string{`id="request"`, `id="req-cluster_id">` + full.ClusterID + `<`, `id="req-namespace">tracebloc<`,
				`id="req-client_name">edge-lab-7<`, `id="req-kubernetes_version">v1.34.4<`, `id="req-chart_version">0.4.0<`,
				`id="req-age">2 minutes ago<`, "2026-01-01 00:00:00 UTC", `id="req-source">127.0.0.1<`},
			not: []string{`id="req-stale"`},
		},
		{
			name: "older than five minutes", body: full, age: 5*time.Minute + time.Second,
			want: []string{`id="req-age">5 minutes ago<`, `id="req-stale"`, "requested 5 minutes ago"},
		},
		{
			name: "just now", body: full,
			want: []string{`id="req-age">less than a minute ago<`}, not: []string{`id="req-stale"`},
		},
		{
			name: "from another address", body: full, remote: "192.0.2.7:40000",
			want: []string{`id="req-source">192.0.2.7<`}, not: []string{"203.0.113.9"},
		},
		{
			name: "no details sent", age: time.Minute,
			want: []string{`id="request"`, "none sent", `id="req-age">1 minute ago<`, `id="req-source">127.0.0.1<`},
			not:  []string{`id="req-cluster_id"`},
		},
		{
			name: "only some details", body: api.DeviceContext{Namespace: "ns-only"},
			want: []string{`id="req-namespace">ns-only<`}, not: []string{`id="req-cluster_id"`, "none sent"},
		},
		{
			name: "markup is shown as text", body: api.DeviceContext{ClientName: `<script>alert("x")</script>`, Namespace: `a"b'c&d`},
			want: []string{`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`, `a&#34;b&#39;c&amp;d`},
			not:  []string{`<script>alert`},
		},
		{
			name: "contract only", body: full, age: 10 * time.Minute, contractOnly: true,
			want: []string{`id="approve"`},
			not:  []string{`id="request"`, full.ClusterID, "edge-lab-7", `id="req-stale"`, "127.0.0.1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ContractOnly = tc.contractOnly })
			a := e.requestCode(tc.body, tc.remote)
			if a.status != 200 {
				t.Fatalf("POST /device/code = %d %s", a.status, a.body)
			}
			var dc api.DeviceCode
			a.decode(t, &dc)
			e.clock.Add(tc.age)
			status, page := newBrowserForm(e).get("/activate?code=" + url.QueryEscape(dc.UserCode))
			if status != http.StatusOK {
				t.Fatalf("GET /activate = %d", status)
			}
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("the page does not show %s", w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(page, n) {
					t.Errorf("the page shows %s, want it not", n)
				}
			}
			if t.Failed() {
				t.Logf("page:\n%s", page)
			}
		})
	}
}

// TestActivatePageTypedCode: a person who types the code sees the request before the
// Approve button, as one who follows the complete link does.
func TestActivatePageTypedCode(t *testing.T) {
	e := newEnv(t)
	a := e.requestCode(fullContext(), "")
	var dc api.DeviceCode
	a.decode(t, &dc)
	b := newBrowserForm(e)
	_, page := b.get("/activate")
	if !strings.Contains(page, `id="continue"`) || strings.Contains(page, `id="approve"`) {
		t.Errorf("GET /activate without a code: want the code field and Continue, not Approve:\n%s", page)
	}
	_, page = b.get("/activate?code=" + url.QueryEscape(strings.ToLower(strings.ReplaceAll(dc.UserCode, "-", " "))))
	if !strings.Contains(page, `id="approve"`) || !strings.Contains(page, "edge-lab-7") {
		t.Errorf("GET /activate?code=<typed>: want the request and Approve:\n%s", page)
	}
	// After a failed approval the page still shows the request.
	status, page := b.post(url.Values{"csrf": {csrfOf(t, page)}, "code": {dc.UserCode}, "email": {"nobody@x.example"}, "action": {"approve"}})
	if status != http.StatusBadRequest || !strings.Contains(page, "edge-lab-7") || !strings.Contains(page, "Choose one of the development users") {
		t.Errorf("POST /activate as an unknown user = %d, want 400 with the problem and the request:\n%s", status, page)
	}
}

// FuzzDeviceContext: whatever the body, readDeviceContext refuses it or returns a context
// whose every field is printable and within its bound (what the page may show). The check
// is written out here, not printable's, so that a fault in printable shows.
func FuzzDeviceContext(f *testing.F) {
	for _, seed := range []string{"", "null", "{}", `{"cluster_id":"c","namespace":"n"}`, `{"client_name":"a\u202eb"}`,
		`{"namespace":5}`, `[1]`, `{"chart_version":"` + strings.Repeat("9", 70) + `"}`, "{\"x\":\"\xff\"}"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/device/code", strings.NewReader(body))
		dc, fields, err := readDeviceContext(req)
		if err != nil || len(fields) > 0 || dc == nil {
			return
		}
		for _, fld := range contextFields {
			if v := fld.value(dc); len(v) > fld.max || !showable(v) {
				t.Errorf("readDeviceContext(%q) accepted %s = %q", body, fld.name, v)
			}
		}
	})
}

// showable reports whether s is valid UTF-8 without a control, format or separator
// character other than the plain space.
func showable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && unicode.In(r, unicode.C, unicode.Z) })
}
