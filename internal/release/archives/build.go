package archives

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Package is the post-renderer's main package, relative to the repository root.
const Package = "./postrender/cmd/tracebloc-postrender"

// VersionVar is the variable the link stamps with the release version.
const VersionVar = "github.com/tracebloc/edge/internal/version.Version"

// LDFlags are the Makefile's link flags for a version: no symbol table, no DWARF, and
// the version stamped.
func LDFlags(version string) string {
	return "-s -w -X " + VersionVar + "=" + version
}

// BuildOptions say what Build compiles and where.
type BuildOptions struct {
	Root      string     // repository root (the folder with go.mod)
	Version   string     // the release version, stamped as the Makefile does (v0.4.0)
	Platforms []Platform // default: Platforms
	OutDir    string     // the binaries go to OutDir/<os>-<arch>/<binary>
	Go        string     // the go command; default "go" on PATH
	Stderr    io.Writer  // the go command's diagnostics
}

// Build cross-compiles the post-renderer for each platform with CGO_ENABLED=0,
// -trimpath and the Makefile's link flags, one platform after the other (the go command
// already uses every core), and returns the path of each binary.
func Build(ctx context.Context, o BuildOptions) (map[Platform]string, error) {
	if o.Version == "" {
		return nil, fmt.Errorf("build: no version given (pass --version, such as v0.4.0)")
	}
	platforms := o.Platforms
	if len(platforms) == 0 {
		platforms = Platforms
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	stderr := o.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	out := make(map[Platform]string, len(platforms))
	for _, p := range platforms {
		bin, err := filepath.Abs(filepath.Join(o.OutDir, p.OS+"-"+p.Arch, p.Binary()))
		if err != nil {
			return nil, err
		}
		args := []string{"build", "-trimpath", "-ldflags", LDFlags(o.Version), "-o", bin, Package}
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = o.Root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
		cmd.Stdout = stderr
		cmd.Stderr = stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build %s for %s (%s %s): %w; the go command's output is above", BinaryName, p, goCmd, strings.Join(args, " "), err)
		}
		out[p] = bin
	}
	return out, nil
}
