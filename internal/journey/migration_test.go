package journey_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/chartdeps"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/journey"
)

// Scenario: a plain tracebloc/client release, installed the way a person did before the
// edge (a client created in the dashboard, its id and password in the values), is taken
// over by `helm upgrade <release> tracebloc/edge --set migrateFrom.release=<release>`:
// the same client, its claims kept, its credential out of the client chart's Secret.
func TestMigrationFromAPlainClientRelease(t *testing.T) {
	t.Run("helm 3", func(t *testing.T) { migrate(t, false) })
	t.Run("helm 4 with the plugin", func(t *testing.T) { migrate(t, true) })
}

func migrate(t *testing.T, helm4 bool) {
	w := newWorld(t, clusterName, withClient)
	ctx := w.ctx()
	const release, password = "old", "legacy-password-0123456789"
	legacy := w.legacyClient(ctx, password)
	since := time.Now()
	w.installPlainClient(ctx, release, legacy.Username, password)
	list := func(context.Context) ([]api.EdgeDevice, error) { return w.backend.Clients() }
	if _, err := journey.WaitOnline(ctx, list, legacy.Username, since); err != nil {
		t.Fatalf("the plain client release: %v\npods: %s", err, w.podStates(ctx, w.ns))
	}
	// Revision 1 holds the password in its values: gone before the secrets scan's snapshot
	// (cleanups run last-in, first-out) even when the test stops early.
	t.Cleanup(func() {
		_ = w.c.Client.CoreV1().Secrets(w.ns).Delete(context.Background(), "sh.helm.release.v1."+release+".v1", metav1.DeleteOptions{})
	})
	claims := w.claimUIDs(ctx)
	if len(claims) == 0 {
		t.Fatal("the plain client release made no PersistentVolumeClaims")
	}
	upgraded := time.Now()
	w.upgradeToEdge(ctx, release, helm4, "--reset-values", "--set", "migrateFrom.release="+release)
	f := w.follow(ctx, release, w.ns, "dev@example.com", false)
	if _, err := w.stage.WaitRunning(ctx, release, w.ns); err != nil {
		t.Fatalf("%v\nbootstrap logs:\n%s", err, f.String())
	}
	w.assertMigrated(ctx, release, legacy.Username, password, claims, upgraded)
	// Revision 1 of the release holds the password in its values (the client chart took
	// it so): what the README tells a person to do once the migration is checked.
	if err := w.c.Client.CoreV1().Secrets(w.ns).Delete(ctx, "sh.helm.release.v1."+release+".v1", metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete revision 1 of the release (it holds the password in its values): %v", err)
	}
}

// upgradeToEdge upgrades release to the edge chart with the post-renderer: Helm 3 with
// the binary, or Helm 4 with the plugin (whose flags are its variables).
func (w *world) upgradeToEdge(ctx context.Context, release string, helm4 bool, extra ...string) {
	w.t.Helper()
	if !helm4 {
		if _, err := w.stage.Helm3(ctx, w.stage.InstallArgs("upgrade", release, w.ns, extra...)...); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	bin := clustertest.Tool(w.t, "helm4")
	env := w.helm4Env(w.t.TempDir())
	for _, args := range [][]string{
		{"plugin", "install", filepath.Join(w.stage.Root, "postrender", "plugin")},
		append(append([]string{"upgrade", release, w.stage.ChartDir(), "-n", w.ns, "--post-renderer", "tracebloc"}, w.stage.Values(w.ns)...), extra...),
	} {
		out, err := command(ctx, env, bin, args...)
		_, _ = w.stage.Output.Write([]byte(out))
		if err != nil {
			w.t.Fatalf("helm4 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// installPlainClient installs the tracebloc/client chart on its own, without the
// post-renderer, with the credential in its values.
func (w *world) installPlainClient(ctx context.Context, release, id, password string) {
	w.t.Helper()
	dir, ok := chartdeps.ClientSource(repoRoot(w.t))
	if !ok {
		w.t.Skip("needs the tracebloc/client chart beside the repository; a plain clone has none")
	}
	w.releases = append(w.releases, installed{release, w.ns})
	args := append([]string{"install", release, dir, "-n", w.ns, "--set-string", "clientId=" + id, "--set-string", "clientPassword=" + password}, w.stage.ClientChartValues(w.ns)...)
	if _, err := w.stage.Helm3(ctx, args...); err != nil {
		w.t.Fatal(err)
	}
}

// claimUIDs maps each PersistentVolumeClaim of the world's namespace to its UID.
func (w *world) claimUIDs(ctx context.Context) map[string]string {
	w.t.Helper()
	pvcs, err := w.c.Client.CoreV1().PersistentVolumeClaims(w.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	uids := map[string]string{}
	for _, p := range pvcs.Items {
		uids[p.Name] = string(p.UID)
	}
	return uids
}

// assertMigrated checks the takeover: one client, the legacy one, anchored to this
// cluster; the edge credential Secret holds its credential; the wired pods run with it and
// the client is online again; the claims are the same objects; the client chart's Secret
// no longer holds the credential.
func (w *world) assertMigrated(ctx context.Context, release, id, password string, claims map[string]string, since time.Time) {
	t := w.t
	t.Helper()
	clients := w.clients()
	if len(clients) != 1 || clients[0].Username != id || clients[0].ClusterID == nil || *clients[0].ClusterID != w.uid {
		t.Fatalf("clients = %+v, want the one client %s anchored to %s (no second client minted)", clients, id, w.uid)
	}
	data, _ := w.assertCredential(w.ns, release, "migrated")
	if string(data["CLIENT_ID"]) != id || string(data["CLIENT_PASSWORD"]) != password {
		t.Errorf("the credential Secret %s-credentials does not hold the legacy client %s and its password", release, id)
	}
	w.assertWired(ctx, w.ns, release, id)
	w.waitOnline(ctx, w.ns, release, since)
	w.assertWorkloadsLoggedIn(ctx, w.ns, release)
	if got := w.claimUIDs(ctx); !sameUIDs(claims, got) {
		t.Errorf("PersistentVolumeClaims after the upgrade = %v, want the same objects as before: %v", got, claims)
	}
	s, err := w.c.Client.CoreV1().Secrets(w.ns).Get(ctx, release+"-secrets", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the client chart's Secret %s-secrets: %v", release, err)
	}
	for _, k := range []string{"CLIENT_ID", "CLIENT_PASSWORD"} {
		if _, ok := s.Data[k]; ok {
			t.Errorf("%s-secrets still holds %s after the upgrade", release, k)
		}
	}
	// The hook's copy held the credential a second time: the bootstrap deleted it once the
	// credential Secret held the client (the jobs-manager started after that).
	if _, err := w.c.Client.CoreV1().Secrets(w.ns).Get(ctx, release+"-legacy-credentials", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the legacy copy %s-legacy-credentials after the migration: %v, want it deleted", release, err)
	}
}

func sameUIDs(want, got map[string]string) bool {
	if len(want) != len(got) {
		return false
	}
	for name, uid := range want {
		if got[name] != uid {
			return false
		}
	}
	return true
}
