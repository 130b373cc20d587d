// Command build makes the container image of a static binary without Docker: one layer
// with the binary, the CA certificates of the Debian ca-certificates package, /etc/passwd
// and /etc/group for the nonroot user 65532 and /tmp; it writes an OCI image layout
// tarball (for `ctr images import`, `docker load`, `podman load`) and prints the digest.
//
//	go run ./images/build --binary bin/tracebloc-bootstrap \
//	    --name ghcr.io/tracebloc/edge-bootstrap --version v0.0.0 \
//	    --out bin/edge-bootstrap.oci.tar [--pin bin/images.yaml]
//
// The same inputs give the same digest. With --pin, the image's entry in that image list
// (a copy of images/images.yaml, for the post-renderer's --images) gets the tag and the
// digest, with images.SetDigest as the release does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"

	"github.com/tracebloc/edge/internal/ociimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "images/build:", err)
		}
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	binary, name, version, entrypoint, out, caBundle, source, arch, pin string
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	spec, err := imageSpec(opts)
	if err != nil {
		return err
	}
	img, err := ociimage.Build(spec)
	if err != nil {
		return fmt.Errorf("build image %s: %w", opts.name, err)
	}
	ref := opts.name + ":" + opts.version
	digest, err := ociimage.WriteLayoutFile(opts.out, img, ref)
	if err != nil {
		return err
	}
	if opts.pin != "" {
		if err := pinDigest(opts.pin, opts.name, opts.version, digest); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "pinned %s in %s\n", ref, opts.pin)
	}
	fmt.Fprintf(stderr, "wrote %s (%s)\n", opts.out, ref)
	fmt.Fprintln(stdout, digest)
	return nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.binary, "binary", "", "the static binary to put in the image (required)")
	fs.StringVar(&o.name, "name", "", "the image name without tag, e.g. ghcr.io/tracebloc/edge-bootstrap (required)")
	fs.StringVar(&o.version, "version", "", "the image tag and the org.opencontainers.image.version label (required)")
	fs.StringVar(&o.entrypoint, "entrypoint", "", "the binary's path in the image (default /<binary file name>)")
	fs.StringVar(&o.out, "out", "", "the OCI tarball to write (required)")
	fs.StringVar(&o.caBundle, "ca-bundle", ociimage.DebianCABundle, "CA bundle to copy into the image")
	fs.StringVar(&o.source, "source", "https://github.com/tracebloc/edge", "the org.opencontainers.image.source label")
	fs.StringVar(&o.arch, "arch", "amd64", "the image architecture (must match the binary)")
	fs.StringVar(&o.pin, "pin", "", "an image list `file` (a copy of images/images.yaml) whose entry for this image gets the version and the digest")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var missing []string
	for flagName, v := range map[string]string{"--binary": o.binary, "--name": o.name, "--version": o.version, "--out": o.out} {
		if v == "" {
			missing = append(missing, flagName)
		}
	}
	if len(missing) > 0 {
		return o, fmt.Errorf("missing %s: see --help", strings.Join(missing, ", "))
	}
	if strings.Contains(o.name, "@") || strings.Contains(path.Base(o.name), ":") {
		return o, fmt.Errorf("--name %q must not carry a tag or digest: the tag comes from --version", o.name)
	}
	if o.entrypoint == "" {
		o.entrypoint = "/" + path.Base(o.binary)
	}
	return o, nil
}

// imageSpec lays out the image: same paths and user as the root Dockerfile's
// distroless/static:nonroot stage.
func imageSpec(o options) (ociimage.Spec, error) {
	binary, err := ociimage.HostFile(o.binary, o.entrypoint)
	if err != nil {
		return ociimage.Spec{}, fmt.Errorf("%w (build it first: make build)", err)
	}
	binary.Mode = 0o755
	ca, err := ociimage.CACertificates(o.caBundle)
	if err != nil {
		return ociimage.Spec{}, err
	}
	files := append([]ociimage.File{binary, ca}, ociimage.NonrootFiles()...)
	uid := fmt.Sprint(ociimage.NonrootUID)
	return ociimage.Spec{
		Files:      files,
		Entrypoint: []string{o.entrypoint},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + ociimage.DebianCABundle},
		User:       uid + ":" + uid,
		WorkingDir: "/home/nonroot",
		Labels: map[string]string{
			"org.opencontainers.image.source":  o.source,
			"org.opencontainers.image.version": o.version,
		},
		OS:   "linux",
		Arch: o.arch,
	}, nil
}
