// Package journey provides the steps a person takes with tracebloc edge, for the
// end-to-end tests and `make demo`: build the binaries and the bootstrap image, push them
// and the stand-ins of the tracebloc/client chart's images to a cluster's registry,
// `helm install` the edge chart (with the client chart as its dependency) through the
// post-renderer, which pins every image by digest, read the bootstrap's logs as
// `kubectl logs deploy/<release>-jobs-manager -c bootstrap -f` would, approve the code it
// prints, and wait until the development backend shows the client online.
package journey

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/tracebloc/edge/images/standins"
)

// Image reference the journey pushes the bootstrap under; pods pull it by digest.
const (
	BootstrapRepo = "ghcr.io/tracebloc/edge-bootstrap"
	LocalTag      = "local"
)

// Artifacts are the binaries and the bootstrap image of this checkout.
type Artifacts struct {
	Bootstrap, PostRender string // binaries
	BootstrapImage        string // OCI tarball
	// Pins is the post-renderer's digest pin list of every pushed image (Stage.Images),
	// written by Push.
	Pins string
}

// Build compiles the binaries (static, CGO off) and the bootstrap image into dir.
func Build(ctx context.Context, root, dir string, log io.Writer) (*Artifacts, error) {
	a := &Artifacts{
		Bootstrap:      filepath.Join(dir, "tracebloc-bootstrap"),
		PostRender:     filepath.Join(dir, "tracebloc-postrender"),
		BootstrapImage: filepath.Join(dir, "edge-bootstrap.oci.tar"),
		Pins:           filepath.Join(dir, "images.yaml"),
	}
	for bin, pkg := range map[string]string{a.Bootstrap: "./bootstrap", a.PostRender: "./postrender/cmd/tracebloc-postrender"} {
		if err := goCmd(ctx, root, log, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg); err != nil {
			return nil, fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	if err := goCmd(ctx, root, log, "run", "./images/build", "--binary", a.Bootstrap, "--name", BootstrapRepo,
		"--version", LocalTag, "--out", a.BootstrapImage); err != nil {
		return nil, fmt.Errorf("build image %s: %w", BootstrapRepo, err)
	}
	return a, nil
}

// Pusher uploads an OCI image tarball to a cluster's registry under ref and returns the
// image's digest (cluster.Cluster.PushImageFile).
type Pusher interface {
	PushImageFile(ctx context.Context, tarball, ref string) (string, error)
}

// StandIns pushes the stand-ins of the client chart's images to the cluster's registry
// and returns their pin list (ClientStandIns); nil pushes none.
type StandIns func(ctx context.Context) (pins []byte, err error)

// pinList is the post-renderer's pin list format (postrender/pins).
type pinList struct {
	Images []map[string]any `json:"images"`
}

// Push uploads the bootstrap image under BootstrapRepo:LocalTag and the stand-ins, and
// writes one pin list of all of them to a.Pins: given to the post-renderer, it makes the
// pods run them by digest, as on a real cluster (a tag alone would keep an image of an
// earlier run that the node already has).
func (a *Artifacts) Push(ctx context.Context, p Pusher, standIns StandIns) error {
	digest, err := p.PushImageFile(ctx, a.BootstrapImage, BootstrapRepo+":"+LocalTag)
	if err != nil {
		return fmt.Errorf("push %s: %w", BootstrapRepo, err)
	}
	list := pinList{Images: []map[string]any{{"name": BootstrapRepo, "tag": LocalTag, "digest": digest}}}
	if standIns != nil {
		data, err := standIns(ctx)
		if err != nil {
			return fmt.Errorf("push the client chart's stand-in images: %w", err)
		}
		var more pinList
		if err := yaml.Unmarshal(data, &more); err != nil {
			return fmt.Errorf("read the stand-ins' pin list: %w", err)
		}
		list.Images = append(list.Images, more.Images...)
	}
	out, err := yaml.Marshal(list)
	if err != nil {
		return fmt.Errorf("write the image pin list: %w", err)
	}
	tmp := a.Pins + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return fmt.Errorf("write the image pin list: %w", err)
	}
	if err := os.Rename(tmp, a.Pins); err != nil {
		return fmt.Errorf("write the image pin list: %w", err)
	}
	return nil
}

// ClientStandIns is StandIns of the tracebloc/client chart's images (images/standins),
// built from the repository at root and pushed to c's registry.
func ClientStandIns(root string, c standins.Pusher) StandIns {
	return func(ctx context.Context) ([]byte, error) {
		pins, err := standins.ClientStandIns(ctx, root, c)
		if err != nil {
			return nil, err
		}
		return []byte(standins.PinList(pins)), nil
	}
}

func goCmd(ctx context.Context, root string, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	if log != nil {
		_, _ = log.Write(out.Bytes())
	}
	return nil
}
