package fleet

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/bootstrap/credential"
)

// TestSmallFleetKeepsOneClientPerCluster is the benchmark at a size fit for make test: 20
// clusters at once, the 20 again with their Secrets lost, 5 bootstraps racing on one
// cluster id.
func TestSmallFleetKeepsOneClientPerCluster(t *testing.T) {
	rep, err := Run(context.Background(), Config{Enrollments: 20, Racing: 5})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Print(&out)
	t.Log("\n" + out.String())
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{credential.Minted: 20}, rep.Fleet.Enrollment); diff != "" {
		t.Errorf("fleet enrollments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{credential.Reset: 20}, rep.Rerun.Enrollment); diff != "" {
		t.Errorf("re-run enrollments, Secrets lost (-want +got):\n%s", diff)
	}
	if rep.Fleet.Verified != 20 || rep.Rerun.Verified != 20 {
		t.Errorf("credentials the backend accepts: fleet %d, re-run %d, want 20 and 20", rep.Fleet.Verified, rep.Rerun.Verified)
	}
	if got := rep.Race.Enrollment[credential.Minted]; got != 1 {
		t.Errorf("racing bootstraps that minted = %d, want 1 (%v)", got, rep.Race.Enrollment)
	}
}

func TestReportCheck(t *testing.T) {
	good := func() *Report {
		return &Report{Fleet: Phase{Runs: 3, ClientsAdded: 3, Verified: 3}, Rerun: Phase{Runs: 3, Verified: 3}, Race: Phase{Runs: 2, Verified: 1}, RaceClients: 1}
	}
	tests := []struct {
		name  string
		spoil func(r *Report)
		fails bool
	}{
		{name: "all invariants kept", spoil: func(*Report) {}},
		{name: "a duplicate client", spoil: func(r *Report) { r.Duplicates = 1 }, fails: true},
		{name: "a client minted by the re-run", spoil: func(r *Report) { r.Rerun.ClientsAdded = 1 }, fails: true},
		{name: "two clients for the raced cluster", spoil: func(r *Report) { r.RaceClients = 2 }, fails: true},
		{name: "no client for the raced cluster", spoil: func(r *Report) { r.RaceClients = 0 }, fails: true},
		{name: "a failed enrollment", spoil: func(r *Report) { r.Fleet.Errors = 1 }, fails: true},
		{name: "a failed re-run", spoil: func(r *Report) { r.Rerun.Errors = 1 }, fails: true},
		{name: "a re-run credential refused", spoil: func(r *Report) { r.Rerun.Verified = 2 }, fails: true},
		{name: "a fleet credential refused", spoil: func(r *Report) { r.Fleet.Verified = 2 }, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.spoil(r)
			if err := r.Check(); (err != nil) != tt.fails {
				t.Errorf("Check() = %v, want failure %v", err, tt.fails)
			}
		})
	}
}
