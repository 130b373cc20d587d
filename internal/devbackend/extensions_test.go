package devbackend

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/api"
)

// outcome is what a test of an extension checks of one answer.
type outcome struct {
	Status     int
	Code       string // the "error" field
	RetryAfter string
	Applied    bool // the call changed what it asked to change
}

// codeOf is the "error" field of an answer; it reads any JSON object, as validation
// errors hold lists where api.ErrorBody has strings.
func codeOf(t testing.TB, a answer) string {
	t.Helper()
	var m map[string]any
	a.decode(t, &m)
	code, _ := m["error"].(string)
	return code
}

// TestContractOnly runs each extension of the development backend with the extensions on
// and with Config.ContractOnly, where the answer is the one of a backend that has only
// the pinned contract.
func TestContractOnly(t *testing.T) {
	tests := []struct {
		name       string
		rate       float64
		run        func(t *testing.T, e *env) outcome
		on, strict outcome
	}{
		{
			name: "password reset",
			run: func(t *testing.T, e *env) outcome {
				tok := e.login(adminA)
				d := e.mustCreate(tok, createReq("x", "x", "cluster-x"))
				const reset = "the-reset-machine-password"
				a := e.do("PATCH", fmt.Sprintf("/edge-device/%d/", d.ID), tok, api.PatchRequest{Password: reset})
				return outcome{Status: a.status, Code: codeOf(e.t, a), Applied: e.credentialWorks(d.Username, reset)}
			},
			on:     outcome{Status: 200, Applied: true},
			strict: outcome{Status: 400, Code: "invalid_request"},
		},
		{
			name: "password reset with a cluster id",
			run: func(t *testing.T, e *env) outcome {
				tok := e.login(adminA)
				d := e.mustCreate(tok, createReq("x", "x", ""))
				a := e.do("PATCH", fmt.Sprintf("/edge-device/%d/", d.ID), tok, api.PatchRequest{ClusterID: "cluster-x", Password: "the-reset-machine-password"})
				var got api.EdgeDevice
				e.do("GET", fmt.Sprintf("/edge-device/%d/", d.ID), tok, nil).decode(e.t, &got)
				return outcome{Status: a.status, Code: codeOf(e.t, a), Applied: got.ClusterID != nil}
			},
			on:     outcome{Status: 200, Applied: true},
			strict: outcome{Status: 400, Code: "invalid_request"},
		},
		{
			name: "namespace held by another client",
			run: func(t *testing.T, e *env) outcome {
				tok := e.login(adminA)
				e.mustCreate(tok, createReq("first", "x", "cluster-1"))
				a := e.create(tok, createReq("second", "x", "cluster-2"))
				return outcome{Status: a.status, Code: codeOf(e.t, a), Applied: len(mustClients(t, e.srv)) == 2}
			},
			on:     outcome{Status: 409, Code: api.CodeNamespaceConflict},
			strict: outcome{Status: 400, Code: "invalid_request"},
		},
		{
			name: "rate limit",
			rate: 1,
			run: func(t *testing.T, e *env) outcome {
				e.do("POST", "/device/code", "", nil)
				a := e.do("POST", "/device/code", "", nil)
				return outcome{Status: a.status, Code: codeOf(e.t, a), RetryAfter: a.header.Get("Retry-After")}
			},
			on:     outcome{Status: 429, RetryAfter: "1"},
			strict: outcome{Status: 429},
		},
		{
			name: "injected 429",
			run: func(t *testing.T, e *env) outcome {
				e.dev("POST", "/_dev/faults", fault{Path: "/userinfo/", Status: 429, Count: 1})
				a := e.do("GET", "/userinfo/", "", nil)
				return outcome{Status: a.status, Code: codeOf(e.t, a), RetryAfter: a.header.Get("Retry-After")}
			},
			on:     outcome{Status: 429, Code: "injected_fault", RetryAfter: "1"},
			strict: outcome{Status: 429, Code: "injected_fault"},
		},
		{
			name: "machine revokes its own client",
			run: func(t *testing.T, e *env) outcome {
				d := e.mustCreate(e.login(adminA), createReq("x", "x", "cluster-x"))
				var machine api.Token
				e.do("POST", "/api-token-auth/", "", map[string]string{"username": d.Username, "password": goodPassword}).decode(e.t, &machine)
				a := e.do("POST", fmt.Sprintf("/edge-device/%d/revoke/", d.ID), machine.Token, nil)
				return outcome{Status: a.status, Code: codeOf(e.t, a), Applied: !e.credentialWorks(d.Username, goodPassword)}
			},
			on:     outcome{Status: 200, Applied: true},
			strict: outcome{Status: 401},
		},
		{
			name: "backfill over another cluster id",
			run: func(t *testing.T, e *env) outcome {
				tok := e.login(adminA)
				d := e.mustCreate(tok, createReq("x", "x", "cluster-x"))
				a := e.do("PATCH", fmt.Sprintf("/edge-device/%d/", d.ID), tok, api.PatchRequest{ClusterID: "cluster-y"})
				return outcome{Status: a.status, Code: codeOf(e.t, a)}
			},
			on:     outcome{Status: 409, Code: "cluster_id_set"},
			strict: outcome{Status: 409},
		},
		{
			name: "backfill to a cluster of the account",
			run: func(t *testing.T, e *env) outcome {
				tok := e.login(adminA)
				e.mustCreate(tok, createReq("x", "x", "cluster-x"))
				d := e.mustCreate(tok, createReq("y", "y", ""))
				a := e.do("PATCH", fmt.Sprintf("/edge-device/%d/", d.ID), tok, api.PatchRequest{ClusterID: "cluster-x"})
				return outcome{Status: a.status, Code: codeOf(e.t, a)}
			},
			on:     outcome{Status: 409, Code: api.CodeClusterInUse},
			strict: outcome{Status: 409},
		},
		{
			name: "machine heartbeat",
			run: func(t *testing.T, e *env) outcome {
				d := e.mustCreate(e.login(adminA), createReq("x", "x", "cluster-x"))
				a := e.do("POST", "/edge-device/heartbeat/", e.machineToken(d), `{"status": 1}`)
				return outcome{Status: a.status, Code: codeOf(e.t, a), Applied: e.stored(d.ID).Status == api.StatusOnline}
			},
			on:     outcome{Status: 200, Applied: true},
			strict: outcome{Status: 405},
		},
		{
			// Not an extension: the edge workloads' login stays in both modes.
			name: "machine login",
			run: func(t *testing.T, e *env) outcome {
				d := e.mustCreate(e.login(adminA), createReq("x", "x", "cluster-x"))
				return outcome{Status: http.StatusOK, Applied: e.credentialWorks(d.Username, goodPassword)}
			},
			on:     outcome{Status: 200, Applied: true},
			strict: outcome{Status: 200, Applied: true},
		},
	}
	for _, tc := range tests {
		for _, strict := range []bool{false, true} {
			want := tc.on
			if strict {
				want = tc.strict
			}
			t.Run(fmt.Sprintf("%s/ContractOnly=%v", tc.name, strict), func(t *testing.T) {
				e := newEnv(t, func(c *Config) { c.ContractOnly, c.Rate = strict, tc.rate })
				if diff := cmp.Diff(want, tc.run(t, e)); diff != "" {
					t.Errorf("outcome (-want +got):\n%s", diff)
				}
			})
		}
	}
}
