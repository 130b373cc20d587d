package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tracebloc/edge/images"
)

// stageSource exports the repository's HEAD into <out>/build/src: a release is made of a
// commit, never of edits in progress (they are named on stderr, and left out), unless
// --worktree asks for the work tree as it is (a local release of work in progress: the
// demo's, the journey's). The bootstrap's digest is written into the copy's
// images/images.yaml once the image is built (pinBootstrap), so the post-renderer the
// release ships pins it.
func (r *release) stageSource(ctx context.Context) error {
	src := filepath.Join(r.out, "build", "src")
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	r.src = src
	if r.worktree {
		return copyWorktree(ctx, r.repo, src)
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
		fmt.Fprintln(r.stderr, "tracebloc-release: the work tree has uncommitted changes; the release is made of HEAD without them (--worktree takes them)")
	}
	return nil
}

// copyWorktree copies the files of the work tree that git would commit (tracked, and
// untracked but not ignored) into dst; a folder without git is copied whole, but for .git.
func copyWorktree(ctx context.Context, repo, dst string) error {
	list, err := exec.CommandContext(ctx, "git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return os.CopyFS(dst, withoutGit{os.DirFS(repo)})
	}
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		info, err := os.Lstat(filepath.Join(repo, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(repo, name))
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

// withoutGit is a file system without its .git folder.
type withoutGit struct{ fs.FS }

func (w withoutGit) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(w.FS, name)
	if name != "." {
		return entries, err
	}
	out := entries[:0]
	for _, e := range entries {
		if e.Name() != ".git" {
			out = append(out, e)
		}
	}
	return out, err
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
