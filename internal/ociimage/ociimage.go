// Package ociimage builds small single-layer container images from local files, without a
// container engine and without downloading a base image, and writes them as OCI image
// layout tarballs that `ctr images import` (and `docker load`/`podman load`) accept.
//
// Every timestamp in the image is fixed (the Unix epoch), file owners are root and entries
// are written in a sorted order, so the same inputs always give the same digest.
// The layout follows the OCI image-spec (image-layout.md, image-index.md); the index
// carries both `org.opencontainers.image.ref.name` and containerd's
// `io.containerd.image.name` annotation with the full reference, so an import names the
// image without extra flags.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is the time every file and the image config carry, for reproducible digests.
var epoch = time.Unix(0, 0).UTC()

// NonrootUID is the user (and group) the images run as: distroless's "nonroot".
const NonrootUID = 65532

// File is one entry of the image's single layer.
type File struct {
	// Path is absolute inside the image, e.g. "/tracebloc-bootstrap".
	Path string
	// Mode holds the permission bits, e.g. 0o755.
	Mode int64
	// Data is the content of a regular file; ignored for directories.
	Data []byte
	// Dir makes the entry a directory.
	Dir bool
}

// Spec describes an image.
type Spec struct {
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string
	// User is "uid:gid", e.g. "65532:65532"; empty runs as root.
	User       string
	WorkingDir string
	Labels     map[string]string
	OS         string // "linux" when empty
	Arch       string // "amd64" when empty
	// Created is the config's creation time; the epoch when zero. The files of the
	// layer are dated at the epoch either way.
	Created time.Time
}

// Build assembles the image: empty base, one layer with the files (plus their parent
// folders), and the config.
func Build(spec Spec) (v1.Image, error) {
	layerTar, err := layerTarball(spec.Files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}
	created := epoch
	if !spec.Created.IsZero() {
		created = spec.Created.UTC()
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "tracebloc-edge ociimage"},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS = orDefault(spec.OS, "linux")
	cfg.Architecture = orDefault(spec.Arch, "amd64")
	cfg.Created = v1.Time{Time: created}
	cfg.Config.Entrypoint = spec.Entrypoint
	cfg.Config.Cmd = spec.Cmd
	cfg.Config.Env = spec.Env
	cfg.Config.User = spec.User
	cfg.Config.WorkingDir = spec.WorkingDir
	cfg.Config.Labels = spec.Labels
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// layerTarball writes the files, sorted by path, with every parent folder before its
// children, owned by root and dated at the epoch.
func layerTarball(files []File) ([]byte, error) {
	entries := map[string]File{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" {
			return nil, fmt.Errorf("file with empty path in image spec")
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("file %s twice in image spec", p)
		}
		f.Path = p
		entries[p] = f
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = File{Path: dir, Dir: true, Mode: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := entries[p]
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    f.Mode,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if f.Dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write layer entry %s: %w", p, err)
		}
		if !f.Dir {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, fmt.Errorf("write layer entry %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer: %w", err)
	}
	return buf.Bytes(), nil
}

// NonrootFiles returns /etc/passwd and /etc/group with root and nonroot (65532) entries,
// as in distroless's static:nonroot image, and a world-writable sticky /tmp.
func NonrootFiles() []File {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	return []File{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "/home/nonroot", Mode: 0o700, Dir: true},
		{Path: "/tmp", Mode: 0o1777, Dir: true},
	}
}

// DebianCABundle is where Debian's ca-certificates package writes the CA bundle; images
// carry it at the same path, which Go's crypto/x509 reads on Linux.
const DebianCABundle = "/etc/ssl/certs/ca-certificates.crt"

// CACertificates reads the host's CA bundle (from the Debian ca-certificates package) as
// an image file at the same path.
func CACertificates(bundle string) (File, error) {
	data, err := os.ReadFile(bundle)
	if err != nil {
		return File{}, fmt.Errorf("read CA certificates %s (install the Debian package ca-certificates): %w", bundle, err)
	}
	return File{Path: DebianCABundle, Mode: 0o644, Data: data}, nil
}

// HostFile reads a file of this machine into an image file at dest, keeping its
// permission bits.
func HostFile(src, dest string) (File, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return File{}, fmt.Errorf("read %s for the image: %w", src, err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return File{}, fmt.Errorf("stat %s for the image: %w", src, err)
	}
	return File{Path: dest, Mode: int64(st.Mode().Perm()), Data: data}, nil
}

// WriteLayout writes img as an OCI image layout tarball to w, naming it ref (a full
// reference such as "ghcr.io/tracebloc/edge-bootstrap:v0.0.0") and also
// repository@digest, and returns the manifest digest ("sha256:..."). The layout is
// go-containerregistry's (pkg/v1/layout), written into a temporary folder; the tarball
// of that folder has its entries sorted and dated at the epoch, so the same image gives
// the same bytes.
func WriteLayout(w io.Writer, img v1.Image, ref string) (string, error) {
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("image digest: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("image config: %w", err)
	}
	dir, err := os.MkdirTemp("", "ociimage-layout-")
	if err != nil {
		return "", fmt.Errorf("image layout: %w", err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", fmt.Errorf("image layout: %w", err)
	}
	// Two names for the one manifest: the tag for people, and repository@digest, which
	// containerd's CRI needs to find an imported (never pulled) image by digest.
	platform := layout.WithPlatform(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture})
	for _, names := range []map[string]string{
		{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref},
		{"io.containerd.image.name": repository(ref) + "@" + digest.String()},
	} {
		if err := lp.AppendImage(img, platform, layout.WithAnnotations(names)); err != nil {
			return "", fmt.Errorf("image layout: %w", err)
		}
	}
	if err := tarFolder(w, dir); err != nil {
		return "", fmt.Errorf("image tarball: %w", err)
	}
	return digest.String(), nil
}

// tarFolder writes the files and folders below dir as a tar stream, sorted by path, dated
// at the epoch, folders 0755 and files 0644.
func tarFolder(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		var data []byte
		if d.IsDir() {
			hdr.Name, hdr.Mode, hdr.Typeflag = hdr.Name+"/", 0o755, tar.TypeDir
		} else if data, err = os.ReadFile(path); err != nil {
			return err
		}
		hdr.Size = int64(len(data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// repository strips the tag from a reference: "host:5000/a/b:v1" gives "host:5000/a/b".
func repository(ref string) string {
	slash := strings.LastIndexByte(ref, '/')
	if colon := strings.LastIndexByte(ref, ':'); colon > slash {
		return ref[:colon]
	}
	return ref
}

// WriteLayoutFile writes the image tarball to file (replacing it atomically) and returns
// the manifest digest.
func WriteLayoutFile(file string, img v1.Image, ref string) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".image-*.tar")
	if err != nil {
		return "", fmt.Errorf("create image tarball next to %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	digest, err := WriteLayout(tmp, img, ref)
	if err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write image tarball %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write image tarball %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return "", fmt.Errorf("move image tarball into place at %s: %w", file, err)
	}
	return digest, nil
}
