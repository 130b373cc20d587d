// Package demo provides `make demo` and `make demo-down`: the journey of package journey,
// run for a person to watch, with the development backend as a process of its own that
// stays up with the installed release until `make demo-down`.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/journey"
	"github.com/tracebloc/edge/internal/names"
)

// clientRepo is the chart repository of the tracebloc/client chart (the edge chart's
// dependency).
const clientRepo = "https://tracebloc.github.io/client"

const (
	demoVersion = "v0.1.0-demo"
	release     = "edge"
	namespace   = "tracebloc-demo"
	clusterName = "dev"
	backendAddr = "127.0.0.1:8787"
)

// Run runs the demo command in args ("up", the default, or "down").
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "chart", "Chart.yaml")); err != nil {
		return errors.New("run the demo from the repository's top folder (make demo)")
	}
	cache, err := cluster.CacheDir()
	if err != nil {
		return err
	}
	d := &demo{root: root, out: stdout, log: stderr, cache: cache, dir: filepath.Join(cache, "demo")}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	cmd := "up"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "up":
		return d.up(ctx)
	case "down":
		return d.down(ctx)
	}
	return fmt.Errorf("unknown command %q: up or down", cmd)
}

type demo struct {
	root, dir, cache string
	out, log         io.Writer
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, "==> "+format+"\n", args...) }

// up runs the demo's steps: the tools, the cluster, the chart and its dependency, the
// images, the backend, the release, then follows the bootstrap until the workload runs and
// the backend shows the client online.
func (d *demo) up(ctx context.Context) error {
	d.say("building the tools the demo needs (the first time builds Kubernetes from source: 10 to 30 minutes; then seconds)")
	if err := d.run(ctx, filepath.Join(d.root, "scripts", "build-tools")); err != nil {
		return err
	}
	stage := &journey.Stage{Root: d.root, HelmHome: filepath.Join(d.dir, "helm"), BackendURL: "http://" + backendAddr,
		Helm: filepath.Join(d.cache, "bin", "helm")}
	local, err := d.cluster(ctx, stage)
	if err != nil {
		return err
	}
	if err := d.chart(ctx, stage); err != nil {
		return err
	}
	if err := d.images(ctx, stage, local); err != nil {
		return err
	}
	if err := d.release(ctx, stage, local); err != nil {
		return err
	}
	uid, err := stage.Kube.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read the cluster id: %w", err)
	}
	if err := d.backend(ctx, string(uid.UID)); err != nil {
		return err
	}
	if err := stage.Prepare(ctx, namespace); err != nil {
		return err
	}
	since := time.Now()
	if err := d.install(ctx, stage); err != nil {
		return err
	}
	if err := d.follow(ctx, stage); err != nil {
		return err
	}
	return d.result(ctx, stage, since)
}

// chart gets the edge chart's dependency, the tracebloc/client chart. A machine with the
// copy beside the repository is one of the project's machines, which have no internet (even
// the repository's DNS lookup would leave the loopback): it uses that copy. Any other
// machine gets it as a user's does, from the chart repository (helm repo add, helm
// dependency build), unless TRACEBLOC_OFFLINE is set. Without either, the release runs
// without the client chart (client.enabled=false), and the demo says so in one line.
func (d *demo) chart(ctx context.Context, stage *journey.Stage) error {
	dst := filepath.Join(d.dir, "chart")
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	stage.Chart = dst
	if _, local := chartdeps.ClientSource(d.root); !local && os.Getenv("TRACEBLOC_OFFLINE") == "" {
		err := d.chartFromRepository(ctx, stage, dst)
		if err == nil {
			stage.WithClient = true
			return nil
		}
		d.say("the tracebloc/client chart could not be fetched from %s (%v): installing with client.enabled=false, the edge chart's enrollment Deployment only", clientRepo, firstLine(err))
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	withClient, err := chartdeps.Prepare(dst)
	if err != nil {
		return fmt.Errorf("prepare the chart: %w", err)
	}
	stage.WithClient = withClient
	if withClient {
		d.say("the tracebloc/client chart %s from the copy beside the repository", names.ClientChartVersion)
	} else {
		d.say("no tracebloc/client chart (TRACEBLOC_OFFLINE, no copy beside the repository): installing with client.enabled=false, the edge chart's enrollment Deployment only")
	}
	return nil
}

// chartFromRepository copies the chart into dst and builds its dependency from the chart
// repository, as `helm dependency build` does on a user's machine.
func (d *demo) chartFromRepository(ctx context.Context, stage *journey.Stage, dst string) error {
	d.say("helm dependency build (the tracebloc/client chart %s from %s; TRACEBLOC_OFFLINE=1 stays offline)", names.ClientChartVersion, clientRepo)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(d.root, "chart"))); err != nil {
		return fmt.Errorf("copy the chart: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(dst, "charts")); err != nil {
		return err
	}
	if _, err := stage.Helm3(ctx, "repo", "add", "tracebloc", clientRepo, "--force-update"); err != nil {
		return err
	}
	_, err := stage.Helm3(ctx, "dependency", "build", dst)
	return err
}

// firstLine is the first line of err's text, for a one-line message.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// images builds the binaries and the bootstrap image, and pushes it and the stand-ins of
// the client chart's images to the local cluster's registry (with another cluster, it
// says how to load them).
func (d *demo) images(ctx context.Context, stage *journey.Stage, local *cluster.Cluster) error {
	d.say("building the binaries and the images (no Docker needed)")
	art, err := journey.Build(ctx, d.root, filepath.Join(d.root, "bin", "demo"), nil)
	if err != nil {
		return err
	}
	stage.PostRender = art.PostRender
	if local == nil {
		d.say("load %s into your cluster's nodes (e.g. kind load image-archive) as %s:%s, and make %s reachable from its pods",
			art.BootstrapImage, journey.BootstrapRepo, journey.LocalTag, stage.BackendURL)
		return nil
	}
	d.say("pushing the images to the cluster's registry %s", local.RegistryAddr())
	var standIns journey.StandIns
	if stage.WithClient {
		standIns = journey.ClientStandIns(d.root, local)
	}
	if err := art.Push(ctx, local, standIns); err != nil {
		return err
	}
	stage.Images = art.Pins
	return nil
}

// release makes the release of this work tree as `make release` does, pushes it to the
// local cluster's registry, and points the install at it as a user's: the chart from
// oci://, its provenance verified, and the post-renderer from the release archive, its
// checksum and signature checked. With another cluster, or without the client chart
// (which the release packages), the demo installs the chart folder instead.
func (d *demo) release(ctx context.Context, stage *journey.Stage, local *cluster.Cluster) error {
	if local == nil || !stage.WithClient {
		d.say("installing the chart from its folder (a release needs the local cluster's registry and the tracebloc/client chart)")
		return nil
	}
	d.say("make release: the bootstrap image, the chart and the Helm 4 plugin to %s, signed with the throwaway keys of %s", local.RegistryAddr(), filepath.Join(d.dir, "keys"))
	pub, err := journey.Publish(ctx, journey.PublishOptions{
		Root: d.root, Dist: filepath.Join(d.dir, "dist"), Keys: filepath.Join(d.dir, "keys"), Version: demoVersion,
		Registry: local.RegistryAddr(), RegistryCA: local.CAFile(),
		Helm: stage.Helm, Helm4: filepath.Join(d.cache, "bin", "helm4"),
		ClientChart: filepath.Join(stage.Chart, "charts", chartdeps.ClientArchive),
	})
	if err != nil {
		return err
	}
	pr, err := pub.PostRenderer(filepath.Join(d.dir, "dist"))
	if err != nil {
		return fmt.Errorf("install the post-renderer from the release: %w", err)
	}
	stage.ChartRef, stage.ChartFlags, stage.PostRender = pub.ChartRef(), pub.InstallFlags(), pr
	d.say("the release %s: chart %s (%s), bootstrap image %s@%s", pub.Version, pub.ChartRef(), pub.Digest("chart"), journey.BootstrapRepo, pub.Digest("image"))
	return nil
}

// install installs the release, or upgrades it when an earlier demo left it.
func (d *demo) install(ctx context.Context, stage *journey.Stage) error {
	verb := "install"
	if _, err := stage.Helm3(ctx, "status", release, "-n", namespace); err == nil {
		verb = "upgrade"
	}
	d.say("helm %s %s %s -n %s --post-renderer tracebloc-postrender", verb, release, strings.Join(stage.ChartArgs(), " "), namespace)
	out, err := stage.Helm3(ctx, stage.InstallArgs(verb, release, namespace)...)
	if err != nil {
		return err
	}
	fmt.Fprint(d.out, out)
	return nil
}

// follow follows every run of the bootstrap (a run that fails is restarted by the kubelet
// and may show a new code), approves each code once with DEMO_AUTO_APPROVE=1, until the
// workload runs or the bootstrap stops for a reason a restart does not fix.
func (d *demo) follow(ctx context.Context, stage *journey.Stage) error {
	d.say("kubectl logs -n %s deploy/%s -c bootstrap -f", namespace, stage.Workload(release))
	auto := os.Getenv("DEMO_AUTO_APPROVE") == "1"
	if !auto {
		d.say("open the URL in the banner below in a browser, pick a user and approve (or run with DEMO_AUTO_APPROVE=1)")
	}
	fctx, stopFollowing := context.WithCancel(ctx)
	codes := make(chan string, 4)
	following := make(chan struct{})
	go func() {
		defer close(following)
		defer close(codes)
		// Start with the run going on now (a pod left by an earlier demo may have
		// restarted many times), then each next one.
		for next := int32(0); fctx.Err() == nil; next++ {
			next = max(next, bootstrapRestarts(fctx, stage))
			_ = stage.FollowBootstrap(fctx, release, namespace, d.out, codes, next)
		}
	}()
	go d.approveEach(ctx, stage, codes, auto)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	err := waitForWorkload(wctx, stage)
	time.Sleep(time.Second) // the last log lines
	stopFollowing()
	<-following
	return err
}

// approveEach approves each code of codes once, when auto; otherwise the person does.
func (d *demo) approveEach(ctx context.Context, stage *journey.Stage, codes <-chan string, auto bool) {
	seen := map[string]bool{}
	for code := range codes {
		if !auto || seen[code] {
			continue
		}
		seen[code] = true
		if err := approve(ctx, d.tokenFile(), stage.BackendURL, code); err != nil {
			fmt.Fprintf(d.log, "demo: auto-approve %s: %v\n", code, err)
		} else {
			d.say("DEMO_AUTO_APPROVE: approved %s as dev@example.com", code)
		}
	}
}

// bootstrapRestarts returns how often the bootstrap container of the release's newest pod
// has restarted (0 when there is no such pod yet).
func bootstrapRestarts(ctx context.Context, stage *journey.Stage) int32 {
	p, err := stage.PodOf(ctx, release, namespace)
	if err != nil {
		return 0
	}
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name == "bootstrap" {
			return st.RestartCount
		}
	}
	return 0
}

// waitForWorkload waits until the release's workload runs, or returns an error when the
// bootstrap ended with an exit code that a restart does not change (README: 2 and 4 to 7).
func waitForWorkload(ctx context.Context, stage *journey.Stage) error {
	_, err := stage.WaitRunningUnless(ctx, release, namespace, stoppedForGood)
	return err
}

// stoppedForGood returns an error when the pod's bootstrap ended with such an exit code.
func stoppedForGood(p *corev1.Pod) error {
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name != "bootstrap" {
			continue
		}
		for _, t := range []*corev1.ContainerStateTerminated{st.State.Terminated, st.LastTerminationState.Terminated} {
			if t != nil && (t.ExitCode == 2 || t.ExitCode >= 4 && t.ExitCode <= 7) {
				return fmt.Errorf("the bootstrap stopped with exit code %d (its last log line above says why; the README lists the codes): fix that, or start over with make demo-down", t.ExitCode)
			}
		}
	}
	return nil
}

// cluster points stage at the cluster in KUBECONFIG when it answers, else at the local
// cluster, which it starts (returned so that images can be imported).
func (d *demo) cluster(ctx context.Context, stage *journey.Stage) (*cluster.Cluster, error) {
	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		if cs, err := answering(ctx, kc); err == nil {
			d.say("using the cluster of KUBECONFIG=%s", kc)
			stage.Kubeconfig, stage.Kube = kc, cs
			return nil, nil
		}
		d.say("KUBECONFIG=%s does not answer; using the local cluster instead", kc)
	}
	d.say("starting the local cluster %q on 127.0.0.1", clusterName)
	c, err := cluster.Up(ctx, cluster.Options{Name: clusterName, Log: d.log})
	if err != nil {
		return nil, err
	}
	stage.Kubeconfig, stage.Kube, stage.Harness = c.Kubeconfig, c.Client, c
	return c, nil
}

func answering(ctx context.Context, kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	_, err = cs.Discovery().ServerVersion()
	return cs, err
}

// backend starts the development backend as its own process, unless it runs already for
// this cluster. Its data is kept per cluster id, so a demo again on the same cluster shows
// the re-install that adopts the client, and a new cluster (after demo-down, or a cluster
// started again) starts from an empty backend instead of one whose clients name a
// cluster that is gone.
func (d *demo) backend(ctx context.Context, clusterID string) error {
	url := "http://" + backendAddr
	marker := filepath.Join(d.dir, "devbackend.cluster")
	if up(url) {
		if b, _ := os.ReadFile(marker); strings.TrimSpace(string(b)) == clusterID && d.devAPIWorks(ctx, url) {
			d.say("the development backend already runs at %s", url)
			return nil
		}
		d.say("the development backend at %s serves another cluster; starting it again for this one", url)
		if err := d.stopBackend(); err != nil {
			return err
		}
	}
	logf, err := os.Create(filepath.Join(d.dir, "devbackend.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(d.root, "bin", "tracebloc-devbackend"), "--listen", backendAddr, "--public-url", url,
		"--device-interval", "2s", "--db", filepath.Join(d.dir, "devbackend-"+clusterID+".db"), "--admin-token-file", d.tokenFile())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the demo, until demo-down
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the development backend (make build first): %w", err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "devbackend.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(marker, []byte(clusterID+"\n"), 0o644); err != nil {
		return err
	}
	_ = cmd.Process.Release()
	for i := 0; i < 50 && !up(url); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !up(url) {
		return fmt.Errorf("the development backend did not start: see %s", logf.Name())
	}
	d.say("the development backend runs at %s (activation page %s/activate; log %s)", url, url, logf.Name())
	return nil
}

// stopBackend stops the development backend the demo started (by the PID it recorded,
// after checking that PID is still that program) and waits until its port is free.
func (d *demo) stopBackend() error {
	pidFile := filepath.Join(d.dir, "devbackend.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		if up("http://" + backendAddr) {
			return fmt.Errorf("something that this demo did not start answers at %s: stop it, then run the demo again", backendAddr)
		}
		return nil
	}
	defer os.Remove(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "tracebloc-devbackend") {
		d.say("the development backend (pid %d) is not running", pid)
		return nil
	}
	if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.SIGTERM) == nil {
		d.say("stopped the development backend (pid %d)", pid)
	}
	for i := 0; i < 100 && up("http://"+backendAddr); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if up("http://" + backendAddr) {
		return fmt.Errorf("the development backend (pid %d) did not stop within 10s", pid)
	}
	return nil
}

// up reports whether anything answers HTTP at url (the /_dev/ API answers 401 without
// the admin token).
func up(url string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url + "/_dev/clients")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// tokenFile is where the development backend writes the admin token of its /_dev/ API.
func (d *demo) tokenFile() string { return filepath.Join(d.dir, "devbackend.token") }

// devAPIWorks reports whether the backend at url takes the admin token of tokenFile.
func (d *demo) devAPIWorks(ctx context.Context, url string) bool {
	resp, err := devAPI(ctx, d.tokenFile(), http.MethodGet, url+"/_dev/clients", "")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// devAPI calls the development backend's /_dev/ API with the admin token it wrote at start.
func devAPI(ctx context.Context, tokenFile, method, url, body string) (*http.Response, error) {
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read the development backend's admin token (make demo-down, then make demo, starts the backend afresh): %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	return (&http.Client{Timeout: 10 * time.Second}).Do(req)
}

func approve(ctx context.Context, tokenFile, url, code string) error {
	body := fmt.Sprintf(`{"user_code":%q,"email":"dev@example.com"}`, code)
	resp, err := devAPI(ctx, tokenFile, http.MethodPost, url+"/_dev/approve", body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// result shows what a person checks: the backend's view of the client (online once the
// client chart's workloads run with the credential) and the Secret's keys.
func (d *demo) result(ctx context.Context, stage *journey.Stage, since time.Time) error {
	sec, err := stage.Kube.CoreV1().Secrets(namespace).Get(ctx, release+"-credentials", metav1.GetOptions{})
	if err != nil {
		return err
	}
	list := func(ctx context.Context) ([]api.EdgeDevice, error) { return d.clients(ctx, stage.BackendURL) }
	var c api.EdgeDevice
	if stage.WithClient {
		d.say("waiting for the client chart's workloads to report the client online")
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if c, err = journey.WaitOnline(wctx, list, string(sec.Data["CLIENT_ID"]), since); err != nil {
			return err
		}
	} else if c, err = d.client(ctx, stage.BackendURL, string(sec.Data["CLIENT_ID"])); err != nil {
		return err
	}
	d.say("the tracebloc client of this cluster, as the development backend shows it:")
	cid, seen := "", "never"
	if c.ClusterID != nil {
		cid = *c.ClusterID
	}
	if c.LastInfoUpdate != nil {
		seen = c.LastInfoUpdate.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(d.out, "    name %s  status %d  last_info_update %s\n    id %d  namespace %s  cluster_id %s\n", c.FirstName, c.Status, seen, c.ID, c.Namespace, cid)
	d.say("the credential Secret %s/%s (keys only; the values are never shown):", namespace, sec.Name)
	for k := range sec.Data {
		fmt.Fprintf(d.out, "    %s\n", k)
	}
	for _, k := range []string{"tracebloc.io/enrollment", "tracebloc.io/client-name", "tracebloc.io/cluster-id"} {
		fmt.Fprintf(d.out, "    %s: %s\n", k, sec.Annotations[k])
	}
	d.say("done. Clean up with: make demo-down")
	return nil
}

// clients lists the development backend's clients through its /_dev/ API.
func (d *demo) clients(ctx context.Context, url string) ([]api.EdgeDevice, error) {
	resp, err := devAPI(ctx, d.tokenFile(), http.MethodGet, url+"/_dev/clients", "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/_dev/clients: %s", url, resp.Status)
	}
	var clients []api.EdgeDevice
	if err := json.NewDecoder(resp.Body).Decode(&clients); err != nil {
		return nil, fmt.Errorf("GET %s/_dev/clients: %w", url, err)
	}
	return clients, nil
}

// client returns the client with the given username.
func (d *demo) client(ctx context.Context, url, username string) (api.EdgeDevice, error) {
	clients, err := d.clients(ctx, url)
	if err != nil {
		return api.EdgeDevice{}, err
	}
	for _, c := range clients {
		if c.Username == username {
			return c, nil
		}
	}
	return api.EdgeDevice{}, fmt.Errorf("the development backend has no client %s: make demo-down, then make demo, starts afresh", username)
}

func (d *demo) down(ctx context.Context) error {
	stage := &journey.Stage{HelmHome: filepath.Join(d.dir, "helm"), Helm: filepath.Join(d.cache, "bin", "helm")}
	opts := cluster.Options{Name: clusterName, Log: d.log}
	if c, err := cluster.Open(ctx, opts); err == nil {
		stage.Kubeconfig = c.Kubeconfig
		if _, err := stage.Helm3(ctx, "uninstall", release, "-n", namespace); err == nil {
			d.say("uninstalled %s from %s", release, namespace)
		}
	}
	if err := d.stopBackend(); err != nil {
		return err
	}
	// The backend's data names this cluster, which goes now.
	dbs, _ := filepath.Glob(filepath.Join(d.dir, "devbackend*.db*"))
	for _, f := range append(dbs, filepath.Join(d.dir, "devbackend.cluster")) {
		_ = os.Remove(f)
	}
	if err := cluster.Down(ctx, opts); err != nil {
		return err
	}
	d.say("removed the local cluster %q", clusterName)
	return nil
}

func (d *demo) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = d.root
	cmd.Stdout, cmd.Stderr = d.log, d.log
	return cmd.Run()
}
