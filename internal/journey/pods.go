package journey

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/api"
)

var userCodeRE = regexp.MustCompile(`\b[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}\b`)

// Pods returns the pods of the release's workload (Workload) that are not being deleted,
// found by the Deployment's selector as `kubectl logs deploy/...` finds them.
func (s *Stage) Pods(ctx context.Context, release, ns string) ([]corev1.Pod, error) {
	name := s.Workload(release)
	dep, err := s.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", ns, name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", ns, name, err)
	}
	list, err := s.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// PodOf returns the newest pod of the release's workload that is not being deleted.
func (s *Stage) PodOf(ctx context.Context, release, ns string) (*corev1.Pod, error) {
	pods, err := s.Pods(ctx, release, ns)
	if err != nil {
		return nil, err
	}
	var newest *corev1.Pod
	for i := range pods {
		if p := &pods[i]; newest == nil || p.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = p
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("no pod of %s in %s yet", s.Workload(release), ns)
	}
	return newest, nil
}

// FollowBootstrap streams the bootstrap container's log of the release's pod (as
// `kubectl logs -n ns deploy/<workload> -c bootstrap -f`) into w, and reports each user
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
		if err := pause(ctx); err != nil {
			return fmt.Errorf("the bootstrap of %s/%s did not start: %w", ns, s.Workload(release), err)
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

// pause waits one poll interval of the journey's waits, or until ctx is done.
func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(300 * time.Millisecond):
		return nil
	}
}

func bootstrapStarted(p *corev1.Pod, minRestarts int32) bool {
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name == "bootstrap" && st.RestartCount >= minRestarts && (st.State.Running != nil || st.State.Terminated != nil) {
			return true
		}
	}
	return false
}

// WaitRunning waits until every container of the release's newest pod runs (the
// bootstrap finished and the credential reached the workload).
func (s *Stage) WaitRunning(ctx context.Context, release, ns string) (*corev1.Pod, error) {
	return s.WaitRunningUnless(ctx, release, ns, nil)
}

// WaitRunningUnless is WaitRunning that gives up with giveUp's error as soon as giveUp
// returns one for the newest pod (nil giveUp: never). A pod named in not does not count.
func (s *Stage) WaitRunningUnless(ctx context.Context, release, ns string, giveUp func(*corev1.Pod) error, not ...string) (*corev1.Pod, error) {
	var last *corev1.Pod
	for {
		p, err := s.PodOf(ctx, release, ns)
		if err == nil && !slices.Contains(not, p.Name) {
			last = p
			if allRunning(p) {
				return p, nil
			}
			if giveUp != nil {
				if err := giveUp(p); err != nil {
					return nil, err
				}
			}
		}
		if err := pause(ctx); err != nil {
			return nil, fmt.Errorf("the workload %s/%s is not running: %w (pod: %s)", ns, s.Workload(release), err, describe(last))
		}
	}
}

// allRunning reports whether every container of p runs (init containers done).
func allRunning(p *corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) < len(p.Spec.Containers) || len(p.Spec.Containers) == 0 {
		return false
	}
	for _, st := range p.Status.ContainerStatuses {
		if st.State.Running == nil {
			return false
		}
	}
	return true
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
		if err := pause(ctx); err != nil {
			return 0, fmt.Errorf("the bootstrap of %s/%s did not end: %w", ns, s.Workload(release), err)
		}
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s phase %s", p.Name, p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			fmt.Fprintf(&b, "; %s: %s", c.Type, c.Message)
		}
	}
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

// ClientLister lists the clients a backend knows (devbackend.Server.Clients, or the
// demo's call of the development backend's /_dev/clients).
type ClientLister func(ctx context.Context) ([]api.EdgeDevice, error)

// WaitOnline waits until the backend shows the client with the given username online:
// status 1 and a last_info_update after since, which only the client chart's workloads
// (their heartbeat with the machine credential) can have set.
func WaitOnline(ctx context.Context, list ClientLister, username string, since time.Time) (api.EdgeDevice, error) {
	var last *api.EdgeDevice
	for {
		clients, err := list(ctx)
		if err == nil {
			for i, c := range clients {
				if c.Username != username {
					continue
				}
				last = &clients[i]
				if c.Status == api.StatusOnline && c.LastInfoUpdate != nil && c.LastInfoUpdate.After(since) {
					return c, nil
				}
			}
		}
		if err := pause(ctx); err != nil {
			seen := "not listed"
			if last != nil {
				seen = fmt.Sprintf("status %d, last_info_update %v", last.Status, last.LastInfoUpdate)
			}
			return api.EdgeDevice{}, fmt.Errorf("client %s is not online in the backend (%s): %w", username, seen, err)
		}
	}
}

// BootstrapLogs returns the log of the bootstrap container of the release's newest pod,
// as `kubectl logs -n ns deploy/<workload> -c bootstrap` shows it.
func (s *Stage) BootstrapLogs(ctx context.Context, release, ns string) (string, error) {
	p, err := s.PodOf(ctx, release, ns)
	if err != nil {
		return "", err
	}
	b, err := s.Kube.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: "bootstrap"}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s/%s -c bootstrap: %w", ns, p.Name, err)
	}
	return string(b), nil
}

// WaitReplaced waits until the release's newest pod is another than old and runs every
// container: the rollout of an upgrade, or the restart after a deletion, is done.
func (s *Stage) WaitReplaced(ctx context.Context, release, ns, old string) (*corev1.Pod, error) {
	return s.WaitRunningUnless(ctx, release, ns, nil, old)
}
