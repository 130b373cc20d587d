package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// DefaultName is the instance name when none is given.
const DefaultName = "dev"

// Options select an instance and the tools it runs on.
type Options struct {
	// Name of the instance: lower-case letters, digits and dashes (default "dev").
	Name string
	// Dir is the instance folder (default CacheDir()/clusters/Name).
	Dir string
	// BinDir holds etcd and the Kubernetes binaries (default CacheDir()/bin).
	BinDir string
	// Log receives progress lines (default io.Discard).
	Log io.Writer
	// Timeout bounds Up's wait for each component (default 3 minutes).
	Timeout time.Duration
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// CacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/tracebloc-edge, where scripts/build-tools
// puts the tools and the instances live.
func CacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the cache folder (set XDG_CACHE_HOME or HOME): %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "tracebloc-edge"), nil
}

// withDefaults fills the empty fields and checks the name.
func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if !nameRE.MatchString(o.Name) {
		return o, fmt.Errorf("cluster name %q: use 1-32 lower-case letters, digits and dashes", o.Name)
	}
	if o.Dir == "" || o.BinDir == "" {
		cache, err := CacheDir()
		if err != nil {
			return o, err
		}
		if o.Dir == "" {
			o.Dir = filepath.Join(cache, "clusters", o.Name)
		}
		if o.BinDir == "" {
			o.BinDir = filepath.Join(cache, "bin")
		}
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("cluster folder %s: %w", o.Dir, err)
	}
	o.Dir = dir
	// unix sockets hold at most 107 bytes: containerd's ttrpc socket is the longest.
	if n := len(o.paths().containerdSocket()) + len(".ttrpc"); n > 107 {
		return o, fmt.Errorf("cluster folder %s is too deep for containerd's socket (%d > 107 bytes): choose a shorter --dir", o.Dir, n)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	return o, nil
}

// ErrNotRunning is returned by Open when the instance is not up.
var ErrNotRunning = errors.New("cluster is not running")

func (o Options) paths() paths { return paths(o.Dir) }

// paths names the files of an instance folder.
type paths string

func (p paths) join(elem ...string) string {
	return filepath.Join(append([]string{string(p)}, elem...)...)
}
func (p paths) state() string           { return p.join("state.json") }
func (p paths) adminKubeconfig() string { return p.join("admin.kubeconfig") }
func (p paths) pki(name string) string  { return p.join("pki", name) }
func (p paths) kubeconfig(n string) string {
	return p.join("kubeconfig", n+".kubeconfig")
}
func (p paths) logs(name string) string { return p.join("logs", name+".log") }
func (p paths) pid(name string) string  { return p.join("pids", name+".json") }
func (p paths) containerd(elem ...string) string {
	return p.join(append([]string{"containerd"}, elem...)...)
}
func (p paths) containerdSocket() string { return p.containerd("containerd.sock") }
func (p paths) kubelet(elem ...string) string {
	return p.join(append([]string{"kubelet"}, elem...)...)
}
func (p paths) registry(elem ...string) string {
	return p.join(append([]string{"registry"}, elem...)...)
}
func (p paths) lock() string { return string(p) + ".lock" }
