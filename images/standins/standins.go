// Package standins provides the stand-in images of the tracebloc/client chart's workloads,
// named as the chart (version names.ClientChartVersion) renders them, for clusters that
// cannot pull the real images (the project's test clusters, whose registry mirrors
// docker.io and ghcr.io): the reporting workloads and the idle ones run images/standin
// (see its package comment), and the chart's shell init containers run a real busybox,
// this machine's static one (Debian busybox-static). images/README.md lists which chart
// component runs what.
//
// ClientStandIns builds them, pushes them to a cluster's registry and returns the pin list
// the post-renderer takes (--images), so that the chart's pods run them by digest.
package standins

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tracebloc/edge/internal/ociimage"
)

// Binary is where the stand-in binary sits in its images; the programs the chart calls by
// name (python, squid, mysqladmin) are symbolic links to it beside it.
const Binary = "/usr/bin/tracebloc-standin"

// envTags are the tags the chart gives the tracebloc images: its CLIENT_ENV.
var envTags = []string{"dev", "stg", "prod"}

// Spec is one stand-in image and the references (repository:tag) it is pushed under.
type Spec struct {
	Repository string // as the chart renders it, e.g. docker.io/tracebloc/jobs-manager
	Tags       []string
	Entrypoint []string
	busybox    bool
}

// Specs are the images of the chart's workloads that render with its default values
// (plus the egress proxy, whose default digest pin a test value must clear).
var Specs = []Spec{
	{Repository: "docker.io/tracebloc/jobs-manager", Tags: envTags, Entrypoint: []string{Binary, "jobs-manager"}},
	{Repository: "docker.io/tracebloc/pods-monitor", Tags: envTags, Entrypoint: []string{Binary, "pods-monitor"}},
	{Repository: "docker.io/tracebloc/resource-monitor", Tags: envTags, Entrypoint: []string{Binary, "resource-monitor"}},
	{Repository: "docker.io/tracebloc/mysql-client", Tags: []string{"prod"}, Entrypoint: []string{Binary, "idle", "--listen", "127.0.0.1:3306"}},
	{Repository: "docker.io/ubuntu/squid", Tags: []string{"6.6-24.04_beta"}, Entrypoint: []string{Binary, "squid"}},
	{Repository: "docker.io/library/busybox", Tags: []string{"1.35"}, busybox: true},
}

// Binaries are the programs the images are made of.
type Binaries struct {
	Standin string // images/standin, built static (BuildStandin)
	Busybox string // a static busybox (HostBusybox)
	// Applets are the busybox programs linked in /bin; nil: what `busybox --list` says.
	Applets []string
	// CABundle is the CA certificates file of the stand-in images (for a backend on
	// https); empty: the Debian ca-certificates bundle of this machine.
	CABundle string
}

// BuildStandin compiles images/standin of the repository at root into dir, static (CGO
// off) and stripped, and returns its path.
func BuildStandin(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "tracebloc-standin")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./images/standin")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the stand-in (go build ./images/standin in %s): %w\n%s", root, err, msg)
	}
	return out, nil
}

// HostBusybox finds this machine's busybox (the harness needs the Debian package
// busybox-static for its pause image too).
func HostBusybox() (string, error) {
	p, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("find busybox for the busybox image (apt-get install busybox-static): %w", err)
	}
	return p, nil
}

// Build makes the image of s.
func (s Spec) Build(b Binaries) (v1.Image, error) {
	if s.busybox {
		return busyboxImage(b)
	}
	return standinImage(b, s)
}

func standinImage(b Binaries, s Spec) (v1.Image, error) {
	bin, err := ociimage.HostFile(b.Standin, Binary)
	if err != nil {
		return nil, err
	}
	bin.Mode = 0o755
	bundle := b.CABundle
	if bundle == "" {
		bundle = ociimage.DebianCABundle
	}
	ca, err := ociimage.CACertificates(bundle)
	if err != nil {
		return nil, err
	}
	files := append(ociimage.NonrootFiles(), bin, ca,
		ociimage.File{Path: "/app", Mode: 0o755, Dir: true}) // requests-proxy's workingDir
	img, err := ociimage.Build(ociimage.Spec{
		Files:      files,
		Entrypoint: s.Entrypoint,
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + ociimage.DebianCABundle},
		User:       fmt.Sprintf("%d:%d", ociimage.NonrootUID, ociimage.NonrootUID),
		WorkingDir: "/home/nonroot",
		Labels:     labels(s.Repository),
	})
	if err != nil {
		return nil, fmt.Errorf("build the stand-in image %s: %w", s.Repository, err)
	}
	links := map[string]string{}
	for _, name := range []string{"python", "squid", "mysqladmin"} {
		links[filepath.Join(filepath.Dir(Binary), name)] = filepath.Base(Binary)
	}
	return withSymlinks(img, links)
}

// busyboxImage is busybox as the official image lays it out: /bin/busybox and a link per
// applet in /bin, root by default (the chart's init containers set their user).
func busyboxImage(b Binaries) (v1.Image, error) {
	bin, err := ociimage.HostFile(b.Busybox, "/bin/busybox")
	if err != nil {
		return nil, err
	}
	bin.Mode = 0o755
	applets := b.Applets
	if applets == nil {
		if applets, err = listApplets(b.Busybox); err != nil {
			return nil, err
		}
	}
	img, err := ociimage.Build(ociimage.Spec{
		Files:  append(ociimage.NonrootFiles(), bin),
		Cmd:    []string{"sh"},
		Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Labels: labels("docker.io/library/busybox"),
	})
	if err != nil {
		return nil, fmt.Errorf("build the busybox image: %w", err)
	}
	links := map[string]string{}
	for _, a := range applets {
		if a != "busybox" && !strings.ContainsAny(a, "/ ") && a != "" {
			links["/bin/"+a] = "busybox"
		}
	}
	return withSymlinks(img, links)
}

// listApplets asks busybox which programs it provides.
func listApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list the applets of %s (busybox --list): %w", busybox, err)
	}
	return strings.Fields(string(bytes.TrimSpace(out))), nil
}

func labels(repository string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":      "https://github.com/tracebloc/edge",
		"org.opencontainers.image.description": "tracebloc edge test stand-in for " + repository + " (images/standins)",
	}
}
