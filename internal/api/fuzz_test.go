package api

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

// fuzzStatuses are the statuses a fuzzed answer is given, picked by the fuzzer.
var fuzzStatuses = []int{200, 201, 204, 400, 401, 403, 404, 409, 426, 429, 500}

// FuzzDecodeResponse serves arbitrary bytes, under a chosen status, as the answer to every
// call of the client through a loopback httptest server: the client never panics, and
// either returns a typed result or one of the package's documented errors.
func FuzzDecodeResponse(f *testing.F) {
	dev := `{"id":1,"account":1,"username":"PINNED_USERNAME","first_name":"contract-client","namespace":"contract-client",` +
		`"location":"DE","status":2,"cluster_id":"contract-cluster-uid-0001","last_info_update":null,` +
		`"date_joined":"2026-01-01T00:00:00Z","created_by":{"id":1,"first_name":"Contract Admin","is_active":true,"profile_image":null},` +
		`"cpu_nodes":{},"gpu_nodes":{},"pue_constant":1.0,"num_running_experiments":0,"is_decommissioned":false}`
	seeds := []struct {
		call   int
		status int
		body   string
	}{
		{0, 200, `{"device_code":"PINNED_DEVICE_CODE","expires_in":900,"interval":5,"user_code":"AAAA-BBBB","verification_uri":"https://dev.tracebloc.io/activate","verification_uri_complete":"https://dev.tracebloc.io/activate?code=AAAA-BBBB"}`},
		{1, 200, `{"token":"PINNED_CLIENT_ACCESS_TOKEN"}`},
		{1, 400, `{"error":"authorization_pending"}`},
		{1, 400, `{"error":"slow_down"}`},
		{2, 200, `{"account":"contract-account","account_id":1,"email":"contract-admin@contract.example","first_name":"Contract Admin","is_account_admin":false,"is_password_changed":true,"last_name":"","profile_image":null,"type":"DS","user_id":1}`},
		{3, 204, ``},
		{4, 201, dev},
		{4, 200, dev},
		{4, 409, `{"cluster_id":"contract-cluster-uid-0090","error":"cluster_conflict","owner_email":"contract-foreign-owner@contract.example"}`},
		{4, 409, `{"cluster_id":"c","error":"cluster_in_use","holder_client_id":1,"holder_name":"contract-client-91"}`},
		{4, 403, `{"detail":"You do not have permission to perform this action."}`},
		{5, 200, `{"count":16,"next":"/edge-device/?page=2","previous":null,"results":[` + dev + `]}`},
		{5, 200, `[` + dev + `]`},
		{6, 200, dev},
		{6, 404, `{"detail":"Not found."}`},
		{7, 200, dev},
		{8, 200, `{"client_id":1,"decommissioned":false,"detail":"Machine credential revoked","status":"revoked"}`},
		{9, 200, `[{"email":"contract-admin@contract.example","name":"Contract Admin"}]`},
		{10, 200, `{"token":"t"}`},
		{10, 400, `{"non_field_errors":["Unable to log in."]}`},
		{2, 426, `{"error":"upgrade_required","min_version":"0.4.0"}`},
		{2, 429, `{"detail":"throttled"}`},
		{5, 200, `{"results":[{"id":"x"}]}`},
		{0, 200, `{"device_code":5}`},
		{2, 200, `null`},
	}
	for _, s := range seeds {
		status := 0
		for i, st := range fuzzStatuses {
			if st == s.status {
				status = i
			}
		}
		f.Add(uint8(s.call), uint8(status), []byte(s.body))
	}

	var mu sync.Mutex
	var status int
	var body []byte
	c, _, _ := newTestClient(f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b := status, body
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(st)
		_, _ = w.Write(b)
	}), WithMaxPages(5))
	c = c.WithToken("fuzz-token")
	calls := endpointCalls()

	f.Fuzz(func(t *testing.T, call, st uint8, data []byte) {
		ec := calls[int(call)%len(calls)]
		mu.Lock()
		status, body = fuzzStatuses[int(st)%len(fuzzStatuses)], data
		sent := status
		mu.Unlock()
		got, err := ec.call(context.Background(), c)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("%s() on HTTP %d %q = %v (%T), want a documented error type", ec.name, sent, data, err, err)
			}
			return
		}
		if sent < 200 || sent > 299 {
			t.Fatalf("%s() on HTTP %d = nil error", ec.name, sent)
		}
		if v := reflect.ValueOf(got); v.Kind() == reflect.Pointer && v.IsNil() {
			t.Fatalf("%s() on %q = nil result and nil error", ec.name, data)
		}
	})
}

// FuzzParseRetryAfter: any header value gives a non-negative wait, or "not readable".
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "7", "-3", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
