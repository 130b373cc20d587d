package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tracebloc/edge/internal/ociimage"
)

// criNamespace is the containerd namespace of the kubelet's containers and images.
const criNamespace = "k8s.io"

// ctr runs containerd's CLI against the instance's socket.
func ctr(ctx context.Context, p paths, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", p.containerdSocket()}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// importImage loads an image tarball (OCI layout or docker save format) into the
// kubelet's namespace of the instance's containerd.
func importImage(ctx context.Context, p paths, tarball string) error {
	if _, err := ctr(ctx, p, "-n", criNamespace, "images", "import", tarball); err != nil {
		return fmt.Errorf("import image %s into the cluster: %w", tarball, err)
	}
	return nil
}

// writePauseImage builds the sandbox image from Debian's static busybox: `sleep infinity`.
func writePauseImage(file string) error {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("find busybox for the pause image (apt-get install busybox-static): %w", err)
	}
	bin, err := ociimage.HostFile(busybox, "/bin/busybox")
	if err != nil {
		return err
	}
	bin.Mode = 0o755
	img, err := ociimage.Build(ociimage.Spec{
		Files:      []ociimage.File{bin},
		Entrypoint: []string{"/bin/busybox", "sleep", "infinity"},
		User:       "65535:65535",
	})
	if err != nil {
		return fmt.Errorf("build pause image: %w", err)
	}
	if _, err := ociimage.WriteLayoutFile(file, img, PauseImage); err != nil {
		return fmt.Errorf("write pause image: %w", err)
	}
	return nil
}

// Task is a containerd task (a running container) of an instance.
type Task struct {
	Namespace, ID string
}

// tasks lists the containerd tasks of the instance in every namespace.
func tasks(ctx context.Context, p paths) ([]Task, error) {
	nsOut, err := ctr(ctx, p, "namespaces", "ls", "-q")
	if err != nil {
		return nil, err
	}
	var all []Task
	for _, ns := range strings.Fields(nsOut) {
		out, err := ctr(ctx, p, "-n", ns, "tasks", "ls", "-q")
		if err != nil {
			return nil, err
		}
		for _, id := range strings.Fields(out) {
			all = append(all, Task{Namespace: ns, ID: id})
		}
	}
	return all, nil
}

// removeContainers kills and deletes every task and container of the instance's
// containerd; the shims end with their tasks.
func removeContainers(ctx context.Context, p paths) error {
	nsOut, err := ctr(ctx, p, "namespaces", "ls", "-q")
	if err != nil {
		return err
	}
	var firstErr error
	for _, ns := range strings.Fields(nsOut) {
		out, err := ctr(ctx, p, "-n", ns, "tasks", "ls", "-q")
		if err != nil {
			return err
		}
		for _, id := range strings.Fields(out) {
			// A task may end by itself meanwhile (its sandbox went first): not found is fine.
			if _, err := ctr(ctx, p, "-n", ns, "tasks", "delete", "--force", id); err != nil && !isNotFound(err) && firstErr == nil {
				firstErr = err
			}
		}
		out, err = ctr(ctx, p, "-n", ns, "containers", "ls", "-q")
		if err != nil {
			return err
		}
		for _, id := range strings.Fields(out) {
			if _, err := ctr(ctx, p, "-n", ns, "containers", "delete", id); err != nil && !isNotFound(err) && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

func isNotFound(err error) bool {
	return strings.Contains(err.Error(), "not found")
}

// shims lists the shims of this instance that still run: every process whose command
// line is a containerd shim serving this instance's socket. The shim.pid files containerd
// records are not enough: deleting a task removes its file before its shim has ended, and
// a shim that was starting as its task went never got one.
func shims(p paths) []proc {
	socket := []byte(p.containerdSocket())
	var found []proc
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, socket) || !bytes.Contains(cmdline, []byte("containerd-shim")) {
			continue
		}
		if start, err := startTime(pid); err == nil {
			found = append(found, proc{PID: pid, Start: start})
		}
	}
	return found
}

// killShims ends the given shims and waits for them to be gone. Their containers'
// processes end with the cgroups (removeCgroupRoot).
func killShims(list []proc) error {
	var left []string
	for _, pr := range list {
		if !pr.alive() {
			continue
		}
		_ = syscall.Kill(pr.PID, syscall.SIGKILL)
		if !pr.waitGone(10 * time.Second) {
			left = append(left, strconv.Itoa(pr.PID))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("containerd shims %s did not end after SIGKILL", strings.Join(left, ", "))
	}
	return nil
}
