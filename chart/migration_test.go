package chart_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/ptr"
)

// migrationHook is the migration hook's objects of one render.
type migrationHook struct {
	sa      *corev1.ServiceAccount
	role    *rbacv1.Role
	binding *rbacv1.RoleBinding
	job     *batchv1.Job
}

func migrationHookOf(r *rendered) migrationHook {
	var h migrationHook
	for _, o := range r.objects {
		switch x := o.(type) {
		case *corev1.ServiceAccount:
			if x.Name == "edge-migrate" {
				h.sa = x
			}
		case *rbacv1.Role:
			if x.Name == "edge-migrate" {
				h.role = x
			}
		case *rbacv1.RoleBinding:
			if x.Name == "edge-migrate" {
				h.binding = x
			}
		case *batchv1.Job:
			if x.Name == "edge-migrate" {
				h.job = x
			}
		}
	}
	return h
}

// TestMigrationHook: with migrateFrom.release the chart copies that release's credential
// before Helm applies the upgrade that strips it: a pre-install,pre-upgrade Job running
// copy-legacy as its own ServiceAccount, whose RBAC exists before it (lower weight) and
// reaches exactly the three Secrets it reads.
func TestMigrationHook(t *testing.T) {
	for _, tt := range []struct{ name, values string }{
		{"no migration", ""},
		{"legacySecret wins: read as it is, no hook", "migrateFrom: {release: old}\nlegacySecret: {name: kept}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if h := migrationHookOf(render(t, tt.values)); h != (migrationHook{}) {
				t.Errorf("rendered a migration hook object: %+v", h)
			}
		})
	}
	for _, values := range []string{"migrateFrom: {release: old}\n", disabled + "migrateFrom: {release: old}\n"} {
		t.Run(values, func(t *testing.T) { checkMigrationHook(t, migrationHookOf(render(t, values))) })
	}
}

func checkMigrationHook(t *testing.T, h migrationHook) {
	t.Helper()
	if h.sa == nil || h.role == nil || h.binding == nil || h.job == nil {
		t.Fatalf("migration hook ServiceAccount %v, Role %v, RoleBinding %v, Job %v: want all four", h.sa != nil, h.role != nil, h.binding != nil, h.job != nil)
	}
	hook := func(weight string) map[string]string {
		return map[string]string{"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": weight, "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}
	}
	for what, got := range map[string]map[string]string{"ServiceAccount": h.sa.Annotations, "Role": h.role.Annotations, "RoleBinding": h.binding.Annotations} {
		if diff := cmp.Diff(hook("-10"), got); diff != "" {
			t.Errorf("%s annotations (-want +got):\n%s", what, diff)
		}
	}
	if diff := cmp.Diff(hook("0"), h.job.Annotations); diff != "" {
		t.Errorf("Job annotations (-want +got):\n%s", diff)
	}
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"old-secrets", "edge-credentials", "edge-legacy-credentials"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
	}
	if diff := cmp.Diff(wantRules, h.role.Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]rbacv1.Subject{{Kind: "ServiceAccount", Name: "edge-migrate", Namespace: namespace}}, h.binding.Subjects); diff != "" {
		t.Errorf("RoleBinding subjects (-want +got):\n%s", diff)
	}
	if h.binding.RoleRef.Name != "edge-migrate" {
		t.Errorf("RoleBinding roleRef %q, want edge-migrate", h.binding.RoleRef.Name)
	}
	if ptr.Deref(h.job.Spec.BackoffLimit, -1) != 2 || ptr.Deref(h.job.Spec.ActiveDeadlineSeconds, -1) != 300 {
		t.Errorf("Job backoffLimit %v activeDeadlineSeconds %v, want 2 and 300", h.job.Spec.BackoffLimit, h.job.Spec.ActiveDeadlineSeconds)
	}
	spec := h.job.Spec.Template.Spec
	if spec.ServiceAccountName != "edge-migrate" || spec.RestartPolicy != corev1.RestartPolicyNever || len(spec.Containers) != 1 {
		t.Fatalf("Job pod serviceAccountName %q restartPolicy %q, %d containers; want edge-migrate, Never, 1", spec.ServiceAccountName, spec.RestartPolicy, len(spec.Containers))
	}
	c := spec.Containers[0]
	if diff := cmp.Diff([]string{"copy-legacy"}, c.Args); diff != "" {
		t.Errorf("Job args (-want +got):\n%s", diff)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for k, v := range map[string]string{"TRACEBLOC_LEGACY_SOURCE": "old-secrets", "TRACEBLOC_LEGACY_SECRET": "edge-legacy-credentials", "TRACEBLOC_CREDENTIAL_SECRET": "edge-credentials"} {
		if env[k] != v {
			t.Errorf("Job env %s = %q, want %q", k, env[k], v)
		}
	}
	if c.Resources.Requests.Memory().IsZero() {
		t.Error("Job container has no memory request")
	}
}
