package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
	"github.com/tracebloc/edge/internal/names"
)

// wiredStream is the wiring package's client-chart-shaped fixture: a stream with the edge
// chart's wiring object, whose spec.migrateFrom is migrateFrom.
func wiredStream(t *testing.T, migrateFrom string) string {
	t.Helper()
	data, err := os.ReadFile("../../wiring/testdata/client/input.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), `migrateFrom: ""`, fmt.Sprintf("migrateFrom: %q", migrateFrom), 1)
	if migrateFrom != "" && s == string(data) {
		t.Fatal("the fixture has no migrateFrom line to set: fix the test")
	}
	return s
}

func createSecret(t *testing.T, c *cluster.Cluster, ns, name string, labels map[string]string) {
	t.Helper()
	_, err := c.Client.CoreV1().Secrets(ns).Create(ctxFor(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		StringData: map[string]string{"CLIENT_ID": "old-client", "CLIENT_PASSWORD": "never-printed"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// TestClusterGuardReleases runs the guard's tracebloc/client release rule on the local
// cluster: metadata-only lists with the label selectors on a real API server. Other
// packages' Secrets may be named too; the assertions are about this test's namespaces.
func TestClusterGuardReleases(t *testing.T) {
	c := clustertest.Get(t)
	elsewhere := clustertest.Namespace(t, c)
	target := clustertest.Namespace(t, c)
	agents := clustertest.Namespace(t, c)
	client := map[string]string{names.AppNameLabel: names.ClientChartName, names.AppInstanceLabel: "old"}
	createSecret(t, c, target, "old-secrets", client)
	// An edge credential is labelled name=client too, for the tracebloc CLI; of another
	// release's name here, so that only the selector's !credential keeps it out.
	createSecret(t, c, target, "edge-credentials", map[string]string{names.AppNameLabel: names.ClientChartName, names.AppInstanceLabel: "previous-edge", names.CredentialLabel: "true"})
	createSecret(t, c, agents, "edge-credentials", map[string]string{names.CredentialCopyLabel: "true", names.AppInstanceLabel: "edge"})
	clearEnv(t)
	args := []string{"--kubeconfig", c.Kubeconfig, "--namespace", target}

	t.Run("a release in the install's namespace, not taken over", func(t *testing.T) {
		stdout, _, err := runPR(t, wiredStream(t, ""), args...)
		if err == nil {
			t.Fatal("run succeeded, want the guard to stop it")
		}
		for _, want := range []string{fmt.Sprintf("namespace %q runs the tracebloc/client release \"old\" (Secret old-secrets", target), "--set migrateFrom.release=old"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("guard error = %q, want it to contain %q", err, want)
			}
		}
		for _, never := range []string{"never-printed", "old-client", agents, `release "previous-edge"`} {
			if strings.Contains(err.Error(), never) {
				t.Errorf("guard error = %q, want no %q (a Secret's data, the copy or the edge credential)", err, never)
			}
		}
		if stdout != "" {
			t.Errorf("stdout = %q with the error, want nothing", stdout)
		}
	})
	t.Run("taken over with migrateFrom", func(t *testing.T) {
		_, _, err := runPR(t, wiredStream(t, "old"), args...)
		if err != nil && strings.Contains(err.Error(), fmt.Sprintf("namespace %q runs", target)) {
			t.Errorf("run with migrateFrom old = %v, want no refusal about the release in %s", err, target)
		}
	})
	t.Run("a release in another namespace", func(t *testing.T) {
		createSecret(t, c, elsewhere, "far-secrets", map[string]string{names.AppNameLabel: names.ClientChartName, names.AppInstanceLabel: "far"})
		_, _, err := runPR(t, wiredStream(t, "far"), args...)
		want := fmt.Sprintf("helm install ... -n %s --set migrateFrom.release=far", elsewhere)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "own namespace only") {
			t.Errorf("run = %v, want a refusal containing %q and that migrateFrom works in the own namespace only", err, want)
		}
	})
}
