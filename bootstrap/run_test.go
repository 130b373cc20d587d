package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tracebloc/edge/bootstrap/config"
	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/internal/api"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"configuration", fmt.Errorf("%w: TRACEBLOC_ENV: bad", config.ErrInvalid), 2},
		{"denied", fmt.Errorf("sign in: %w", deviceflow.ErrDenied), 3},
		{"conflict", &enroll.Error{Code: enroll.ExitConflict, Msg: "taken: do this"}, 4},
		{"forbidden", &enroll.Error{Code: enroll.ExitForbidden, Msg: "no: ask"}, 5},
		{"upgrade", fmt.Errorf("x: %w", &api.UpgradeRequiredError{MinVersion: "1.0.0"}), 6},
		{"mismatch", &enroll.Error{Code: enroll.ExitClusterMismatch, Msg: "other cluster: render again"}, 7},
		{"anything else", errors.New("boom"), 1},
		{"stopped", context.Canceled, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := exitCode(tt.err, &stderr); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if tt.err != nil && (len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ")) {
				t.Errorf("stderr = %q, want one line starting with error:", stderr.String())
			}
		})
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"no secret name", "TRACEBLOC_CREDENTIAL_SECRET", "", "TRACEBLOC_CREDENTIAL_SECRET"},
		{"bad env", "TRACEBLOC_ENV", "production", "TRACEBLOC_ENV"},
		{"bad duration", "TRACEBLOC_RESET_WINDOW", "ten minutes", "TRACEBLOC_RESET_WINDOW"},
		{"bad bool", "TRACEBLOC_QR", "maybe", "TRACEBLOC_QR"},
		{"bad url", "TRACEBLOC_API_URL", "ftp://x", "TRACEBLOC_API_URL"},
		{"bad namespace", "TRACEBLOC_NAMESPACE", "Not_A_Namespace", "TRACEBLOC_NAMESPACE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TRACEBLOC_CREDENTIAL_SECRET", "edge-credentials")
			t.Setenv("TRACEBLOC_NAMESPACE", "edge")
			t.Setenv(tt.key, tt.value)
			err := run(context.Background(), nil, &bytes.Buffer{}, &bytes.Buffer{})
			var stderr bytes.Buffer
			if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run() = %v (exit %d), want exit 2 naming %s", err, code, tt.want)
			}
		})
	}
}
