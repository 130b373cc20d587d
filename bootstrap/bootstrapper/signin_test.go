package bootstrapper

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/internal/api"
)

// The device flow's ends are the stops of the documented exit codes: a link the bootstrap will not
// show is for the operator to settle (a restart gets the same link), so it is configuration.
func TestSignInErrorExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want enroll.Kind // -1: no stop
	}{
		{name: "denied", err: deviceflow.ErrDenied, want: enroll.Denied},
		{name: "upgrade", err: &api.UpgradeRequiredError{MinVersion: "1.2.3"}, want: enroll.Upgrade},
		{name: "untrusted link", err: fmt.Errorf("host evil.example: %w", deviceflow.ErrUntrustedLink), want: enroll.Config},
		{name: "anything else", err: errors.New("boom"), want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := enroll.Kind(-1)
			var stop *enroll.Error
			if errors.As(signInError(tt.err), &stop) {
				got = stop.Kind
			}
			if got != tt.want {
				t.Errorf("signInError(%v) kind = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
