package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tracebloc/edge/images"
)

// stageSource exports the repository's HEAD into <out>/build/src: a release is made of a
// commit, never of edits in progress (they are named on stderr, and left out). The
// bootstrap's digest is written into the copy's images/images.yaml once the image is
// built (pinBootstrap), so the post-renderer the release ships pins it.
func (r *release) stageSource(ctx context.Context) error {
	src := filepath.Join(r.out, "build", "src")
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	var tarball, stderr bytes.Buffer
	archive := exec.CommandContext(ctx, "git", "-C", r.repo, "archive", "--format=tar", "HEAD")
	archive.Stdout, archive.Stderr = &tarball, &stderr
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive HEAD of %s: %v: %s: run the release from a git checkout", r.repo, err, strings.TrimSpace(stderr.String()))
	}
	extract := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	extract.Stdin, extract.Stderr = &tarball, &stderr
	if err := extract.Run(); err != nil {
		return fmt.Errorf("unpack HEAD into %s: %v: %s", src, err, strings.TrimSpace(stderr.String()))
	}
	status, err := exec.CommandContext(ctx, "git", "-C", r.repo, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		fmt.Fprintln(r.stderr, "tracebloc-release: the work tree has uncommitted changes; the release is made of HEAD without them")
	}
	r.src = src
	return nil
}

// pinBootstrap writes the bootstrap image's index digest into the staged source's pin
// list, under the tag the chart renders by default (its appVersion).
func (r *release) pinBootstrap(context.Context) error {
	file := filepath.Join(r.src, "images", "images.yaml")
	list, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	out, err := images.SetDigest(list, bootstrapName, r.fileVersion(), r.bootstrapDigest)
	if err != nil {
		return fmt.Errorf("pin the bootstrap in %s: %w", file, err)
	}
	return os.WriteFile(file, out, 0o644)
}
