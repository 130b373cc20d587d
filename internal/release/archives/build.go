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
// -trimpath and the Makefile's link flags (GoBuild), and returns the path of each binary.
func Build(ctx context.Context, o BuildOptions) (map[Platform]string, error) {
	platforms := o.Platforms
	if len(platforms) == 0 {
		platforms = Platforms
	}
	return GoBuild{Root: o.Root, Version: o.Version, OutDir: o.OutDir, Go: o.Go, Stderr: o.Stderr,
		Package: Package, Name: BinaryName}.Run(ctx, platforms)
}

// GoBuild is the release's cross-compile of one main package, shared by the post-renderer's
// archives and the bootstrap's image: CGO_ENABLED=0, -trimpath and the Makefile's link
// flags with the version, plus Flags and Env.
type GoBuild struct {
	Root    string    // repository root (the folder with go.mod)
	Version string    // the release version, stamped as the Makefile does (v0.4.0)
	OutDir  string    // the binaries go to OutDir/<os>-<arch>/<Name>[.exe]
	Go      string    // the go command; default "go" on PATH
	Stderr  io.Writer // the go command's diagnostics
	Package string    // the main package, relative to Root
	Name    string    // the binary's name (Windows adds ".exe")
	Flags   []string  // more go build flags, e.g. -buildvcs=false
	Env     []string  // more environment, e.g. GOFLAGS=
}

// Run builds for each platform, one after the other (the go command already uses every
// core), and returns the path of each binary.
func (g GoBuild) Run(ctx context.Context, platforms []Platform) (map[Platform]string, error) {
	if g.Version == "" {
		return nil, fmt.Errorf("build %s: no version given (pass --version, such as v0.4.0)", g.Name)
	}
	goCmd := g.Go
	if goCmd == "" {
		goCmd = "go"
	}
	stderr := g.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	out := make(map[Platform]string, len(platforms))
	for _, p := range platforms {
		bin, err := filepath.Abs(filepath.Join(g.OutDir, p.OS+"-"+p.Arch, p.executable(g.Name)))
		if err != nil {
			return nil, err
		}
		args := append(append([]string{"build", "-trimpath"}, g.Flags...), "-ldflags", LDFlags(g.Version), "-o", bin, g.Package)
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = g.Root
		cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch), g.Env...)
		cmd.Stdout = stderr
		cmd.Stderr = stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build %s for %s (%s %s): %w; the go command's output is above", g.Name, p, goCmd, strings.Join(args, " "), err)
		}
		out[p] = bin
	}
	return out, nil
}
