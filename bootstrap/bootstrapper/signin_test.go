package bootstrapper

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tracebloc/edge/bootstrap/deviceflow"
	"github.com/tracebloc/edge/bootstrap/enroll"
	"github.com/tracebloc/edge/internal/api"
)

// The device flow's ends map to the documented exit codes: a link the bootstrap will not
// show is for the operator to settle (a restart gets the same link), so it is configuration.
func TestFinishSignInExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "denied", err: deviceflow.ErrDenied, want: enroll.ExitDenied},
		{name: "upgrade", err: &api.UpgradeRequiredError{MinVersion: "1.2.3"}, want: enroll.ExitUpgrade},
		{name: "untrusted link", err: fmt.Errorf("host evil.example: %w", deviceflow.ErrUntrustedLink), want: enroll.ExitConfig},
		{name: "anything else", err: errors.New("boom"), want: 0},
	}
	b := &Bootstrapper{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := b.finishSignIn(t.Context(), "", tt.err, zerolog.Nop())
			var stop *enroll.Error
			got := 0
			if errors.As(err, &stop) {
				got = stop.Code
			}
			if got != tt.want {
				t.Errorf("finishSignIn(%v) exit code = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
