package enroll

import (
	"testing"

	"github.com/tracebloc/edge/internal/api"
)

func TestNextName(t *testing.T) {
	tests := []struct {
		name, first string
		existing    []string
		want        string
	}{
		{"first client", "Contract Admin", nil, "contract-admin-01"},
		{"next free", "Dev", []string{"dev-01", "dev-02", "other-03"}, "dev-03"},
		{"fills a gap", "Dev", []string{"dev-01", "dev-03"}, "dev-02"},
		{"ignores longer suffixes", "Dev", []string{"dev-001", "dev-1"}, "dev-01"},
		{"empty name", "  ", nil, "edge-01"},
		{"unicode", "Jürgen Müller", nil, "j-rgen-m-ller-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clients []api.EdgeDevice
			for _, n := range tt.existing {
				clients = append(clients, api.EdgeDevice{FirstName: n})
			}
			if got := NextName(tt.first, clients); got != tt.want {
				t.Errorf("NextName(%q) = %q, want %q", tt.first, got, tt.want)
			}
		})
	}
}

func TestFreeNamespace(t *testing.T) {
	clients := []api.EdgeDevice{{Namespace: "edge"}, {Namespace: "edge-2"}}
	if got := FreeNamespace("edge", clients); got != "edge-3" {
		t.Errorf("FreeNamespace(edge) = %q, want edge-3", got)
	}
	long := "a123456789a123456789a123456789a123456789a123456789a123456789abc"
	if got := FreeNamespace(long, nil); len(got) > 63 {
		t.Errorf("FreeNamespace(63 chars) = %q, longer than a namespace may be", got)
	}
}

func TestNewPassword(t *testing.T) {
	a, err := NewPassword()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewPassword()
	if len(a) < 43 || a == b {
		t.Errorf("NewPassword() = %d chars, distinct=%v; want at least 32 random bytes", len(a), a != b)
	}
}
