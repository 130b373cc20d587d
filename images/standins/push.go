package standins

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Pusher uploads an image to a cluster's registry under ref and returns its digest
// ((*cluster.Cluster).PushImage).
type Pusher interface {
	PushImage(ctx context.Context, img v1.Image, ref string) (string, error)
}

// Pin is one entry of the post-renderer's pin list (postrender/pins): the reference
// repository:tag runs at digest.
type Pin struct {
	Name, Tag, Digest string
}

// Push builds every image of Specs and pushes it under each of its tags; the pins say
// which digest each reference runs at.
func Push(ctx context.Context, p Pusher, b Binaries) ([]Pin, error) {
	var pins []Pin
	for _, s := range Specs {
		img, err := s.Build(b)
		if err != nil {
			return nil, err
		}
		for _, tag := range s.Tags {
			digest, err := p.PushImage(ctx, img, s.Repository+":"+tag)
			if err != nil {
				return nil, fmt.Errorf("push the stand-in %s:%s: %w", s.Repository, tag, err)
			}
			pins = append(pins, Pin{Name: s.Repository, Tag: tag, Digest: digest})
		}
	}
	return pins, nil
}

// PinList writes pins in the format of images/images.yaml, which the post-renderer reads
// with --images.
func PinList(pins []Pin) string {
	var b strings.Builder
	b.WriteString("images:\n")
	for _, p := range pins {
		fmt.Fprintf(&b, "- name: %s\n  tag: %s\n  digest: %s\n", p.Name, p.Tag, p.Digest)
	}
	return b.String()
}

// ClientStandIns builds the stand-in binary of the repository at root, makes the images
// with this machine's busybox, pushes them with p and returns their pins (append the
// bootstrap's and write them with PinList for the post-renderer's --images).
func ClientStandIns(ctx context.Context, root string, p Pusher) ([]Pin, error) {
	dir, err := os.MkdirTemp("", "tracebloc-standin-")
	if err != nil {
		return nil, fmt.Errorf("build the stand-ins: %w", err)
	}
	defer os.RemoveAll(dir)
	standin, err := BuildStandin(ctx, root, dir)
	if err != nil {
		return nil, err
	}
	busybox, err := HostBusybox()
	if err != nil {
		return nil, err
	}
	return Push(ctx, p, Binaries{Standin: standin, Busybox: busybox})
}

// epoch dates the links layer as ociimage dates its layer, for reproducible digests.
var epoch = time.Unix(0, 0).UTC()

// withSymlinks adds a layer of symbolic links (path to target) to img: ociimage writes
// regular files and folders only, and the chart calls several programs by name.
func withSymlinks(img v1.Image, links map[string]string) (v1.Image, error) {
	paths := make([]string, 0, len(links))
	for p := range links {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(p, "/"), Linkname: links[p],
			Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write link %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close the links layer: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make the links layer: %w", err)
	}
	out, err := mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "tracebloc-edge standins: links"}})
	if err != nil {
		return nil, fmt.Errorf("append the links layer: %w", err)
	}
	return out, nil
}
