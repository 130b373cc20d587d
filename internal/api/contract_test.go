package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/contract"
)

// contractDir holds the backend's recorded fixtures, the contract beside the repository.
const contractDir = contract.SharedDir

// fixture is one recorded answer: {"status": ..., "body": ...}.
type fixture = contract.Fixture

func readFixture(t *testing.T, name string) fixture {
	t.Helper()
	f, err := contract.Read(filepath.Join(contractDir, name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return f
}

func contractFiles(t *testing.T) []string {
	t.Helper()
	names, err := contract.Names(contractDir)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("contract fixtures not found at %s", contractDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// serveFixture answers method+path with the fixture's status, headers (a recorded 429's
// Retry-After) and body (no body for null).
func serveFixture(t *testing.T, f fixture, method, path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method || r.URL.Path != path {
			t.Errorf("request %s %s, want %s %s", r.Method, r.URL.Path, method, path)
			http.NotFound(w, r)
			return
		}
		for k, v := range f.Headers {
			w.Header().Set(k, v)
		}
		if string(f.Body) != "null" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(f.Status)
		if string(f.Body) != "null" {
			_, _ = w.Write(f.Body)
		}
	})
}

func ptr[T any](v T) *T { return &v }

var (
	contractTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	contractBy   = &CreatedBy{ID: 1, FirstName: "Contract Admin", IsActive: true}
)

// contractDevice is the client of edge_device_create.json and edge_device_adopt.json.
func contractDevice() *EdgeDevice {
	return &EdgeDevice{
		ID: 1, Account: 1, Username: "PINNED_USERNAME", FirstName: "contract-client",
		Namespace: "contract-client", Location: "DE", LocationStatus: "set", Status: StatusPending,
		ClusterID: ptr("contract-cluster-uid-0001"), DateJoined: contractTime, CreatedBy: contractBy,
		CPUNodes: map[string]any{}, GPUNodes: map[string]any{}, PUEConstant: 1,
	}
}

// listDevice is the n-th client of edge_device_list.json (page 2 holds number 16), as the
// list returns it: without the node inventories.
func listDevice(n int) EdgeDevice {
	return EdgeDevice{
		ID: 1, Account: 1, Username: fmt.Sprintf("contract-edge-%02d", n),
		FirstName: fmt.Sprintf("contract-client-%02d", n), Namespace: fmt.Sprintf("contract-client-%02d", n),
		Location: "DE", LocationStatus: "set", Status: StatusPending,
		ClusterID:  ptr(fmt.Sprintf("contract-cluster-uid-%02d", n)),
		DateJoined: contractTime, PUEConstant: 1,
	}
}

type contractCase struct {
	file   string
	method string
	path   string
	// check calls the client against a server answering with the fixture.
	check func(t *testing.T, ctx context.Context, c *Client)
}

func wantAPIError(t *testing.T, err error, want *APIError, sentinels ...error) {
	t.Helper()
	var got *APIError
	if !errors.As(err, &got) {
		t.Fatalf("err = %v (%T), want *APIError", err, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("APIError (-want +got):\n%s", diff)
	}
	for _, s := range sentinels {
		if !errors.Is(err, s) {
			t.Errorf("errors.Is(%v, %v) = false, want true", err, s)
		}
	}
}

func notIs(t *testing.T, err error, sentinels ...error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			t.Errorf("errors.Is(%v, %v) = true, want false", err, s)
		}
	}
}

func deviceTokenErrorCase(file, code string, match error) contractCase {
	others := []error{ErrAuthorizationPending, ErrSlowDown, ErrExpiredToken, ErrAccessDenied}
	others = slices.DeleteFunc(others, func(e error) bool { return e == match })
	return contractCase{file, "POST", "/device/token", func(t *testing.T, ctx context.Context, c *Client) {
		tok, err := c.PollDeviceToken(ctx, "PINNED_DEVICE_CODE")
		if tok != nil {
			t.Errorf("PollDeviceToken() token = %+v, want nil", tok)
		}
		wantAPIError(t, err, &APIError{Method: "POST", Endpoint: "/device/token", Status: 400, Code: code,
			Body: ErrorBody{Error: code}}, match)
		notIs(t, err, append(others, ErrInvalidCredential, ErrConflict)...)
	}}
}

func contractCases() []contractCase {
	return []contractCase{
		{"device_code.json", "POST", "/device/code", func(t *testing.T, ctx context.Context, c *Client) {
			got, err := c.RequestDeviceCode(ctx, nil)
			if err != nil {
				t.Fatalf("RequestDeviceCode() = %v", err)
			}
			want := &DeviceCode{DeviceCode: "PINNED_DEVICE_CODE", UserCode: "AAAA-BBBB",
				VerificationURI:         "https://dev.tracebloc.io/activate",
				VerificationURIComplete: "https://dev.tracebloc.io/activate?code=AAAA-BBBB",
				ExpiresIn:               900, Interval: 5}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RequestDeviceCode() (-want +got):\n%s", diff)
			}
		}},
		{"device_token_success.json", "POST", "/device/token", func(t *testing.T, ctx context.Context, c *Client) {
			got, err := c.PollDeviceToken(ctx, "PINNED_DEVICE_CODE")
			if err != nil {
				t.Fatalf("PollDeviceToken() = %v", err)
			}
			if diff := cmp.Diff(&Token{Token: "PINNED_CLIENT_ACCESS_TOKEN"}, got); diff != "" {
				t.Errorf("PollDeviceToken() (-want +got):\n%s", diff)
			}
		}},
		deviceTokenErrorCase("device_token_error_authorization_pending.json", CodeAuthorizationPending, ErrAuthorizationPending),
		deviceTokenErrorCase("device_token_error_slow_down.json", CodeSlowDown, ErrSlowDown),
		deviceTokenErrorCase("device_token_error_expired_token.json", CodeExpiredToken, ErrExpiredToken),
		deviceTokenErrorCase("device_token_error_access_denied.json", CodeAccessDenied, ErrAccessDenied),
		{"userinfo.json", "GET", "/userinfo/", func(t *testing.T, ctx context.Context, c *Client) {
			got, err := c.UserInfo(ctx)
			if err != nil {
				t.Fatalf("UserInfo() = %v", err)
			}
			want := &UserInfo{Email: "contract-admin@contract.example", FirstName: "Contract Admin",
				Account: "contract-account", AccountID: 1, UserID: 1, Type: "DS", IsPasswordChange: true}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("UserInfo() (-want +got):\n%s", diff)
			}
		}},
		{"auth_revoke.json", "POST", "/auth/revoke", func(t *testing.T, ctx context.Context, c *Client) {
			if err := c.RevokeToken(ctx); err != nil {
				t.Errorf("RevokeToken() = %v, want nil", err)
			}
		}},
		{"edge_device_create.json", "POST", "/edge-device/", func(t *testing.T, ctx context.Context, c *Client) {
			dev, created, err := c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "contract-client",
				Namespace: "contract-client", Location: "DE", Password: "pw", ClusterID: "contract-cluster-uid-0001"})
			if err != nil {
				t.Fatalf("CreateEdgeDevice() = %v", err)
			}
			if !created {
				t.Errorf("CreateEdgeDevice() created = false, want true on 201")
			}
			if diff := cmp.Diff(contractDevice(), dev); diff != "" {
				t.Errorf("CreateEdgeDevice() (-want +got):\n%s", diff)
			}
		}},
		{"edge_device_adopt.json", "POST", "/edge-device/", func(t *testing.T, ctx context.Context, c *Client) {
			dev, created, err := c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "contract-client",
				Namespace: "contract-client", Password: "pw", ClusterID: "contract-cluster-uid-0001"})
			if err != nil {
				t.Fatalf("CreateEdgeDevice() = %v", err)
			}
			if created {
				t.Errorf("CreateEdgeDevice() created = true, want false on 200 (adopted)")
			}
			if diff := cmp.Diff(contractDevice(), dev); diff != "" {
				t.Errorf("CreateEdgeDevice() (-want +got):\n%s", diff)
			}
		}},
		{"edge_device_patch_cluster_id.json", "PATCH", "/edge-device/1/", func(t *testing.T, ctx context.Context, c *Client) {
			dev, err := c.PatchEdgeDevice(ctx, 1, PatchRequest{ClusterID: "contract-cluster-uid-0002"})
			if err != nil {
				t.Fatalf("PatchEdgeDevice() = %v", err)
			}
			want := contractDevice()
			want.ClusterID = ptr("contract-cluster-uid-0002")
			want.Namespace = "contract-legacy"
			want.LastInfoUpdate = ptr(contractTime)
			if diff := cmp.Diff(want, dev); diff != "" {
				t.Errorf("PatchEdgeDevice() (-want +got):\n%s", diff)
			}
		}},
		{"edge_device_revoke.json", "POST", "/edge-device/1/revoke/", func(t *testing.T, ctx context.Context, c *Client) {
			got, err := c.RevokeEdgeDevice(ctx, 1)
			if err != nil {
				t.Fatalf("RevokeEdgeDevice() = %v", err)
			}
			want := &RevokeResult{ClientID: 1, Status: "revoked",
				Detail: "Machine credential revoked; the client can re-enroll via the normal provisioning path."}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RevokeEdgeDevice() (-want +got):\n%s", diff)
			}
		}},
		{"edge_device_admins.json", "GET", "/edge-device/admins/", func(t *testing.T, ctx context.Context, c *Client) {
			got, err := c.Admins(ctx)
			if err != nil {
				t.Fatalf("Admins() = %v", err)
			}
			want := []Admin{
				{Name: "Contract Admin", Email: "contract-admin@contract.example"},
				{Name: "Contract Owner", Email: "contract-owner@contract.example"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Admins() (-want +got):\n%s", diff)
			}
		}},
		{"error_403_client_write.json", "POST", "/edge-device/", func(t *testing.T, ctx context.Context, c *Client) {
			dev, _, err := c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "x", Namespace: "x", Password: "pw"})
			if dev != nil {
				t.Errorf("CreateEdgeDevice() dev = %+v, want nil", dev)
			}
			wantAPIError(t, err, &APIError{Method: "POST", Endpoint: "/edge-device/", Status: 403,
				Body: ErrorBody{Detail: "You do not have permission to perform this action."}}, ErrForbidden)
			notIs(t, err, ErrConflict, ErrUnauthorized)
		}},
		{"error_409_cluster_conflict.json", "POST", "/edge-device/", func(t *testing.T, ctx context.Context, c *Client) {
			_, _, err := c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "x", Namespace: "x", Password: "pw", ClusterID: "contract-cluster-uid-0090"})
			wantAPIError(t, err, &APIError{Method: "POST", Endpoint: "/edge-device/", Status: 409, Code: CodeClusterConflict,
				Body: ErrorBody{Error: CodeClusterConflict, ClusterID: "contract-cluster-uid-0090",
					OwnerEmail: "contract-foreign-owner@contract.example"}}, ErrConflict)
			notIs(t, err, ErrForbidden)
		}},
		{"error_409_cluster_in_use.json", "POST", "/edge-device/", func(t *testing.T, ctx context.Context, c *Client) {
			_, _, err := c.CreateEdgeDevice(ctx, CreateRequest{FirstName: "x", Namespace: "x", Password: "pw", ClusterID: "contract-cluster-uid-0091"})
			wantAPIError(t, err, &APIError{Method: "POST", Endpoint: "/edge-device/", Status: 409, Code: CodeClusterInUse,
				Body: ErrorBody{Error: CodeClusterInUse, ClusterID: "contract-cluster-uid-0091",
					HolderClientID: 1, HolderName: "contract-client-91"}}, ErrConflict)
		}},
		{"error_426_upgrade_required.json", "GET", "/userinfo/", func(t *testing.T, ctx context.Context, c *Client) {
			_, err := c.UserInfo(ctx)
			var got *UpgradeRequiredError
			if !errors.As(err, &got) {
				t.Fatalf("UserInfo() = %v (%T), want *UpgradeRequiredError", err, err)
			}
			if diff := cmp.Diff(&UpgradeRequiredError{Endpoint: "/userinfo/", MinVersion: "0.4.0"}, got); diff != "" {
				t.Errorf("UpgradeRequiredError (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), "0.4.0") {
				t.Errorf("error %q does not name the minimum version 0.4.0", err)
			}
		}},
	}
}

// TestContract serves every recorded answer of the backend for the call it belongs to
// and checks what the client makes of it.
func TestContract(t *testing.T) {
	contractFiles(t)
	for _, tc := range contractCases() {
		t.Run(tc.file, func(t *testing.T) {
			c, _, _ := newTestClient(t, serveFixture(t, readFixture(t, tc.file), tc.method, tc.path))
			tc.check(t, context.Background(), c.WithToken("user-token"))
		})
	}
}

// TestContractList follows the recorded first page (15 clients, next as recorded, on the
// fixture's host) to a second page holding the 16th client.
func TestContractList(t *testing.T) {
	contractFiles(t)
	f := readFixture(t, "edge_device_list.json")
	var page1 map[string]any
	if err := json.Unmarshal(f.Body, &page1); err != nil {
		t.Fatal(err)
	}
	results := page1["results"].([]any)
	last := map[string]any{}
	for k, v := range results[0].(map[string]any) {
		last[k] = v
	}
	last["username"], last["first_name"], last["namespace"], last["cluster_id"] =
		"contract-edge-16", "contract-client-16", "contract-client-16", "contract-cluster-uid-16"

	var srvURL string
	var pages []string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || r.URL.Path != "/edge-device/" {
			t.Errorf("request %s %s, want GET /edge-device/", r.Method, r.URL.Path)
		}
		pages = append(pages, r.URL.RawQuery)
		var body any
		switch r.URL.Query().Get("page") {
		case "":
			// As recorded: next is http://testserver/edge-device/?page=2, the backend's view
			// of itself; the client reads its path and query from this server.
			body = page1
		case "2":
			body = map[string]any{"count": 16, "next": nil, "previous": srvURL + "/edge-device/", "results": []any{last}}
		default:
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	c, srv, _ := newTestClient(t, handler)
	srvURL = srv.URL

	got, err := c.WithToken("user-token").ListEdgeDevices(context.Background())
	if err != nil {
		t.Fatalf("ListEdgeDevices() = %v", err)
	}
	var want []EdgeDevice
	for n := 15; n >= 1; n-- {
		want = append(want, listDevice(n))
	}
	want = append(want, listDevice(16))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListEdgeDevices() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", "page=2"}, pages); diff != "" {
		t.Errorf("pages requested (-want +got):\n%s", diff)
	}
}

// TestContractCovered fails when a fixture is added to the contract without a case here.
func TestContractCovered(t *testing.T) {
	files := contractFiles(t)
	covered := []string{"edge_device_list.json"} // TestContractList
	for _, tc := range contractCases() {
		covered = append(covered, tc.file)
	}
	slices.Sort(covered)
	slices.Sort(files)
	if diff := cmp.Diff(files, slices.Compact(covered)); diff != "" {
		t.Errorf("fixtures in %s vs. fixtures with a contract case (-fixtures +cases):\n%s", contractDir, diff)
	}
}
