// Package version provides the build version of the tracebloc edge binaries and the
// User-Agent they send. Version is set at build time:
//
//	go build -ldflags "-X github.com/tracebloc/edge/internal/version.Version=v0.4.0"
package version

import (
	"fmt"
	"runtime"
)

// Version is the release of this build; "dev" for local builds.
var Version = "dev"

// UserAgent is the User-Agent header every backend request carries, as the contract
// requires: tracebloc-edge-bootstrap/<version> (<os>/<arch>).
func UserAgent() string {
	return fmt.Sprintf("tracebloc-edge-bootstrap/%s (%s/%s)", Version, runtime.GOOS, runtime.GOARCH)
}
