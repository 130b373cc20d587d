// Package journey provides the steps a person takes with tracebloc edge, for the
// end-to-end tests and `make demo`: build the binaries and images, push them to a
// cluster's registry, `helm install` the chart with the post-renderer (which pins them by
// digest), read the bootstrap's logs as
// `kubectl logs ... -c bootstrap -f` would, and approve the code it prints.
package journey

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Image references the journey pushes to the cluster's registry; pods pull them by digest.
const (
	BootstrapRepo = "ghcr.io/tracebloc/edge-bootstrap"
	WorkloadRepo  = "ghcr.io/tracebloc/edge-standin"
	LocalTag      = "local"
)

// Artifacts are the binaries and image tarballs of this checkout.
type Artifacts struct {
	Bootstrap, PostRender, Standin string // binaries
	BootstrapImage, WorkloadImage  string // OCI tarballs
	// Pins is the post-renderer's digest pin list of the two images (Stage.Images),
	// written by Push.
	Pins string
}

// Build compiles the binaries (static, CGO off) and the two images into dir.
func Build(ctx context.Context, root, dir string, log io.Writer) (*Artifacts, error) {
	a := &Artifacts{
		Bootstrap:      filepath.Join(dir, "tracebloc-bootstrap"),
		PostRender:     filepath.Join(dir, "tracebloc-postrender"),
		Standin:        filepath.Join(dir, "edge-standin"),
		BootstrapImage: filepath.Join(dir, "edge-bootstrap.oci.tar"),
		WorkloadImage:  filepath.Join(dir, "edge-standin.oci.tar"),
		Pins:           filepath.Join(dir, "images.yaml"),
	}
	for bin, pkg := range map[string]string{a.Bootstrap: "./bootstrap", a.PostRender: "./postrender/cmd/tracebloc-postrender", a.Standin: "./images/standin"} {
		if err := goCmd(ctx, root, log, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg); err != nil {
			return nil, fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	for _, img := range []struct{ bin, name, out string }{
		{a.Bootstrap, BootstrapRepo, a.BootstrapImage},
		{a.Standin, WorkloadRepo, a.WorkloadImage},
	} {
		if err := goCmd(ctx, root, log, "run", "./images/build", "--binary", img.bin, "--name", img.name,
			"--version", LocalTag, "--out", img.out); err != nil {
			return nil, fmt.Errorf("build image %s: %w", img.name, err)
		}
	}
	return a, nil
}

// Pusher uploads an OCI image tarball to a cluster's registry under ref and returns the
// image's digest (cluster.Cluster.PushImageFile).
type Pusher interface {
	PushImageFile(ctx context.Context, tarball, ref string) (string, error)
}

// Push uploads the two images to the cluster's registry under BootstrapRepo:LocalTag and
// WorkloadRepo:LocalTag, and writes their digests to a.Pins: given to the post-renderer,
// it makes the pods run them by digest, as on a real cluster (a tag alone would keep an
// image of an earlier run that the node already has).
func (a *Artifacts) Push(ctx context.Context, p Pusher) error {
	var pins strings.Builder
	pins.WriteString("images:\n")
	for _, img := range []struct{ tarball, repo string }{
		{a.BootstrapImage, BootstrapRepo},
		{a.WorkloadImage, WorkloadRepo},
	} {
		digest, err := p.PushImageFile(ctx, img.tarball, img.repo+":"+LocalTag)
		if err != nil {
			return err
		}
		fmt.Fprintf(&pins, "- name: %s\n  tag: %s\n  digest: %s\n", img.repo, LocalTag, digest)
	}
	tmp := a.Pins + ".tmp"
	if err := os.WriteFile(tmp, []byte(pins.String()), 0o644); err != nil {
		return fmt.Errorf("write the image pin list: %w", err)
	}
	if err := os.Rename(tmp, a.Pins); err != nil {
		return fmt.Errorf("write the image pin list: %w", err)
	}
	return nil
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

// Stage is one cluster with the chart's prerequisites.
type Stage struct {
	Root       string // the repository (for chart/)
	Kubeconfig string
	Kube       kubernetes.Interface
	Helm       string // helm v3 CLI
	HelmHome   string // HELM_*_HOME folders live here
	PostRender string // the post-renderer binary
	// Images is the post-renderer's digest pin list (Artifacts.Pins); empty: its built-in.
	Images     string
	BackendURL string
	// Loopback is set on the local harness cluster: pods use the host network, the
	// harness's RuntimeClass, and reach the API server at 127.0.0.1:APIServerPort.
	Loopback      bool
	APIServerPort int
	// Output, when set, receives a copy of every helm command's combined output (the
	// end-to-end tests scan it for secrets).
	Output io.Writer
}

// Values are the --set arguments every install of the journey uses, ready for helm's
// command line.
func (s *Stage) Values() []string {
	var args []string
	for _, v := range s.values() {
		flag := "--set"
		if strings.Contains(v, "extraEnv") { // env values are strings, even a port number
			flag = "--set-string"
		}
		args = append(args, flag, v)
	}
	return args
}

func (s *Stage) values() []string {
	v := []string{
		"backend.url=" + s.BackendURL,
		"bootstrap.image.repository=" + BootstrapRepo, "bootstrap.image.tag=" + LocalTag,
		"image.repository=" + WorkloadRepo, "image.tag=" + LocalTag,
		"bootstrap.leaseDuration=5s",
		"workload.extraEnv[0].name=TRACEBLOC_API_URL", "workload.extraEnv[0].value=" + s.BackendURL,
	}
	if s.Images != "" {
		// Pushed to the cluster's registry (Artifacts.Push). Helm 3 post-renders no hook, so
		// the test hook names the bootstrap by tag: Always gets it the image just pushed, not
		// one of an earlier run that the node still has. The rest is pinned by digest.
		v = append(v, "bootstrap.image.pullPolicy=Always")
	} else {
		// Loaded into the nodes by hand: nothing to pull from.
		v = append(v, "bootstrap.image.pullPolicy=Never", "image.pullPolicy=Never")
	}
	if s.Loopback {
		v = append(v, "hostNetwork=true", "runtimeClassName=tracebloc-loopback",
			"bootstrap.extraEnv[0].name=KUBERNETES_SERVICE_HOST", "bootstrap.extraEnv[0].value=127.0.0.1",
			"bootstrap.extraEnv[1].name=KUBERNETES_SERVICE_PORT", fmt.Sprintf("bootstrap.extraEnv[1].value=%d", s.APIServerPort))
	}
	return v
}

// HelmEnv is the environment of a helm command: its own homes, this cluster.
func (s *Stage) HelmEnv() []string {
	env := append(os.Environ(), "KUBECONFIG="+s.Kubeconfig)
	for _, k := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		env = append(env, k+"="+filepath.Join(s.HelmHome, strings.ToLower(k)))
	}
	return env
}

// Helm3 runs the helm CLI and returns its combined output.
func (s *Stage) Helm3(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.Helm, args...)
	cmd.Env = s.HelmEnv()
	out, err := cmd.CombinedOutput()
	if s.Output != nil {
		_, _ = s.Output.Write(out)
	}
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// InstallArgs are the arguments of `helm install|upgrade` with the post-renderer.
func (s *Stage) InstallArgs(verb, release, ns string, extra ...string) []string {
	args := []string{verb, release, filepath.Join(s.Root, "chart"), "-n", ns,
		"--post-renderer", s.PostRender, "--post-renderer-args", "--kubeconfig=" + s.Kubeconfig}
	if s.Images != "" {
		args = append(args, "--post-renderer-args", "--images="+s.Images)
	}
	if verb == "install" {
		args = append(args, "--create-namespace")
	}
	args = append(args, s.Values()...)
	return append(args, extra...)
}

// Install runs `helm install` with the post-renderer (it returns at once: the pod waits
// for the approval).
func (s *Stage) Install(ctx context.Context, release, ns string, extra ...string) (string, error) {
	return s.Helm3(ctx, s.InstallArgs("install", release, ns, extra...)...)
}

var userCodeRE = regexp.MustCompile(`\b[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}\b`)

// PodOf returns the newest pod of the release that is not being deleted.
func (s *Stage) PodOf(ctx context.Context, release, ns string) (*corev1.Pod, error) {
	pods, err := s.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	if err != nil {
		return nil, err
	}
	var newest *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Labels["app.kubernetes.io/component"] == "test" {
			continue
		}
		if _, hook := p.Annotations["helm.sh/hook"]; hook {
			continue
		}
		if newest == nil || p.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = p
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("no pod of release %s in %s yet", release, ns)
	}
	return newest, nil
}

// FollowBootstrap streams the bootstrap container's log of the release's pod (as
// `kubectl logs -n ns deploy/release -c bootstrap -f`) into w, and reports each user
// code it shows on codes. It follows the run after at least minRestarts restarts of the
// container, and returns when that run ends or ctx is done.
func (s *Stage) FollowBootstrap(ctx context.Context, release, ns string, w io.Writer, codes chan<- string, minRestarts int32) error {
	var pod *corev1.Pod
	for {
		p, err := s.PodOf(ctx, release, ns)
		if err == nil && bootstrapStarted(p, minRestarts) {
			pod = p
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bootstrap of %s/%s did not start: %w", ns, release, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
	stream, err := s.Kube.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "bootstrap", Follow: true}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("logs of %s/%s -c bootstrap: %w", ns, pod.Name, err)
	}
	defer stream.Close()
	sc := bufio.NewScanner(stream)
	seen := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		if w != nil {
			fmt.Fprintln(w, line)
		}
		if code := userCodeRE.FindString(line); code != "" && !seen[code] && codes != nil {
			seen[code] = true
			select {
			case codes <- code:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func bootstrapStarted(p *corev1.Pod, minRestarts int32) bool {
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name == "bootstrap" && st.RestartCount >= minRestarts && (st.State.Running != nil || st.State.Terminated != nil) {
			return true
		}
	}
	return false
}

// WaitRunning waits until the release's newest pod has its workload container running
// (the bootstrap finished and the credential reached the workload).
func (s *Stage) WaitRunning(ctx context.Context, release, ns string) (*corev1.Pod, error) {
	return s.WaitRunningUnless(ctx, release, ns, nil)
}

// WaitRunningUnless is WaitRunning that gives up with giveUp's error as soon as giveUp
// returns one for the newest pod (nil giveUp: never).
func (s *Stage) WaitRunningUnless(ctx context.Context, release, ns string, giveUp func(*corev1.Pod) error) (*corev1.Pod, error) {
	for {
		p, err := s.PodOf(ctx, release, ns)
		if err == nil {
			for _, st := range p.Status.ContainerStatuses {
				if st.State.Running != nil {
					return p, nil
				}
			}
			if giveUp != nil {
				if err := giveUp(p); err != nil {
					return nil, err
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the workload of %s/%s is not running: %w (pod: %s)", ns, release, ctx.Err(), describe(p))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// BootstrapExit waits for the bootstrap container of the newest pod to end and returns
// its exit code (the first termination, also when the kubelet restarts it).
func (s *Stage) BootstrapExit(ctx context.Context, release, ns string) (int32, error) {
	for {
		if p, err := s.PodOf(ctx, release, ns); err == nil {
			for _, st := range p.Status.InitContainerStatuses {
				if st.Name != "bootstrap" {
					continue
				}
				if st.State.Terminated != nil {
					return st.State.Terminated.ExitCode, nil
				}
				if st.LastTerminationState.Terminated != nil {
					return st.LastTerminationState.Terminated.ExitCode, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("the bootstrap of %s/%s did not end: %w", ns, release, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s phase %s", p.Name, p.Status.Phase)
	for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, "; %s ready=%v restarts=%d", st.Name, st.Ready, st.RestartCount)
		if st.State.Waiting != nil {
			fmt.Fprintf(&b, " waiting %s %s", st.State.Waiting.Reason, st.State.Waiting.Message)
		}
		if st.State.Terminated != nil {
			fmt.Fprintf(&b, " terminated %d %s", st.State.Terminated.ExitCode, st.State.Terminated.Reason)
		}
	}
	return b.String()
}
