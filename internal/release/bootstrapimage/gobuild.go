package bootstrapimage

import (
	"context"
	"io"

	"github.com/tracebloc/edge/internal/release/archives"
)

// Package is the bootstrap's main package, relative to the repository root.
const Package = "./bootstrap"

// BuildOptions say where the bootstrap is compiled from and to.
type BuildOptions struct {
	Root    string    // repository root (the folder with go.mod)
	Version string    // stamped as the Makefile does
	OutDir  string    // binaries go to OutDir/<os>-<arch>/tracebloc-bootstrap
	Go      string    // the go command; default "go" on PATH
	Stderr  io.Writer // the go command's diagnostics
}

// BuildBinaries compiles the bootstrap for every platform with the release's cross-compile
// (archives.GoBuild: CGO_ENABLED=0, -trimpath, the Makefile's link flags), with
// -buildvcs=false (the revision is an input, not read from a work tree) and GOFLAGS
// cleared, so the same source and toolchain give the same bytes.
func BuildBinaries(ctx context.Context, o BuildOptions) (map[Platform]string, error) {
	platforms := make([]archives.Platform, len(Platforms))
	for i, p := range Platforms {
		platforms[i] = archives.Platform{OS: p.OS, Arch: p.Arch}
	}
	bins, err := archives.GoBuild{Root: o.Root, Version: o.Version, OutDir: o.OutDir, Go: o.Go, Stderr: o.Stderr,
		Package: Package, Name: "tracebloc-bootstrap", Flags: []string{"-buildvcs=false"}, Env: []string{"GOFLAGS="}}.Run(ctx, platforms)
	if err != nil {
		return nil, err
	}
	out := make(map[Platform]string, len(bins))
	for p, bin := range bins {
		out[Platform{OS: p.OS, Arch: p.Arch}] = bin
	}
	return out, nil
}
