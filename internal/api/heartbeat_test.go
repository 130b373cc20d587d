package api_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
)

// TestHeartbeat: through the development backend, a machine login reports its client
// online at the backend's now, and offline; once the client is revoked the token is
// refused (ErrUnauthorized) and so is a new login (ErrInvalidCredential), and the client
// stays offline.
func TestHeartbeat(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	b := startBackend(t, devbackend.Config{Now: clock.Now})
	user := b.client.WithToken(login(t, b, "dev@example.com"))
	d, _, err := user.CreateEdgeDevice(ctx, createReq("edge", "tracebloc", "cluster-1"))
	must(t, "create", err)

	machine, err := b.client.MachineLogin(ctx, d.Username, machinePassword(0))
	must(t, "machine login", err)
	clock.Add(time.Minute)
	got, err := machine.Heartbeat(ctx, api.StatusOnline)
	must(t, "heartbeat", err)
	if got.ID != d.ID || got.Status != api.StatusOnline || got.LastInfoUpdate == nil || !got.LastInfoUpdate.Equal(clock.Now()) {
		t.Fatalf("Heartbeat(online) = client %d status %d last_info_update %v; want client %d status 1 at %v",
			got.ID, got.Status, got.LastInfoUpdate, d.ID, clock.Now())
	}
	if got, err := machine.Heartbeat(ctx, api.StatusOffline); err != nil || got.Status != api.StatusOffline {
		t.Fatalf("Heartbeat(offline) = %+v, %v; want status 0", got, err)
	}

	if _, err := user.RevokeEdgeDevice(ctx, d.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := machine.Heartbeat(ctx, api.StatusOnline); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("Heartbeat after the revoke = %v, want ErrUnauthorized", err)
	}
	if _, err := b.client.MachineLogin(ctx, d.Username, machinePassword(0)); !errors.Is(err, api.ErrInvalidCredential) {
		t.Errorf("MachineLogin after the revoke = %v, want ErrInvalidCredential", err)
	}
	if _, err := b.client.Heartbeat(ctx, api.StatusOnline); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("Heartbeat without a login = %v, want ErrUnauthorized", err)
	}
	for _, c := range mustClients(t, b.srv) {
		if c.Status == api.StatusOnline {
			t.Errorf("client %d is online after refused heartbeats", c.ID)
		}
	}
}

// TestHeartbeatContractOnly: a backend without the extension answers 405, which the client
// reports as ErrMissingExtension (and not as a refused credential), so that a workload can
// tell "this backend has no heartbeat" from "the credential is wrong".
func TestHeartbeatContractOnly(t *testing.T) {
	ctx := context.Background()
	b := startBackend(t, devbackend.Config{ContractOnly: true})
	user := b.client.WithToken(login(t, b, "dev@example.com"))
	d, _, err := user.CreateEdgeDevice(ctx, createReq("edge", "tracebloc", "cluster-1"))
	must(t, "create", err)
	machine, err := b.client.MachineLogin(ctx, d.Username, machinePassword(0))
	must(t, "machine login", err)
	_, err = machine.Heartbeat(ctx, api.StatusOnline)
	if !errors.Is(err, api.ErrMissingExtension) || errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("Heartbeat against a contract-only backend = %v, want ErrMissingExtension only", err)
	}
	if _, err := user.GetEdgeDevice(ctx, d.ID+100); errors.Is(err, api.ErrMissingExtension) {
		t.Errorf("a 404 of GET /edge-device/<id>/ = %v, matches ErrMissingExtension; want only ErrNotFound", err)
	}
}
