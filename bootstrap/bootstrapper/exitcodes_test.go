package bootstrapper_test

import (
	"errors"

	"github.com/tracebloc/edge/bootstrap/enroll"
)

// The README's exit codes, which the binary maps each kind of stop to; the tests check the
// numbers a person reads, and the binary's own test checks its mapping.
const (
	exitFailure         = 1
	exitConfig          = 2
	exitDenied          = 3
	exitConflict        = 4
	exitForbidden       = 5
	exitUpgrade         = 6
	exitClusterMismatch = 7
)

// exitCodeOf is the exit code of the stop err is, -1 for a plain error.
func exitCodeOf(err error) int {
	var stop *enroll.Error
	if !errors.As(err, &stop) {
		return -1
	}
	return map[enroll.Kind]int{
		enroll.Failure: exitFailure, enroll.Config: exitConfig, enroll.Denied: exitDenied,
		enroll.Conflict: exitConflict, enroll.Forbidden: exitForbidden, enroll.Upgrade: exitUpgrade,
		enroll.ClusterMismatch: exitClusterMismatch,
	}[stop.Kind]
}
