package devbackend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/api"
)

// TestAPIClientAgainstBackend drives the project's own API client through every call, so
// the backend and the client agree on paths, slashes, shapes and error mapping.
func TestAPIClientAgainstBackend(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, err := api.New(e.ts.URL, api.WithHTTPClient(e.ts.Client()), api.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.RequestDeviceCode(ctx, nil)
	if err != nil {
		t.Fatalf("RequestDeviceCode: %v", err)
	}
	if _, err := c.PollDeviceToken(ctx, dc.DeviceCode); !errors.Is(err, api.ErrAuthorizationPending) {
		t.Fatalf("PollDeviceToken before approval = %v, want ErrAuthorizationPending", err)
	}
	if _, err := c.PollDeviceToken(ctx, dc.DeviceCode); !errors.Is(err, api.ErrSlowDown) {
		t.Fatalf("PollDeviceToken too fast = %v, want ErrSlowDown", err)
	}
	e.approve(dc.UserCode)
	e.clock.Add(10 * time.Second)
	tok, err := c.PollDeviceToken(ctx, dc.DeviceCode)
	if err != nil {
		t.Fatalf("PollDeviceToken after approval: %v", err)
	}
	user := c.WithToken(tok.Token)
	if ui, err := user.UserInfo(ctx); err != nil || ui.Email != adminA {
		t.Fatalf("UserInfo = %+v, %v", ui, err)
	}
	for i := range 12 {
		if _, _, err := user.CreateEdgeDevice(ctx, createReq(fmt.Sprintf("c-%d", i), fmt.Sprintf("c-%d", i), "")); err != nil {
			t.Fatalf("CreateEdgeDevice %d: %v", i, err)
		}
	}
	d, created, err := user.CreateEdgeDevice(ctx, createReq("edge", "edge", "cluster-1"))
	if err != nil || !created {
		t.Fatalf("CreateEdgeDevice = %v, %v; want created", created, err)
	}
	if again, created, err := user.CreateEdgeDevice(ctx, createReq("edge", "edge", "cluster-1")); err != nil || created || again.ID != d.ID {
		t.Fatalf("CreateEdgeDevice again = %+v, %v, %v; want the same client adopted", again, created, err)
	}
	if all, err := user.ListEdgeDevices(ctx); err != nil || len(all) != 13 {
		t.Fatalf("ListEdgeDevices = %d clients, %v; want 13 over two pages", len(all), err)
	}
	if got, err := user.GetEdgeDevice(ctx, d.ID); err != nil || got.Username != d.Username {
		t.Fatalf("GetEdgeDevice = %+v, %v", got, err)
	}
	if _, err := user.GetEdgeDevice(ctx, 999); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("GetEdgeDevice(999) = %v, want ErrNotFound", err)
	}
	if _, err := user.PatchEdgeDevice(ctx, d.ID, api.PatchRequest{ClusterID: "cluster-2"}); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("PatchEdgeDevice to another cluster = %v, want ErrConflict", err)
	}
	if err := c.VerifyCredential(ctx, d.Username, goodPassword); err != nil {
		t.Fatalf("VerifyCredential: %v", err)
	}
	if _, err := user.RevokeEdgeDevice(ctx, d.ID); err != nil {
		t.Fatalf("RevokeEdgeDevice: %v", err)
	}
	if err := c.VerifyCredential(ctx, d.Username, goodPassword); !errors.Is(err, api.ErrInvalidCredential) {
		t.Fatalf("VerifyCredential after revoke = %v, want ErrInvalidCredential", err)
	}
	if _, err := user.PatchEdgeDevice(ctx, d.ID, api.PatchRequest{Password: "a-new-machine-password"}); err != nil {
		t.Fatalf("PatchEdgeDevice password: %v", err)
	}
	if admins, err := user.Admins(ctx); err != nil || len(admins) != 2 {
		t.Fatalf("Admins = %v, %v", admins, err)
	}
	viewer := c.WithToken(e.login(viewerA))
	if _, _, err := viewer.CreateEdgeDevice(ctx, createReq("v", "v", "")); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("CreateEdgeDevice as viewer = %v, want ErrForbidden", err)
	}
	if err := user.RevokeToken(ctx); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if _, err := user.UserInfo(ctx); !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("UserInfo after RevokeToken = %v, want ErrUnauthorized", err)
	}
}
