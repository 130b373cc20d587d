package devbackend

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/contract"
)

// contractDir holds the recorded fixtures; they are read in place, never copied.
const contractDir = contract.SharedDir

func readFixture(t *testing.T, name string) contract.Fixture {
	t.Helper()
	f, err := contract.Read(filepath.Join(contractDir, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("contract fixtures not found at %s", contractDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// keyPaths lists the keys of a JSON value, nested objects as "a.b" and the first element of
// arrays as "[]"; a null on either side of a comparison only pins its own key, so it is
// listed without expansion.
func keyPaths(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			p := prefix + k
			out[p] = true
			if m, ok := child.(map[string]any); ok && len(m) == 0 {
				continue // free-form objects such as cpu_nodes
			}
			keyPaths(p+".", child, out)
		}
	case []any:
		if len(x) > 0 {
			keyPaths(prefix+"[].", x[0], out)
		}
	}
}

func sortedKeys(raw []byte) ([]string, error) {
	var v any
	if len(raw) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	m := map[string]bool{}
	keyPaths("", v, m)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// dropNullChildren removes the nested paths under keys that are null on one side.
func dropNullChildren(paths []string, raw []byte, other []byte) []string {
	var a, b any
	_ = json.Unmarshal(raw, &a)
	_ = json.Unmarshal(other, &b)
	nulls := map[string]bool{}
	collectNulls("", a, nulls)
	collectNulls("", b, nulls)
	var out []string
outer:
	for _, p := range paths {
		for n := range nulls {
			if len(p) > len(n) && p[:len(n)+1] == n+"." {
				continue outer
			}
		}
		out = append(out, p)
	}
	return out
}

func collectNulls(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if child == nil {
				out[prefix+k] = true
			}
			collectNulls(prefix+k+".", child, out)
		}
	case []any:
		if len(x) > 0 {
			collectNulls(prefix+"[].", x[0], out)
		}
	}
}

// TestShapesMatchFixtures compares status and JSON key sets of every answer with the
// recorded fixture of the contract (contract.SharedDir). The fields of extensions
// (extensionKeys) may be added to the answers; with ContractOnly they may not.
func TestShapesMatchFixtures(t *testing.T) {
	readFixture(t, "device_code.json") // skips when the fixtures are absent
	for _, contractOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("contractOnly=%v", contractOnly), func(t *testing.T) { assertShapes(t, contractOnly) })
	}
}

// extensionKeys are the fields that EXTENSIONS.md adds to the recorded answers.
var extensionKeys = map[string]bool{"credential_revoked": true}

// dropExtensions removes from got the paths of extension fields that want lacks.
func dropExtensions(got, want []string) []string {
	in := map[string]bool{}
	for _, p := range want {
		in[p] = true
	}
	var out []string
	for _, p := range got {
		last := p
		if i := strings.LastIndex(p, "."); i >= 0 {
			last = p[i+1:]
		}
		if extensionKeys[last] && !in[p] {
			continue
		}
		out = append(out, p)
	}
	return out
}

func assertShapes(t *testing.T, contractOnly bool) {
	e := newEnv(t, func(c *Config) { c.MinVersion = "0.4.0"; c.ContractOnly = contractOnly })
	ua := []string{"User-Agent", "tracebloc-edge-bootstrap/0.4.0 (linux/amd64)"}
	do := func(method, path, token string, body any) answer {
		return e.do(method, path, token, body, ua...)
	}
	pollAs := func(dc api.DeviceCode) answer {
		return do("POST", "/device/token", "", map[string]string{"device_code": dc.DeviceCode})
	}
	newCode := func() api.DeviceCode {
		var dc api.DeviceCode
		do("POST", "/device/code", "", nil).decode(t, &dc)
		return dc
	}
	login := func(email string) string {
		dc := newCode()
		if err := e.srv.Approve(dc.UserCode, email); err != nil {
			t.Fatal(err)
		}
		var tok api.Token
		pollAs(dc).decode(t, &tok)
		return tok.Token
	}
	tokA, tokB, tokV := login(adminA), login(adminB), login(viewerA)
	var created api.EdgeDevice

	cases := []struct {
		fixture string
		get     func() answer
	}{
		{"device_code.json", func() answer { return do("POST", "/device/code", "", nil) }},
		{"device_token_error_authorization_pending.json", func() answer { return pollAs(newCode()) }},
		{"device_token_error_slow_down.json", func() answer { dc := newCode(); pollAs(dc); return pollAs(dc) }},
		{"device_token_error_expired_token.json", func() answer {
			dc := newCode()
			e.clock.Add(e.srv.cfg.DeviceTTL)
			return pollAs(dc)
		}},
		{"device_token_error_access_denied.json", func() answer {
			dc := newCode()
			if err := e.srv.Deny(dc.UserCode); err != nil {
				t.Fatal(err)
			}
			return pollAs(dc)
		}},
		{"device_token_success.json", func() answer {
			dc := newCode()
			e.approve(dc.UserCode)
			return pollAs(dc)
		}},
		{"userinfo.json", func() answer { return do("GET", "/userinfo/", tokA, nil) }},
		{"edge_device_create.json", func() answer {
			req := createReq("contract-client", "contract-client", "contract-cluster-uid-0001")
			req.Location = "DE"
			a := do("POST", "/edge-device/", tokA, req)
			a.decode(t, &created)
			return a
		}},
		{"edge_device_adopt.json", func() answer {
			return do("POST", "/edge-device/", tokA, createReq("contract-client", "contract-client", "contract-cluster-uid-0001"))
		}},
		{"edge_device_list.json", func() answer {
			for i := range 15 {
				req := createReq(fmt.Sprintf("c-%d", i), fmt.Sprintf("c-%d", i), "")
				req.Location = "DE"
				do("POST", "/edge-device/", tokA, req)
			}
			return do("GET", "/edge-device/", tokA, nil)
		}},
		{"edge_device_patch_cluster_id.json", func() answer {
			var legacy api.EdgeDevice
			req := createReq("legacy", "contract-legacy", "")
			req.Location = "DE"
			do("POST", "/edge-device/", tokA, req).decode(t, &legacy)
			e.heartbeat(legacy.ID, 2, 0)
			return do("PATCH", fmt.Sprintf("/edge-device/%d/", legacy.ID), tokA, api.PatchRequest{ClusterID: "contract-cluster-uid-0002"})
		}},
		{"edge_device_revoke.json", func() answer {
			return do("POST", fmt.Sprintf("/edge-device/%d/revoke/", created.ID), tokA, nil)
		}},
		{"edge_device_admins.json", func() answer { return do("GET", "/edge-device/admins/", tokA, nil) }},
		{"auth_revoke.json", func() answer { return do("POST", "/auth/revoke", login(adminA), nil) }},
		{"error_403_client_write.json", func() answer {
			return do("POST", "/edge-device/", tokV, createReq("x", "x", "x"))
		}},
		{"error_409_cluster_conflict.json", func() answer {
			return do("POST", "/edge-device/", tokB, createReq("x", "x", "contract-cluster-uid-0001"))
		}},
		{"error_409_cluster_in_use.json", func() answer {
			e.heartbeat(created.ID, 1, 0)
			return do("POST", "/edge-device/", tokA, createReq("x", "elsewhere", "contract-cluster-uid-0001"))
		}},
		{"error_426_upgrade_required.json", func() answer {
			return e.do("GET", "/userinfo/", tokA, nil, "User-Agent", "tracebloc-edge-bootstrap/0.3.9 (linux/amd64)")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			want := readFixture(t, tc.fixture)
			got := tc.get()
			if got.status != want.Status {
				t.Errorf("status = %d, want %d (%s)", got.status, want.Status, got.body)
			}
			wantBody := []byte(want.Body)
			if string(wantBody) == "null" {
				wantBody = nil
			}
			wantKeys, err := sortedKeys(wantBody)
			if err != nil {
				t.Fatal(err)
			}
			gotKeys, err := sortedKeys(got.body)
			if err != nil {
				t.Fatalf("answer is not JSON: %v: %s", err, got.body)
			}
			wantKeys = dropNullChildren(wantKeys, wantBody, got.body)
			gotKeys = dropNullChildren(gotKeys, wantBody, got.body)
			if !contractOnly {
				gotKeys = dropExtensions(gotKeys, wantKeys)
			}
			if diff := cmp.Diff(wantKeys, gotKeys); diff != "" {
				t.Errorf("key set (-want +got):\n%s", diff)
			}
		})
	}
	// The fixtures whose text is fixed are compared whole.
	for _, name := range []string{"error_403_client_write.json", "error_426_upgrade_required.json"} {
		want := readFixture(t, name)
		var w, g any
		_ = json.Unmarshal(want.Body, &w)
		a := do("POST", "/edge-device/", tokV, createReq("x", "x", "x"))
		if name == "error_426_upgrade_required.json" {
			a = e.do("GET", "/userinfo/", tokA, nil, "User-Agent", "tracebloc-edge-bootstrap/0.3.9 (linux/amd64)")
		}
		_ = json.Unmarshal(a.body, &g)
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s body (-want +got):\n%s", name, diff)
		}
	}
}
