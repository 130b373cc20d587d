package journey_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/names"
)

// Scenario 1: a fresh install with the client chart, one approval, the client online.
func TestFreshInstall(t *testing.T) {
	w := newWorld(t, clusterName, withClient)
	since := time.Now()
	f, out := w.enroll("edge", w.ns)
	ctx := w.ctx()
	if want := fmt.Sprintf("kubectl logs -n %s deploy/edge-jobs-manager -c bootstrap -f", w.ns); !strings.Contains(out, want) {
		t.Errorf("helm install's NOTES lack %q:\n%s", want, out)
	}
	logs := f.String()
	for _, want := range []string{"TRACEBLOC ACTIVATION", w.uid, w.ns} {
		if !strings.Contains(logs, want) {
			t.Errorf("the bootstrap's logs lack %q:\n%s", want, logs)
		}
	}
	codes := f.Codes()
	if len(codes) != 1 {
		t.Fatalf("codes shown = %v, want exactly one", codes)
	}
	// What a person runs: kubectl logs deploy/edge-jobs-manager -c bootstrap.
	if kl, err := w.stage.BootstrapLogs(ctx, "edge", w.ns); err != nil || !strings.Contains(kl, codes[0]) {
		t.Errorf("the logs of deploy/edge-jobs-manager -c bootstrap (%v) lack the code %s:\n%s", err, codes[0], kl)
	}
	data, ann := w.assertCredential(w.ns, "edge", "minted")
	online := w.waitOnline(ctx, w.ns, "edge", since)
	if clients := w.clients(); len(clients) != 1 || clients[0].ClusterID == nil || *clients[0].ClusterID != w.uid {
		t.Fatalf("clients = %+v, want one anchored to %s", clients, w.uid)
	}
	t.Logf("the backend shows client %s (%s) with status %d, last_info_update %v", online.Username, online.FirstName, online.Status, online.LastInfoUpdate)
	w.assertWired(ctx, w.ns, "edge", string(data["CLIENT_ID"]))
	w.assertWorkloadsLoggedIn(ctx, w.ns, "edge")
	w.assertUserTokensRevoked()
	// The chart's check reads the Secret; its pod's log is part of the secrets scan.
	if _, err := w.stage.Helm3(ctx, "test", "edge", "-n", w.ns); err != nil {
		t.Errorf("helm test: %v", err)
	}
	story := w.events(w.ns)
	for _, want := range []string{"ActivationRequired", "Enrolled: enrolled as client dev-01 (" + w.ns + ")"} {
		if !strings.Contains(story, want) {
			t.Errorf("the Events lack %q:\n%s", want, story)
		}
	}
	// Nothing secret where a person reads: logs, Events, annotations. (Helm's release, and
	// everything else the suite produced, is the secrets scan's: see leaks_test.go.)
	pw := string(data["CLIENT_PASSWORD"])
	for where, text := range map[string]string{"bootstrap logs": logs, "events": story, "annotations": fmt.Sprint(ann), "helm output": out} {
		if strings.Contains(text, pw) {
			t.Errorf("the machine credential appears in the %s", where)
		}
	}
}

// assertCredential checks the credential Secret of the release: both keys, the state
// annotation enrollment, this cluster's id, and the labels the tracebloc CLI finds it by.
func (w *world) assertCredential(ns, release, enrollment string) (map[string][]byte, map[string]string) {
	w.t.Helper()
	s, err := w.c.Client.CoreV1().Secrets(ns).Get(context.Background(), release+"-credentials", metav1.GetOptions{})
	if err != nil {
		w.t.Fatalf("the credential Secret: %v", err)
	}
	if len(s.Data["CLIENT_ID"]) == 0 || len(s.Data["CLIENT_PASSWORD"]) == 0 ||
		s.Annotations["tracebloc.io/enrollment"] != enrollment || s.Annotations[names.ClusterIDLabel] != w.uid {
		w.t.Errorf("the Secret: %d keys, annotations %v; want both keys, enrollment %s, cluster %s", len(s.Data), s.Annotations, enrollment, w.uid)
	}
	if s.Labels[names.AppNameLabel] != names.ClientChartName || s.Labels[names.AppInstanceLabel] != release {
		w.t.Errorf("the Secret's labels = %v, want %s=%s and %s=%s", s.Labels, names.AppNameLabel, names.ClientChartName, names.AppInstanceLabel, release)
	}
	return s.Data, s.Annotations
}

// assertWired checks what the post-renderer did to the client chart's workloads: the
// bootstrap is jobs-manager's first init container, every CLIENT_ID and CLIENT_PASSWORD
// comes from the credential Secret, and the resource-monitor (when it runs) reads the
// copy the bootstrap keeps in the node-agents namespace, which holds the same client.
func (w *world) assertWired(ctx context.Context, ns, release, clientID string) {
	w.t.Helper()
	secret := release + "-credentials"
	dep, err := w.c.Client.AppsV1().Deployments(ns).Get(ctx, release+"-jobs-manager", metav1.GetOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	spec := dep.Spec.Template.Spec
	if len(spec.InitContainers) == 0 || spec.InitContainers[0].Name != "bootstrap" {
		w.t.Errorf("jobs-manager's first init container is not the bootstrap: %v", spec.InitContainers)
	}
	if refs := credentialRefs(spec); len(refs) == 0 || len(refs[secret]) != len(refs["*"]) {
		w.t.Errorf("jobs-manager's credential references = %v, want all to %s", refs, secret)
	}
	if !w.stage.ResourceMonitor() {
		w.t.Log("the metrics API is not registered on this cluster: the install ran without the resource-monitor")
		return
	}
	agents := w.stage.NodeAgentsNamespace(ns)
	copySecret, err := w.c.Client.CoreV1().Secrets(agents).Get(ctx, secret, metav1.GetOptions{})
	if err != nil || string(copySecret.Data["CLIENT_ID"]) != clientID || copySecret.Labels[names.CredentialCopyLabel] != "true" {
		w.t.Errorf("the copy %s/%s (%v) does not hold the client %s with the copy label", agents, secret, err, clientID)
	}
	dss, err := w.c.Client.AppsV1().DaemonSets(agents).List(ctx, metav1.ListOptions{})
	if err != nil || len(dss.Items) == 0 {
		w.t.Fatalf("no resource-monitor DaemonSet in %s (%v)", agents, err)
	}
	if refs := credentialRefs(dss.Items[0].Spec.Template.Spec); len(refs) == 0 || len(refs[secret]) != len(refs["*"]) {
		w.t.Errorf("the resource-monitor's credential references = %v, want all to %s", refs, secret)
	}
}

// credentialRefs maps each Secret a pod reads CLIENT_ID or CLIENT_PASSWORD from to the
// containers that do ("*": all references).
func credentialRefs(spec corev1.PodSpec) map[string][]string {
	refs := map[string][]string{}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		for _, e := range c.Env {
			if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && (r.SecretKeyRef.Key == "CLIENT_ID" || r.SecretKeyRef.Key == "CLIENT_PASSWORD") {
				refs[r.SecretKeyRef.Name] = append(refs[r.SecretKeyRef.Name], c.Name)
				refs["*"] = append(refs["*"], c.Name)
			}
		}
	}
	return refs
}

func (w *world) events(ns string) string {
	evs, _ := w.c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	story := ""
	for _, ev := range evs.Items {
		story += ev.Reason + ": " + ev.Message + "\n"
	}
	return story
}

// bootstrapCalls are the calls of the backend since the first n that are not the
// workloads' own (their login with the machine credential and their heartbeat).
func (w *world) bootstrapCalls(n int) []string {
	var calls []string
	for _, r := range w.backend.Requests()[n:] {
		if r.Path != "/api-token-auth/" && r.Path != "/edge-device/heartbeat/" {
			calls = append(calls, r.Method+" "+r.Path)
		}
	}
	return calls
}

// Scenario 2: a pod restart and a `helm upgrade` with the post-renderer need no approval
// and keep the credential.
func TestRestartAndUpgradeNeedNoApproval(t *testing.T) {
	w := newWorld(t, clusterName, withClient)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	before, _ := w.secretKeys(w.ns, "edge")
	calls := len(w.backend.Requests())
	pod, err := w.stage.PodOf(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.c.Client.CoreV1().Pods(w.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f := w.follow(ctx, "edge", w.ns, "", false)
	restarted, err := w.stage.WaitReplaced(ctx, "edge", w.ns, pod.Name)
	if err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
	since := time.Now()
	if _, err := w.stage.Helm3(ctx, w.stage.InstallArgs("upgrade", "edge", w.ns, "--set", "newClient.location=DE")...); err != nil {
		t.Fatal(err)
	}
	f2 := w.followRun(ctx, "edge", w.ns, "", false, 0)
	if _, err := w.stage.WaitReplaced(ctx, "edge", w.ns, restarted.Name); err != nil {
		t.Fatalf("%v\n%s", err, f2.String())
	}
	if codes := append(f.Codes(), f2.Codes()...); len(codes) != 0 {
		t.Errorf("a restart or the upgrade showed codes %v", codes)
	}
	if calls := w.bootstrapCalls(calls); len(calls) != 0 {
		t.Errorf("the restart and the upgrade called the backend: %v", calls)
	}
	after, _ := w.assertCredential(w.ns, "edge", "minted")
	if string(after["CLIENT_ID"]) != string(before["CLIENT_ID"]) || string(after["CLIENT_PASSWORD"]) != string(before["CLIENT_PASSWORD"]) {
		t.Errorf("the upgrade changed the credential (client %s -> %s)", before["CLIENT_ID"], after["CLIENT_ID"])
	}
	w.waitOnline(ctx, w.ns, "edge", since)
}

// Scenario 3: uninstall and install again: the same client, adopted, no approval.
func TestReinstallAdoptsWithoutApproval(t *testing.T) {
	w := newWorld(t, clusterName, withClient)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	before, _ := w.secretKeys(w.ns, "edge")
	if _, err := w.stage.Helm3(ctx, "uninstall", "edge", "-n", w.ns, "--wait"); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	w.install(ctx, "edge", w.ns)
	f := w.follow(ctx, "edge", w.ns, "", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
	if len(f.Codes()) != 0 || len(w.clients()) != 1 {
		t.Errorf("re-install: codes %v, clients %d; want no code and one client", f.Codes(), len(w.clients()))
	}
	after, _ := w.secretKeys(w.ns, "edge")
	if string(after["CLIENT_ID"]) != string(before["CLIENT_ID"]) {
		t.Errorf("re-install: client %s, want the same client %s", after["CLIENT_ID"], before["CLIENT_ID"])
	}
	w.waitOnline(ctx, w.ns, "edge", since)
}

// Scenario 4.
func TestSecretDeletedResetsOrRefusesWhenLive(t *testing.T) {
	w := newWorld(t, clusterName, enrollOnly)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	reinstall := func() {
		t.Helper()
		if _, err := w.stage.Helm3(ctx, "uninstall", "edge", "-n", w.ns, "--wait"); err != nil {
			t.Fatal(err)
		}
		w.removeCredentials(w.ns)
		w.install(ctx, "edge", w.ns)
	}
	reinstall()
	f := w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
	if _, ann := w.secretKeys(w.ns, "edge"); ann["tracebloc.io/enrollment"] != "reset" {
		t.Errorf("enrollment = %q, want reset", ann["tracebloc.io/enrollment"])
	}
	clients := w.clients()
	if len(clients) != 1 {
		t.Fatalf("clients = %d, want 1", len(clients))
	}
	// Now the client is live: the bootstrap must refuse to reset it.
	w.devRequest(http.MethodPost, fmt.Sprintf("/_dev/clients/%d/heartbeat", clients[0].ID), `{"status":1}`).Body.Close()
	reinstall()
	f = w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	code, err := w.stage.BootstrapExit(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.waitFor("is live")
	if code != 4 || !strings.Contains(logs, "is live") {
		t.Errorf("exit %d, logs:\n%s\nwant exit 4 saying the client is live", code, logs)
	}
}

// Scenario 6.
func TestAnotherAccountGets409(t *testing.T) {
	w := newWorld(t, clusterName, enrollOnly)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	if _, err := w.stage.Helm3(ctx, "uninstall", "edge", "-n", w.ns, "--wait"); err != nil {
		t.Fatal(err)
	}
	w.removeCredentials(w.ns)
	w.install(ctx, "edge", w.ns)
	f := w.follow(ctx, "edge", w.ns, "other@example.com", false)
	code, err := w.stage.BootstrapExit(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.waitFor("dev@example.com")
	if code != 4 || !strings.Contains(logs, "dev@example.com") {
		t.Errorf("exit %d, logs:\n%s\nwant exit 4 naming the owner dev@example.com", code, logs)
	}
	if s, err := w.c.Client.CoreV1().Secrets(w.ns).Get(ctx, "edge-credentials", metav1.GetOptions{}); err == nil && len(s.Data["CLIENT_PASSWORD"]) > 0 {
		t.Errorf("a refused enrollment wrote a credential")
	}
}

// Scenario 7.
func TestLegacyInstallIsMigrated(t *testing.T) {
	w := newWorld(t, clusterName, enrollOnly)
	ctx := w.ctx()
	const password = "legacy-password-0123456789"
	legacy := w.legacyClient(ctx, password)
	if _, err := w.c.Client.CoreV1().Secrets(w.ns).Create(ctx, secret("tracebloc-client", legacy.Username, password), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.enroll("edge", w.ns, "--set", "legacySecret.name=tracebloc-client")
	clients := w.clients()
	if len(clients) != 1 || clients[0].ClusterID == nil || *clients[0].ClusterID != w.uid {
		t.Fatalf("clients = %+v, want the legacy one anchored to %s", clients, w.uid)
	}
	data, ann := w.secretKeys(w.ns, "edge")
	if string(data["CLIENT_PASSWORD"]) != password || ann["tracebloc.io/enrollment"] != "migrated" {
		t.Errorf("the credential Secret does not hold the migrated credential (enrollment %q)", ann["tracebloc.io/enrollment"])
	}
}

// legacyClient creates a client of the namespace with password, as a person did before the
// edge (signed in, then created the client in the dashboard).
func (w *world) legacyClient(ctx context.Context, password string) *api.EdgeDevice {
	w.t.Helper()
	c, _ := api.New(w.url, api.WithHTTPClient(w.http))
	code, err := c.RequestDeviceCode(ctx, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.backend.Approve(code.UserCode, "dev@example.com"); err != nil {
		w.t.Fatal(err)
	}
	tok, err := c.PollDeviceToken(ctx, code.DeviceCode)
	if err != nil {
		w.t.Fatal(err)
	}
	legacy, _, err := c.WithToken(tok.Token).CreateEdgeDevice(ctx, api.CreateRequest{FirstName: "old", Namespace: w.ns, Password: password})
	if err != nil {
		w.t.Fatal(err)
	}
	return legacy
}

// Scenario 8.
func TestGuardRefusesASecondNamespace(t *testing.T) {
	w := newWorld(t, clusterName, enrollOnly)
	w.enroll("edge", w.ns)
	ctx := w.ctx()
	other := clustertest.Namespace(t, w.c)
	w.prepare(other)
	w.snapshotAtEnd(other)
	out, err := w.stage.Install(ctx, "edge2", other)
	if err == nil || !strings.Contains(out, w.ns) {
		t.Fatalf("helm install into a second namespace: %v\n%s\nwant a refusal naming %s", err, out, w.ns)
	}
	pods, _ := w.c.Client.CoreV1().Pods(other).List(ctx, metav1.ListOptions{})
	deps, _ := w.c.Client.AppsV1().Deployments(other).List(ctx, metav1.ListOptions{})
	if len(pods.Items)+len(deps.Items) != 0 {
		t.Errorf("the refused install applied objects: %d pods, %d deployments", len(pods.Items), len(deps.Items))
	}
}

// Scenario 10.
func TestDeniedShowsANewCodeNextTime(t *testing.T) {
	w := newWorld(t, clusterName, enrollOnly)
	ctx := w.ctx()
	w.install(ctx, "edge", w.ns)
	f := w.follow(ctx, "edge", w.ns, "", true)
	code, err := w.stage.BootstrapExit(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.waitFor("denied")
	if code != 3 || !strings.Contains(logs, "denied") {
		t.Fatalf("exit %d, logs:\n%s\nwant exit 3 saying it was denied", code, logs)
	}
	// The kubelet restarts the bootstrap: it shows a new code, which we approve.
	denied := f.Codes()
	f2 := w.followRun(ctx, "edge", w.ns, "dev@example.com", false, 1)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f2.String())
	}
	if codes := f2.Codes(); len(codes) == 0 || len(denied) == 0 || codes[len(codes)-1] == denied[0] {
		t.Errorf("after the denial the codes were %v (denied %v), want a new one", codes, denied)
	}
}

// Scenario 5.
func TestSecondClusterAndNamespaceConflict(t *testing.T) {
	w := newWorld(t, clusterName, enrollOnly)
	w.enroll("edge", w.ns)
	// A second instance of the journey's own: the bootstrap's tests, which may run at the
	// same time in another package, leave credential Secrets on theirs ("test-b").
	b := clustertest.GetNamed(t, "e2e-b")
	uidB := clustertest.KubeSystemUID(t, b)
	if uidB == w.uid {
		t.Fatal("the second cluster has the same id")
	}
	// The second cluster, same account, another namespace: a second client.
	w2 := *w
	w2.c, w2.releases = b, nil
	st := *w.stage
	st.Kubeconfig, st.Kube, st.Harness, st.HelmHome = b.Kubeconfig, b.Client, b, t.TempDir()
	w2.stage = &st
	pushOnce(t, w.stage.Root, b)
	nsB := clustertest.Namespace(t, b)
	t.Cleanup(func() { w2.removeCredentials(nsB) })
	w2.prepare(nsB)
	t.Cleanup(w2.uninstallAll)
	w2.snapshotAtEnd(nsB)
	w2.enroll("edge", nsB)
	if clients := w.clients(); len(clients) != 2 {
		t.Fatalf("clients = %d, want 2 (one per cluster)", len(clients))
	}
	// The second cluster again, in the namespace the first cluster's client uses.
	if _, err := st.Helm3(w.ctx(), "uninstall", "edge", "-n", nsB, "--wait"); err != nil {
		t.Fatal(err)
	}
	w2.removeCredentials(nsB)
	nsSame := w.ns
	if _, err := b.Client.CoreV1().Namespaces().Create(context.Background(), namespace(nsSame), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w2.removeCredentials(nsSame)
		_ = b.Client.CoreV1().Namespaces().Delete(context.Background(), nsSame, metav1.DeleteOptions{})
	})
	w2.prepare(nsSame)
	w2.snapshotAtEnd(nsSame)
	// The first cluster's client is live (a client that is not would be taken for the
	// client of a rebuilt cluster, which the bootstrap waits for a person to remove).
	for _, c := range w.clients() {
		if c.ClusterID != nil && *c.ClusterID == w.uid {
			w.devRequest(http.MethodPost, fmt.Sprintf("/_dev/clients/%d/heartbeat", c.ID), `{"status":1}`).Body.Close()
		}
	}
	ctx := w.ctx()
	w2.install(ctx, "edge", nsSame)
	f := w2.follow(ctx, "edge", nsSame, "dev@example.com", false)
	code, err := st.BootstrapExit(ctx, "edge", nsSame)
	if err != nil {
		t.Fatal(err)
	}
	logs := f.waitFor(nsSame + "-2")
	if code != 4 || !strings.Contains(logs, nsSame+"-2") {
		t.Errorf("exit %d, logs:\n%s\nwant exit 4 suggesting %s-2", code, logs, nsSame)
	}
}

// helm4Env is the environment of Helm 4 with the post-renderer plugin: its own homes, the
// post-renderer on PATH, and the post-renderer's flags as its variables (the form that
// needs no --post-renderer-args on every command; Helm 4 passes those to a plugin too).
func (w *world) helm4Env(home string) []string {
	env := append(os.Environ(), "KUBECONFIG="+w.c.Kubeconfig,
		"HELM_DATA_HOME="+filepath.Join(home, "data"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"PATH="+filepath.Dir(artifacts.PostRender)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TRACEBLOC_POSTRENDER_KUBECONFIG="+w.c.Kubeconfig)
	if w.stage.Images != "" {
		env = append(env, "TRACEBLOC_POSTRENDER_IMAGES="+w.stage.Images)
	}
	return env
}

// Scenario 9: Helm 4 with the plugin installs the client chart, upgrades it and installs it again
// after an uninstall as Helm 3 does: one code, then none, and the same credential throughout.
func TestHelm4Plugin(t *testing.T) {
	w := newWorld(t, clusterName, withClient)
	helm4 := clustertest.Tool(t, "helm4")
	ctx := w.ctx()
	env := w.helm4Env(t.TempDir())
	run := func(args ...string) string {
		t.Helper()
		out, err := command(ctx, env, helm4, args...)
		_, _ = w.stage.Output.Write([]byte(out))
		if err != nil {
			t.Fatalf("helm4 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	run("plugin", "install", filepath.Join(w.stage.Root, "postrender", "plugin"))
	since := time.Now()
	w.releases = append(w.releases, installed{"edge", w.ns})
	args := []string{"install", "edge", w.stage.ChartDir(), "-n", w.ns, "--post-renderer", "tracebloc"}
	run(append(args, w.stage.Values(w.ns)...)...)
	f := w.follow(ctx, "edge", w.ns, "dev@example.com", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f.String())
	}
	dep, err := w.c.Client.AppsV1().Deployments(w.ns).Get(ctx, "edge-jobs-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Labels[names.ClusterIDLabel] != w.uid || dep.Spec.Template.Labels[names.ClusterIDLabel] != w.uid {
		t.Errorf("the Helm 4 install lacks the cluster label: %v / %v", dep.Labels, dep.Spec.Template.Labels)
	}
	if n := len(w.clients()); n != 1 {
		t.Errorf("clients = %d, want 1", n)
	}
	w.waitOnline(ctx, w.ns, "edge", since)
	before, _ := w.secretKeys(w.ns, "edge")

	// Upgrade through the plugin: no code, the same credential.
	pod, err := w.stage.PodOf(ctx, "edge", w.ns)
	if err != nil {
		t.Fatal(err)
	}
	upgrade := []string{"upgrade", "edge", w.stage.ChartDir(), "-n", w.ns, "--post-renderer", "tracebloc", "--set", "newClient.location=DE"}
	run(append(upgrade, w.stage.Values(w.ns)...)...)
	f2 := w.followRun(ctx, "edge", w.ns, "", false, 0)
	if _, err := w.stage.WaitReplaced(ctx, "edge", w.ns, pod.Name); err != nil {
		t.Fatalf("%v\n%s", err, f2.String())
	}
	// Uninstall and install again through the plugin: adopted, no code.
	run("uninstall", "edge", "-n", w.ns, "--wait")
	since = time.Now()
	run(append(args, w.stage.Values(w.ns)...)...)
	f3 := w.follow(ctx, "edge", w.ns, "", false)
	if _, err := w.stage.WaitRunning(ctx, "edge", w.ns); err != nil {
		t.Fatalf("%v\n%s", err, f3.String())
	}
	if codes := append(f2.Codes(), f3.Codes()...); len(codes) != 0 || len(w.clients()) != 1 {
		t.Errorf("Helm 4 upgrade and re-install: codes %v, clients %d; want no code and one client", codes, len(w.clients()))
	}
	after, _ := w.assertCredential(w.ns, "edge", "minted")
	if string(after["CLIENT_ID"]) != string(before["CLIENT_ID"]) || string(after["CLIENT_PASSWORD"]) != string(before["CLIENT_PASSWORD"]) {
		t.Errorf("the Helm 4 upgrade or re-install changed the credential (client %s -> %s)", before["CLIENT_ID"], after["CLIENT_ID"])
	}
	w.waitOnline(ctx, w.ns, "edge", since)
}

// TestInstallWithoutPostRendererFails: with the client chart, an install that forgets the
// post-renderer fails before anything is applied, and the error names the fix (Helm 3
// and Helm 4).
func TestInstallWithoutPostRendererFails(t *testing.T) {
	w := newWorld(t, clusterName, withClient)
	ctx := w.ctx()
	args := append([]string{"install", "edge", w.stage.ChartDir(), "-n", w.ns}, w.stage.Values(w.ns)...)
	out3, err3 := w.stage.Helm3(ctx, args...)
	out4, err4 := command(ctx, w.helm4Env(t.TempDir()), clustertest.Tool(t, "helm4"), args...)
	for _, r := range []struct {
		helm, out string
		err       error
	}{{"helm", out3, err3}, {"helm4", out4, err4}} {
		if r.err == nil {
			w.releases = append(w.releases, installed{"edge", w.ns})
			t.Errorf("%s install without the post-renderer succeeded:\n%s", r.helm, r.out)
			continue
		}
		for _, want := range []string{names.WiringKind, "install-with-post-renderer-tracebloc-postrender"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("%s install without the post-renderer: the error lacks %q:\n%s", r.helm, want, r.out)
			}
		}
	}
	deps, _ := w.c.Client.AppsV1().Deployments(w.ns).List(ctx, metav1.ListOptions{})
	secrets, _ := w.c.Client.CoreV1().Secrets(w.ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if len(deps.Items)+len(secrets.Items) != 0 {
		t.Errorf("the failed installs left %d Deployments and %d releases", len(deps.Items), len(secrets.Items))
	}
}
