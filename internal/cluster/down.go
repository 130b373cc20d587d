package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Down removes the instance: containers and their shims, mounts, processes (by recorded
// PID, the registry's among them), its cgroups and its folder (the registry's storage
// with it). Removing an instance that is not there succeeds.
func Down(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	unlock, err := lock(ctx, opts.paths())
	if err != nil {
		return err
	}
	defer unlock()
	return down(ctx, opts)
}

func down(ctx context.Context, opts Options) error {
	p := opts.paths()
	if _, err := os.Stat(opts.Dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	st, stErr := readState(p)
	var errs []error
	stop := func(name string, grace time.Duration) {
		if pr, ok := readProc(p, name); ok {
			if err := pr.stop(grace); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", name, err))
			}
		}
	}
	// Nothing may start containers while they are removed.
	stop("kubelet", 10*time.Second)
	stop("kube-scheduler", 5*time.Second)
	stop("kube-controller-manager", 5*time.Second)
	stop("metrics-server", 5*time.Second)
	folders := volumeFolders(ctx, opts, st, stErr)
	if processAlive(p, "containerd") {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		// Best effort: a task may end by itself meanwhile; what is left is killed below
		// and the result checked at the end.
		if err := removeContainers(cctx, p); err != nil {
			fmt.Fprintf(opts.Log, "cluster %s: removing containers: %v\n", opts.Name, err)
		}
		cancel()
	}
	stop("containerd", 10*time.Second)
	stop("registry", 10*time.Second)
	// Now that containerd is gone, no shim starts any more.
	if err := killShims(shims(p)); err != nil {
		errs = append(errs, err)
	}
	stop("kube-apiserver", 10*time.Second)
	stop("etcd", 10*time.Second)
	if stErr == nil && st.CgroupRoot != "" {
		if err := removeCgroupRoot(st.CgroupRoot); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unmountAll(opts.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := removeFolders(folders); err != nil {
		errs = append(errs, err)
	}
	removeLogLinks(opts.Dir)
	if len(errs) > 0 {
		return fmt.Errorf("tear down cluster %s (folder %s kept for a look): %w", opts.Name, opts.Dir, errors.Join(errs...))
	}
	if err := os.RemoveAll(opts.Dir); err != nil {
		return fmt.Errorf("remove %s: %w", opts.Dir, err)
	}
	return nil
}

// volumeFolders lists the instance's provisioned volume folders while its API server
// runs (the controller manager stopped, so none is added or deleted meanwhile); a
// failure is reported and tear-down goes on.
func volumeFolders(ctx context.Context, opts Options, st state, stErr error) []string {
	if stErr != nil || !processAlive(opts.paths(), "kube-apiserver") {
		return nil
	}
	folders, err := provisionedFolders(ctx, opts, st)
	if err != nil {
		fmt.Fprintf(opts.Log, "cluster %s: %v\n", opts.Name, err)
	}
	return folders
}

// removeLogLinks removes the kubelet's links in /var/log/containers (a fixed path) that
// point into the instance folder.
func removeLogLinks(dir string) {
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir+"/") {
			os.Remove(l)
		}
	}
}
