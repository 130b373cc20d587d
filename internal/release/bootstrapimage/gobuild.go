package bootstrapimage

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

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

// BuildBinaries compiles the bootstrap for every platform with CGO_ENABLED=0,
// -trimpath, -buildvcs=false (the revision is an input, not read from a work tree) and
// the Makefile's link flags, so the same source and toolchain give the same bytes.
func BuildBinaries(ctx context.Context, o BuildOptions) (map[Platform]string, error) {
	if o.Version == "" {
		return nil, fmt.Errorf("build the bootstrap: no version given (pass --version, such as v0.1.0)")
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	stderr := o.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	out := make(map[Platform]string, len(Platforms))
	for _, p := range Platforms {
		bin, err := filepath.Abs(filepath.Join(o.OutDir, p.OS+"-"+p.Arch, "tracebloc-bootstrap"))
		if err != nil {
			return nil, err
		}
		args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", archives.LDFlags(o.Version), "-o", bin, Package}
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = o.Root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch, "GOFLAGS=")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build the bootstrap for %s (%s %s): %w; the go command's output is above", p, goCmd, strings.Join(args, " "), err)
		}
		out[p] = bin
	}
	return out, nil
}
