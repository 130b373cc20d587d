package chart_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/tracebloc/edge/bootstrap/credential"
	"github.com/tracebloc/edge/internal/names"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current chart")

// disabled is the value set without the client chart: the enrollment Deployment.
const disabled = "client: {enabled: false}\n"

// valueCases are the edge cases every structural test renders, besides the defaults.
func valueCases() []struct{ name, values string } {
	return []struct{ name, values string }{
		{"default", ``},
		{"client disabled", disabled},
		{"client disabled, host network", disabled + "hostNetwork: true\nruntimeClassName: tracebloc-loopback\n"},
		{"enroll token", "enrollToken: {secretName: fleet-token, key: token}\n"},
		{"legacy secret", "legacySecret: {name: tracebloc-client}\n"},
		{"migrate from", "migrateFrom: {release: tracebloc}\n"},
		{"no resource monitor", "client: {resourceMonitor: false}\n"},
		{"node agents in the release namespace", "client: {nodeAgents: {namespace: {name: " + namespace + "}}}\n"},
		{"CA from ConfigMap", "backend: {caBundle: {configMapName: corp-ca, key: bundle.pem}}\n"},
		{"CA from Secret", "backend: {caBundle: {secretName: corp-ca}}\n"},
		{"proxy", "client: {env: {HTTP_PROXY_HOST: proxy.corp, HTTP_PROXY_PORT: '3128', NO_PROXY: '10.0.0.0/8,.svc'}}\n"},
		{"cluster id", "clusterId: " + clusterID + "\n"},
		{"global cluster id", "global: {clusterId: " + clusterID + "}\n"},
		{"image registry", "global: {imageRegistry: 'mirror.corp:5000'}\n"},
		{"digest pin", "bootstrap: {image: {digest: 'sha256:" + strings.Repeat("ab", 32) + "'}}\n"},
		{"offboarding", "offboarding: {revokeOnUninstall: true}\n"},
		{"backend url", "backend: {url: 'http://127.0.0.1:8080', env: dev}\n"},
		{"everything", `
clusterId: ` + clusterID + `
fullnameOverride: tb
credentialSecret: {name: tb-machine}
legacySecret: {name: old-client}
enrollToken: {secretName: fleet-token}
newClient: {name: lab-01, location: DE}
backend: {env: stg, caBundle: {secretName: corp-ca}}
client: {env: {HTTP_PROXY_HOST: proxy, HTTP_PROXY_PORT: '3128'}, nodeAgents: {namespace: {name: tb-agents}}}
bootstrap:
  logFormat: json
  logLevel: debug
  qr: true
  verifyCredential: true
  extraEnv: [{name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}]
tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoSchedule}]
nodeSelector: {kubernetes.io/os: linux}
podAnnotations: {example.com/a: "1"}
podLabels: {team: ml}
offboarding: {revokeOnUninstall: true}
`},
		{"everything, client disabled", disabled + `
fullnameOverride: tb
credentialSecret: {name: tb-machine}
migrateFrom: {release: old}
hostNetwork: true
podLabels: {team: ml}
offboarding: {revokeOnUninstall: true}
`},
	}
}

// TestRBAC: the bootstrap's Role, ClusterRole and their bindings, bound to the
// ServiceAccount its pod runs as, and the Role for the copy in the node-agents namespace.
func TestRBAC(t *testing.T) {
	creds := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}}
	leaseCreate := rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}}
	events := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}}
	secret := func(name string, verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{name}, Verbs: verbs}
	}
	lease := func(name string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{name}, Verbs: []string{"get", "update"}}
	}
	copyRules := func(name string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{creds, secret(name, "get", "update", "patch")}
	}
	tests := []struct {
		name, values   string
		role, sa, crn  string
		rules          []rbacv1.PolicyRule
		nodeAgents     string // "": no Role there
		nodeAgentRules []rbacv1.PolicyRule
	}{
		{
			name: "default: the jobs-manager's ServiceAccount", role: "edge-bootstrap", sa: "edge-jobs-manager", crn: "edge-bootstrap-tracebloc",
			rules:      []rbacv1.PolicyRule{creds, secret("edge-credentials", "get", "update"), leaseCreate, lease("edge-credentials-lock"), events},
			nodeAgents: "tracebloc-node-agents", nodeAgentRules: copyRules("edge-credentials"),
		},
		{
			name: "client disabled: the enrollment's ServiceAccount", values: disabled, role: "edge-bootstrap", sa: "edge-enrollment", crn: "edge-bootstrap-tracebloc",
			rules: []rbacv1.PolicyRule{creds, secret("edge-credentials", "get", "update"), leaseCreate, lease("edge-credentials-lock"), events},
		},
		{
			name: "legacy secret readable, not writable", values: "legacySecret: {name: tracebloc-client}\nclient: {resourceMonitor: false}\n",
			role: "edge-bootstrap", sa: "edge-jobs-manager", crn: "edge-bootstrap-tracebloc",
			rules: []rbacv1.PolicyRule{creds, secret("edge-credentials", "get", "update"), secret("tracebloc-client", "get"), leaseCreate, lease("edge-credentials-lock"), events},
		},
		{
			name: "migrate from a client release", values: "migrateFrom: {release: tracebloc}\nclient: {nodeAgents: {namespace: {name: agents}}}\n",
			role: "edge-bootstrap", sa: "edge-jobs-manager", crn: "edge-bootstrap-tracebloc",
			rules:      []rbacv1.PolicyRule{creds, secret("edge-credentials", "get", "update"), secret("edge-legacy-credentials", "get", "delete"), leaseCreate, lease("edge-credentials-lock"), events},
			nodeAgents: "agents", nodeAgentRules: copyRules("edge-credentials"),
		},
		{
			name: "named credential secret: the client chart names its ServiceAccount after the release", values: "credentialSecret: {name: machine}\nfullnameOverride: tb\n",
			role: "tb-bootstrap", sa: "edge-jobs-manager", crn: "tb-bootstrap-tracebloc",
			rules:      []rbacv1.PolicyRule{creds, secret("machine", "get", "update"), leaseCreate, lease("machine-lock"), events},
			nodeAgents: "tracebloc-node-agents", nodeAgentRules: copyRules("machine"),
		},
		{
			name: "node agents in the release namespace: no copy", values: "client: {nodeAgents: {namespace: {name: " + namespace + "}}}\n",
			role: "edge-bootstrap", sa: "edge-jobs-manager", crn: "edge-bootstrap-tracebloc",
			rules: []rbacv1.PolicyRule{creds, secret("edge-credentials", "get", "update"), leaseCreate, lease("edge-credentials-lock"), events},
		},
	}
	wantClusterRules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{"kube-system"}, Verbs: []string{"get"}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := rbacOf(render(t, tt.values))
			wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: tt.sa, Namespace: namespace}}
			wantNS := []string{namespace}
			if tt.nodeAgents != "" {
				wantNS = append(wantNS, tt.nodeAgents)
			}
			if len(g.roles) != len(wantNS) || len(g.bindings) != len(wantNS) || len(g.clusterRoles) != 1 || len(g.clusterBindings) != 1 {
				t.Fatalf("rendered %d Roles, %d RoleBindings, %d ClusterRoles, %d ClusterRoleBindings; want %d, %d, 1, 1 (nothing more)",
					len(g.roles), len(g.bindings), len(g.clusterRoles), len(g.clusterBindings), len(wantNS), len(wantNS))
			}
			for i, ns := range wantNS {
				role, binding := g.roles[i], g.bindings[i]
				want := tt.rules
				if ns != namespace {
					want = tt.nodeAgentRules
				}
				if role.Namespace != ns || role.Name != tt.role || binding.Namespace != ns || binding.Name != tt.role {
					t.Errorf("Role %s/%s, RoleBinding %s/%s; want both %s/%s", role.Namespace, role.Name, binding.Namespace, binding.Name, ns, tt.role)
				}
				if diff := cmp.Diff(want, role.Rules); diff != "" {
					t.Errorf("Role %s/%s rules (-want +got):\n%s", ns, role.Name, diff)
				}
				if diff := cmp.Diff(wantSubjects, binding.Subjects); diff != "" {
					t.Errorf("RoleBinding %s/%s subjects (-want +got):\n%s", ns, binding.Name, diff)
				}
				if diff := cmp.Diff(rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: tt.role}, binding.RoleRef); diff != "" {
					t.Errorf("RoleBinding roleRef (-want +got):\n%s", diff)
				}
			}
			if g.clusterRoles[0].Name != tt.crn {
				t.Errorf("ClusterRole name = %q, want %q", g.clusterRoles[0].Name, tt.crn)
			}
			if diff := cmp.Diff(wantClusterRules, g.clusterRoles[0].Rules); diff != "" {
				t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantSubjects, g.clusterBindings[0].Subjects); diff != "" {
				t.Errorf("ClusterRoleBinding subjects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: tt.crn}, g.clusterBindings[0].RoleRef); diff != "" {
				t.Errorf("ClusterRoleBinding roleRef (-want +got):\n%s", diff)
			}
		})
	}
}

// rbacObjects are the bootstrap's RBAC objects of one render, Roles and RoleBindings in
// render order (the release namespace's first); the migration hook's are not among them.
type rbacObjects struct {
	roles           []*rbacv1.Role
	bindings        []*rbacv1.RoleBinding
	clusterRoles    []*rbacv1.ClusterRole
	clusterBindings []*rbacv1.ClusterRoleBinding
}

func rbacOf(r *rendered) rbacObjects {
	var g rbacObjects
	for _, o := range r.objects {
		if m, ok := o.(metav1.Object); ok && m.GetAnnotations()["helm.sh/hook"] != "" {
			continue
		}
		switch x := o.(type) {
		case *rbacv1.Role:
			g.roles = append(g.roles, x)
		case *rbacv1.RoleBinding:
			g.bindings = append(g.bindings, x)
		case *rbacv1.ClusterRole:
			g.clusterRoles = append(g.clusterRoles, x)
		case *rbacv1.ClusterRoleBinding:
			g.clusterBindings = append(g.clusterBindings, x)
		}
	}
	return g
}

// TestServiceAccounts: every pod of the chart runs as the bootstrap's ServiceAccount; the
// chart renders one only without the client chart (whose jobs-manager's it is otherwise).
func TestServiceAccounts(t *testing.T) {
	tests := []struct {
		name, values string
		sa           string
		rendered     bool
	}{
		{name: "client enabled", values: "offboarding: {revokeOnUninstall: true}\n", sa: "edge-jobs-manager"},
		{name: "client disabled", values: disabled + "offboarding: {revokeOnUninstall: true}\n", sa: "edge-enrollment", rendered: true},
		{name: "client disabled, full name override", values: disabled + "fullnameOverride: tb\n", sa: "tb-enrollment", rendered: true},
		{name: "client enabled, full name override", values: "fullnameOverride: tb\n", sa: "edge-jobs-manager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, tt.values)
			var sas []*corev1.ServiceAccount
			for _, o := range r.objects {
				if x, ok := o.(*corev1.ServiceAccount); ok {
					sas = append(sas, x)
				}
			}
			switch {
			case tt.rendered && (len(sas) != 1 || sas[0].Name != tt.sa || ptr.Deref(sas[0].AutomountServiceAccountToken, true)):
				t.Errorf("ServiceAccounts %+v, want one, %s, with automountServiceAccountToken false", sas, tt.sa)
			case !tt.rendered && len(sas) != 0:
				t.Errorf("rendered %d ServiceAccounts, want none (the client chart renders %s)", len(sas), tt.sa)
			}
			for _, p := range r.pods() {
				if p.spec.ServiceAccountName != tt.sa {
					t.Errorf("%s: serviceAccountName %q, want %q", p.name, p.spec.ServiceAccountName, tt.sa)
				}
			}
		})
	}
}

// TestSecurityContexts checks every container of every pod the chart can start, and the
// bootstrap init container it hands to the post-renderer.
func TestSecurityContexts(t *testing.T) {
	for _, vc := range valueCases() {
		t.Run(vc.name, func(t *testing.T) {
			r := render(t, vc.values)
			pods := r.pods()
			if len(pods) < 1 || len(r.bootstrapPods()) < 2 {
				t.Fatalf("found %d pod specs, want the helm test and the enrollment or the wiring at least", len(r.bootstrapPods()))
			}
			for _, p := range pods {
				if got := ptr.Deref(p.spec.AutomountServiceAccountToken, true); got {
					t.Errorf("%s: automountServiceAccountToken = true, want false", p.name)
				}
				psc := p.spec.SecurityContext
				if psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod securityContext = %+v, want runAsNonRoot and seccomp RuntimeDefault", p.name, psc)
				}
			}
			for _, p := range r.bootstrapPods() {
				for _, c := range allContainers(p.spec) {
					checkContainerSecurity(t, p.name+"/"+c.Name, c)
				}
			}
		})
	}
}

func checkContainerSecurity(t *testing.T, what string, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", what)
		return
	}
	if !ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) {
		t.Errorf("%s: runAsNonRoot %v, allowPrivilegeEscalation %v; want true, false", what, sc.RunAsNonRoot, sc.AllowPrivilegeEscalation)
	}
	if sc.Capabilities == nil || !cmp.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities %+v, want drop [ALL] and nothing added", what, sc.Capabilities)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile %+v, want RuntimeDefault", what, sc.SeccompProfile)
	}
	if !runsBootstrap(c) {
		t.Errorf("%s: image %s; every container of the chart runs the bootstrap image", what, c.Image)
	}
	if ptr.Deref(sc.RunAsUser, 0) != 65532 || ptr.Deref(sc.RunAsGroup, 0) != 65532 || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
		t.Errorf("%s: runAsUser %v runAsGroup %v readOnlyRootFilesystem %v; want 65532, 65532, true",
			what, sc.RunAsUser, sc.RunAsGroup, sc.ReadOnlyRootFilesystem)
	}
}

// TestEnrollment: without the client chart, a Deployment <release>-enrollment runs the
// bootstrap as its init container and holds the pod with the same image; nothing for
// the post-renderer is rendered. With it, the reverse.
func TestEnrollment(t *testing.T) {
	r := render(t, disabled)
	if r.wiring != nil {
		t.Errorf("client disabled: the %s object is rendered", names.WiringKind)
	}
	d := r.deployment(t)
	spec := d.Spec.Template.Spec
	if d.Name != "edge-enrollment" || ptr.Deref(d.Spec.Replicas, 0) != 1 {
		t.Errorf("Deployment %s with %v replicas, want edge-enrollment with 1", d.Name, d.Spec.Replicas)
	}
	if len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != "bootstrap" {
		t.Fatalf("init containers %+v, want the bootstrap alone", spec.InitContainers)
	}
	if len(spec.Containers) != 1 || !isHold(spec.Containers[0]) || !runsBootstrap(spec.Containers[0]) {
		t.Fatalf("containers %+v, want hold (the bootstrap image, args [hold])", spec.Containers)
	}
	if hold := spec.Containers[0]; len(hold.Env) != 0 || len(hold.VolumeMounts) != 0 {
		t.Errorf("hold container: env %v, mounts %v; want neither (no token, no credential)", hold.Env, hold.VolumeMounts)
	}
	enabled := render(t, "")
	if enabled.wiring == nil {
		t.Errorf("client enabled: no %s object", names.WiringKind)
	}
	for _, o := range enabled.objects {
		if m, kind := meta(t, o); kind == "Deployment" {
			t.Errorf("client enabled: Deployment %s rendered, want none (the client chart's jobs-manager runs the bootstrap)", m.GetName())
		}
	}
}

// TestWiring: the object the post-renderer consumes names the release, the client chart
// version it wires, the credential Secret and the node-agents namespace, and carries the
// whole bootstrap init container, the same as the enrollment Deployment's but for the
// token (the jobs-manager pod mounts its own ServiceAccount's into every container).
func TestWiring(t *testing.T) {
	tests := []struct {
		name, values, ns                string
		secret, nodeAgents, migrateFrom string
	}{
		{name: "default", ns: namespace, secret: "edge-credentials", nodeAgents: "tracebloc-node-agents"},
		{name: "another namespace", ns: "lab", secret: "edge-credentials", nodeAgents: "tracebloc-node-agents"},
		{name: "no resource monitor", ns: namespace, values: "client: {resourceMonitor: false}\n", secret: "edge-credentials"},
		{name: "node agents in the release namespace", ns: "agents", values: "client: {nodeAgents: {namespace: {name: agents}}}\n", secret: "edge-credentials"},
		{
			name: "named secret, migration", ns: namespace, values: "credentialSecret: {name: machine}\nmigrateFrom: {release: tracebloc}\nfullnameOverride: tb\n",
			secret: "machine", nodeAgents: "tracebloc-node-agents", migrateFrom: "tracebloc",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := renderValuesIn(t, tt.ns, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			w := decode(t, out).wiring
			if w == nil {
				t.Fatalf("no %s object", names.WiringKind)
			}
			if want := "edge-install-with-post-renderer-tracebloc-postrender"; w.Metadata.Name != want || w.Metadata.Namespace != tt.ns {
				t.Errorf("wiring object %s/%s, want %s/%s", w.Metadata.Namespace, w.Metadata.Name, tt.ns, want)
			}
			if w.Metadata.Labels["tracebloc.io/release-namespace"] != tt.ns {
				t.Errorf("wiring labels %v, want tracebloc.io/release-namespace=%s", w.Metadata.Labels, tt.ns)
			}
			got := []string{w.Spec.Release, w.Spec.ClientChart, w.Spec.CredentialSecret, w.Spec.NodeAgentsNamespace, w.Spec.MigrateFrom}
			want := []string{release, "client-" + names.ClientChartVersion, tt.secret, tt.nodeAgents, tt.migrateFrom}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("spec release, clientChart, credentialSecret, nodeAgentsNamespace, migrateFrom (-want +got):\n%s", diff)
			}
			out, err = renderValuesIn(t, tt.ns, clientOff(t, tt.values))
			if err != nil {
				t.Fatal(err)
			}
			own := decode(t, out).deployment(t).Spec.Template.Spec
			wantInit := own.InitContainers[0]
			wantInit.VolumeMounts = slicesDelete(wantInit.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "kube-api-access" })
			// Without the client there are no node agents to keep a copy for.
			for i := range wantInit.Env {
				if wantInit.Env[i].Name == "TRACEBLOC_NODE_AGENTS_NAMESPACE" {
					wantInit.Env[i].Value = tt.nodeAgents
				}
			}
			if diff := cmp.Diff(wantInit, w.Spec.InitContainer); diff != "" {
				t.Errorf("spec.initContainer differs from the enrollment's bootstrap, token mount aside (-enrollment +wiring):\n%s", diff)
			}
			wantVolumes := slicesDelete(own.Volumes, func(v corev1.Volume) bool { return v.Name == "kube-api-access" })
			if diff := cmp.Diff(wantVolumes, w.Spec.Volumes); diff != "" {
				t.Errorf("spec.volumes differ from the enrollment's, token aside (-enrollment +wiring):\n%s", diff)
			}
		})
	}
}

func slicesDelete[T any](s []T, del func(T) bool) []T {
	var out []T
	for _, x := range s {
		if !del(x) {
			out = append(out, x)
		}
	}
	return out
}

// TestTokenOnlyInBootstrap: in the chart's own pods the projected token reaches the
// container that runs the bootstrap, and no other; the wiring's init container mounts no
// token of its own (the jobs-manager pod's is there already).
func TestTokenOnlyInBootstrap(t *testing.T) {
	wantVolume := corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o444),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3600)}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
	wantMount := corev1.VolumeMount{Name: "kube-api-access", MountPath: saMount, ReadOnly: true}
	for _, vc := range valueCases() {
		t.Run(vc.name, func(t *testing.T) {
			r := render(t, vc.values)
			for _, p := range r.pods() {
				var vol *corev1.Volume
				for i := range p.spec.Volumes {
					if p.spec.Volumes[i].Name == "kube-api-access" {
						vol = &p.spec.Volumes[i]
					}
				}
				if vol == nil {
					t.Fatalf("%s: no kube-api-access volume", p.name)
				}
				if diff := cmp.Diff(wantVolume, *vol); diff != "" {
					t.Errorf("%s: token volume (-want +got):\n%s", p.name, diff)
				}
				var holders int
				for _, c := range allContainers(p.spec) {
					got := tokenMounts(c)
					switch {
					case isHold(c) && len(got) > 0:
						t.Errorf("%s/%s: the hold container mounts the token: %+v", p.name, c.Name, got)
					case !isHold(c):
						holders++
						if diff := cmp.Diff([]corev1.VolumeMount{wantMount}, got); diff != "" {
							t.Errorf("%s/%s: token mount (-want +got):\n%s", p.name, c.Name, diff)
						}
					}
				}
				if holders != 1 {
					t.Errorf("%s: %d containers run the bootstrap with its token, want 1", p.name, holders)
				}
			}
			if w := r.wiring; w != nil {
				if got := tokenMounts(w.Spec.InitContainer); len(got) > 0 {
					t.Errorf("wiring init container mounts %+v, want no token mount", got)
				}
				for _, v := range w.Spec.Volumes {
					if v.Projected != nil || v.Secret != nil && strings.Contains(v.Secret.SecretName, "token") {
						t.Errorf("wiring volume %s brings a token, want none", v.Name)
					}
				}
			}
		})
	}
}

func tokenMounts(c corev1.Container) []corev1.VolumeMount {
	var got []corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if m.Name == "kube-api-access" || m.MountPath == saMount {
			got = append(got, m)
		}
	}
	return got
}

// TestBootstrapEnv: the bootstrap's whole environment, per value set, in every container
// that runs it (the wiring's init container, the enrollment's, the hooks'). The variables
// are bootstrap/config's.
func TestBootstrapEnv(t *testing.T) {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	val := func(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }
	downward := []corev1.EnvVar{
		field("TRACEBLOC_NAMESPACE", "metadata.namespace"),
		field("TRACEBLOC_POD_NAME", "metadata.name"),
		field("TRACEBLOC_POD_UID", "metadata.uid"),
		field("TRACEBLOC_EXPECTED_CLUSTER_ID", "metadata.labels['tracebloc.io/cluster-id']"),
		val("TRACEBLOC_RELEASE", release),
	}
	secretEnv := func(secret, nodeAgents string) []corev1.EnvVar {
		return []corev1.EnvVar{val("TRACEBLOC_CREDENTIAL_SECRET", secret), val("TRACEBLOC_NODE_AGENTS_NAMESPACE", nodeAgents)}
	}
	std := secretEnv("edge-credentials", "tracebloc-node-agents")
	tail := func(format, level, qr, verify string) []corev1.EnvVar {
		return []corev1.EnvVar{
			val("TRACEBLOC_LOG_FORMAT", format), val("TRACEBLOC_LOG_LEVEL", level), val("TRACEBLOC_QR", qr),
			val("TRACEBLOC_VERIFY_CREDENTIAL", verify), val("TRACEBLOC_RESET_WINDOW", "10m"),
			val("TRACEBLOC_LEASE_DURATION", "15s"), val("TRACEBLOC_HTTP_TIMEOUT", "30s"),
			val("TRACEBLOC_CHART_VERSION", "0.1.0"),
		}
	}
	join := func(parts ...[]corev1.EnvVar) []corev1.EnvVar {
		var all []corev1.EnvVar
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	prod := []corev1.EnvVar{val("TRACEBLOC_ENV", "prod")}
	defaults := tail("console", "info", "false", "false")
	tests := []struct {
		name   string
		values string
		want   []corev1.EnvVar
		source string // TRACEBLOC_LEGACY_SOURCE of the migration hook; "": no hook
	}{
		{name: "default", want: join(downward, std, prod, defaults)},
		{name: "client disabled: no node agents", values: disabled, want: join(downward, secretEnv("edge-credentials", ""), prod, defaults)},
		{name: "no resource monitor", values: "client: {resourceMonitor: false}\n", want: join(downward, secretEnv("edge-credentials", ""), prod, defaults)},
		{name: "node agents elsewhere", values: "client: {nodeAgents: {namespace: {name: agents}}}\n", want: join(downward, secretEnv("edge-credentials", "agents"), prod, defaults)},
		{name: "node agents in the release namespace", values: "client: {nodeAgents: {namespace: {name: " + namespace + "}}}\n", want: join(downward, secretEnv("edge-credentials", ""), prod, defaults)},
		{
			name: "backend url wins over env", values: "backend: {url: 'http://127.0.0.1:8080', env: dev}\n",
			want: join(downward, std, []corev1.EnvVar{val("TRACEBLOC_API_URL", "http://127.0.0.1:8080")}, defaults),
		},
		{
			name: "enroll token from the operator's Secret", values: "enrollToken: {secretName: fleet-token, key: tok}\n",
			want: join(downward, std, prod, []corev1.EnvVar{
				{Name: "TRACEBLOC_ENROLL_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "fleet-token"}, Key: "tok"}}},
			}, defaults),
		},
		{
			name: "migrate from a client release: the hook's copy, and the hook reads the release's Secret", values: "migrateFrom: {release: tracebloc}\n",
			want: join(downward, std, prod, []corev1.EnvVar{val("TRACEBLOC_LEGACY_SECRET", "edge-legacy-credentials")}, defaults), source: "tracebloc-secrets",
		},
		{
			name: "legacy secret wins over migrateFrom", values: "migrateFrom: {release: tracebloc}\nlegacySecret: {name: kept}\n",
			want: join(downward, std, prod, []corev1.EnvVar{val("TRACEBLOC_LEGACY_SECRET", "kept")}, defaults),
		},
		{
			name: "CA from a ConfigMap", values: "backend: {caBundle: {configMapName: corp-ca, key: bundle.pem}}\n",
			want: join(downward, std, prod, []corev1.EnvVar{val("TRACEBLOC_CA_FILE", "/etc/tracebloc/ca/bundle.pem")}, defaults),
		},
		{
			name: "the client chart's proxy", values: "client: {env: {HTTP_PROXY_HOST: p, HTTP_PROXY_PORT: '3128', NO_PROXY: '.svc'}}\n",
			want: join(downward, std, prod, defaults, []corev1.EnvVar{val("HTTPS_PROXY", "http://p:3128"), val("HTTP_PROXY", "http://p:3128"), val("NO_PROXY", clusterNoProxy)}),
		},
		{
			name: "verification hosts", values: "backend: {verificationHosts: [login.example.com, sso.example.org]}\n",
			want: join(downward, std, prod, []corev1.EnvVar{val("TRACEBLOC_VERIFICATION_HOSTS", "login.example.com,sso.example.org")}, defaults),
		},
		{
			name: "every value",
			values: `
credentialSecret: {name: machine}
legacySecret: {name: old-client}
newClient: {name: "lab 01", location: DE}
backend: {env: stg, caBundle: {secretName: corp-ca}}
bootstrap:
  logFormat: json
  logLevel: debug
  qr: true
  verifyCredential: true
  resetWindow: 1h
  leaseDuration: 5s
  httpTimeout: 1m30s
  extraEnv:
  - {name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}
  - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: s, key: k}}}
`,
			want: join(downward, secretEnv("machine", "tracebloc-node-agents"), []corev1.EnvVar{
				val("TRACEBLOC_ENV", "stg"),
				val("TRACEBLOC_LEGACY_SECRET", "old-client"), val("TRACEBLOC_CLIENT_NAME", "lab 01"), val("TRACEBLOC_LOCATION", "DE"),
				val("TRACEBLOC_CA_FILE", "/etc/tracebloc/ca/ca.crt"),
				val("TRACEBLOC_LOG_FORMAT", "json"), val("TRACEBLOC_LOG_LEVEL", "debug"), val("TRACEBLOC_QR", "true"),
				val("TRACEBLOC_VERIFY_CREDENTIAL", "true"), val("TRACEBLOC_RESET_WINDOW", "1h"),
				val("TRACEBLOC_LEASE_DURATION", "5s"), val("TRACEBLOC_HTTP_TIMEOUT", "1m30s"),
				val("TRACEBLOC_CHART_VERSION", "0.1.0"),
				val("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
				{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var checked int
			for _, p := range render(t, tt.values+"offboarding: {revokeOnUninstall: true}\n").bootstrapPods() {
				for _, c := range allContainers(p.spec) {
					if !runsBootstrap(c) || isHold(c) {
						continue
					}
					checked++
					want := tt.want
					if c.Name == "copy-legacy" {
						want = append(slices.Clone(want), val("TRACEBLOC_LEGACY_SOURCE", tt.source))
					}
					hasCA := slices.ContainsFunc(want, func(e corev1.EnvVar) bool { return e.Name == "TRACEBLOC_CA_FILE" })
					if strings.HasPrefix(p.name, "wiring/") && hasCA { // the jobs-manager pod: the client's CA bundle
						want = append(slices.Clone(want), val("TRACEBLOC_TRUST_FILE", "/etc/tracebloc/trust/ca-certificates.crt"))
					}
					if diff := cmp.Diff(want, c.Env); diff != "" {
						t.Errorf("%s/%s env (-want +got):\n%s", p.name, c.Name, diff)
					}
				}
			}
			want := 3
			if tt.source != "" {
				want++
			}
			if checked != want {
				t.Errorf("checked %d containers, want %d: the bootstrap (wiring or enrollment), the helm test, the revoke hook (and the migration hook)", checked, want)
			}
		})
	}
}

// TestCABundle: the bundle is mounted read-only where TRACEBLOC_CA_FILE points, from the
// ConfigMap or the Secret the values name, in every pod that runs the bootstrap.
func TestCABundle(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   corev1.VolumeSource
	}{
		{
			name: "ConfigMap", values: "backend: {caBundle: {configMapName: corp-ca, key: bundle.pem}}\n",
			want: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "corp-ca"}, Items: []corev1.KeyToPath{{Key: "bundle.pem", Path: "bundle.pem"}}}},
		},
		{
			name: "Secret", values: "backend: {caBundle: {secretName: corp-ca}}\n",
			want: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "corp-ca", Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
		},
		{
			name: "Secret, client disabled", values: "backend: {caBundle: {secretName: corp-ca}}\n" + disabled,
			want: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "corp-ca", Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range render(t, tt.values+"offboarding: {revokeOnUninstall: true}\n").bootstrapPods() {
				var got *corev1.VolumeSource
				for _, v := range p.spec.Volumes {
					if v.Name == "bootstrap-ca-bundle" {
						got = &v.VolumeSource
					}
				}
				if got == nil {
					t.Fatalf("%s: no bootstrap-ca-bundle volume", p.name)
				}
				if diff := cmp.Diff(tt.want, *got); diff != "" {
					t.Errorf("%s: bootstrap-ca-bundle volume (-want +got):\n%s", p.name, diff)
				}
				for _, c := range allContainers(p.spec) {
					if isHold(c) {
						continue
					}
					var mounted bool
					for _, m := range c.VolumeMounts {
						mounted = mounted || (m.Name == "bootstrap-ca-bundle" && m.MountPath == "/etc/tracebloc/ca" && m.ReadOnly)
					}
					if !mounted {
						t.Errorf("%s/%s: bootstrap-ca-bundle not mounted read-only at /etc/tracebloc/ca: %+v", p.name, c.Name, c.VolumeMounts)
					}
					checkTrust(t, p, c)
				}
			}
			r := render(t, tt.values)
			if r.wiring == nil {
				return
			}
			tr := r.wiring.Spec.Trust
			if tr == nil || tr.Volume != "bootstrap-trust" || tr.MountPath != "/etc/tracebloc/trust" || tr.File != "ca-certificates.crt" {
				t.Errorf("wiring spec.trust = %+v, want bootstrap-trust at /etc/tracebloc/trust, file ca-certificates.crt", tr)
			}
		})
	}
	if r := render(t, ""); r.wiring != nil && r.wiring.Spec.Trust != nil {
		t.Errorf("without backend.caBundle the wiring object has spec.trust %+v", r.wiring.Spec.Trust)
	}
}

// checkTrust: the bootstrap in the jobs-manager pod (the wiring object's) writes the CA
// bundle of the client's containers into the bootstrap-trust emptyDir; the chart's own
// pods (enrollment, hooks) do not.
func checkTrust(t *testing.T, p podSpec, c corev1.Container) {
	t.Helper()
	inJobsManager := strings.HasPrefix(p.name, "wiring/")
	var file string
	for _, e := range c.Env {
		if e.Name == "TRACEBLOC_TRUST_FILE" {
			file = e.Value
		}
	}
	var mounted, volume bool
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == "bootstrap-trust" && m.MountPath == "/etc/tracebloc/trust" && !m.ReadOnly)
	}
	for _, v := range p.spec.Volumes {
		volume = volume || (v.Name == "bootstrap-trust" && v.EmptyDir != nil)
	}
	switch {
	case inJobsManager && (file != "/etc/tracebloc/trust/ca-certificates.crt" || !mounted || !volume):
		t.Errorf("%s/%s: TRACEBLOC_TRUST_FILE = %q, trust volume mounted writable %v, emptyDir %v; want the file in the bootstrap-trust emptyDir", p.name, c.Name, file, mounted, volume)
	case !inJobsManager && (file != "" || mounted):
		t.Errorf("%s/%s: TRACEBLOC_TRUST_FILE = %q, trust volume mounted %v; want neither outside the jobs-manager pod", p.name, c.Name, file, mounted)
	}
}

func TestBootstrapImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name   string
		values string
		want   string
		policy corev1.PullPolicy
	}{
		{name: "appVersion", want: "ghcr.io/tracebloc/edge-bootstrap:0.1.0", policy: corev1.PullIfNotPresent},
		{name: "tag", values: "bootstrap: {image: {tag: v0.0.0, pullPolicy: Never}}\n", want: "ghcr.io/tracebloc/edge-bootstrap:v0.0.0", policy: corev1.PullNever},
		{name: "digest wins", values: "bootstrap: {image: {tag: v9, digest: '" + digest + "'}}\n", want: "ghcr.io/tracebloc/edge-bootstrap@" + digest, policy: corev1.PullIfNotPresent},
		{name: "registry mirror", values: "global: {imageRegistry: 'mirror.corp:5000'}\n", want: "mirror.corp:5000/tracebloc/edge-bootstrap:0.1.0", policy: corev1.PullIfNotPresent},
		{
			name: "registry mirror, repository without a host", values: "global: {imageRegistry: mirror.corp}\nbootstrap: {image: {repository: tracebloc/edge-bootstrap, digest: '" + digest + "'}}\n",
			want: "mirror.corp/tracebloc/edge-bootstrap@" + digest, policy: corev1.PullIfNotPresent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, values := range []string{tt.values, clientOff(t, tt.values)} {
				var checked int
				for _, p := range render(t, values+"offboarding: {revokeOnUninstall: true}\n").bootstrapPods() {
					for _, c := range allContainers(p.spec) {
						checked++
						if c.Image != tt.want || c.ImagePullPolicy != tt.policy {
							t.Errorf("%s/%s: image %s (%s), want %s (%s)", p.name, c.Name, c.Image, c.ImagePullPolicy, tt.want, tt.policy)
						}
					}
				}
				if checked < 3 {
					t.Errorf("checked %d containers, want 3 at least", checked)
				}
			}
		})
	}
}

// TestPlacement: hostNetwork brings its DNS policy; scheduling values reach every pod.
func TestPlacement(t *testing.T) {
	r := render(t, disabled+`
hostNetwork: true
runtimeClassName: tracebloc-loopback
priorityClassName: high
imagePullSecrets: [{name: regcred}]
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: a, operator: Exists}]}]}}}
offboarding: {revokeOnUninstall: true}
`)
	pods := r.pods()
	if len(pods) != 3 {
		t.Fatalf("found %d pod specs, want the enrollment, the test and the revoke Job", len(pods))
	}
	for _, p := range pods {
		s := p.spec
		if !s.HostNetwork || s.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("%s: hostNetwork %v dnsPolicy %q, want true and ClusterFirstWithHostNet", p.name, s.HostNetwork, s.DNSPolicy)
		}
		if ptr.Deref(s.RuntimeClassName, "") != "tracebloc-loopback" || s.PriorityClassName != "high" {
			t.Errorf("%s: runtimeClassName %v priorityClassName %q", p.name, s.RuntimeClassName, s.PriorityClassName)
		}
		if diff := cmp.Diff([]corev1.LocalObjectReference{{Name: "regcred"}}, s.ImagePullSecrets); diff != "" {
			t.Errorf("%s: imagePullSecrets (-want +got):\n%s", p.name, diff)
		}
		if diff := cmp.Diff(map[string]string{"kubernetes.io/os": "linux"}, s.NodeSelector); diff != "" {
			t.Errorf("%s: nodeSelector (-want +got):\n%s", p.name, diff)
		}
		if diff := cmp.Diff([]corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, s.Tolerations); diff != "" {
			t.Errorf("%s: tolerations (-want +got):\n%s", p.name, diff)
		}
		if s.Affinity == nil || s.Affinity.NodeAffinity == nil {
			t.Errorf("%s: no node affinity", p.name)
		}
	}
	def := render(t, disabled).deployment(t).Spec.Template.Spec
	if def.HostNetwork || def.DNSPolicy != "" || def.RuntimeClassName != nil {
		t.Errorf("default: hostNetwork %v dnsPolicy %q runtimeClassName %v; want false, unset, unset", def.HostNetwork, def.DNSPolicy, def.RuntimeClassName)
	}
}

// TestNamespaceAndLabels: every namespaced object is in the release namespace, cluster-scoped
// ones have none; every object carries the recommended labels, and the cluster-id label
// exactly when a cluster id is set.
func TestNamespaceAndLabels(t *testing.T) {
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true}
	for _, vc := range valueCases() {
		t.Run(vc.name, func(t *testing.T) {
			r := render(t, vc.values)
			withID := strings.Contains(vc.values, clusterID)
			name := "edge"
			if strings.Contains(vc.values, "fullnameOverride") {
				name = "tb"
			}
			nodeAgents := map[string]bool{}
			for _, e := range envOf(r) {
				if e.Name == "TRACEBLOC_NODE_AGENTS_NAMESPACE" && e.Value != "" {
					nodeAgents[e.Value] = true
				}
			}
			for _, o := range r.objects {
				m, kind := meta(t, o)
				scoped := clusterScoped[kind]
				copyRBAC := (kind == "Role" || kind == "RoleBinding") && nodeAgents[m.GetNamespace()]
				if scoped && m.GetNamespace() != "" {
					t.Errorf("%s %s: namespace %q on a cluster-scoped object", kind, m.GetName(), m.GetNamespace())
				}
				if !scoped && !copyRBAC && m.GetNamespace() != namespace {
					t.Errorf("%s %s: namespace %q, want %q", kind, m.GetName(), m.GetNamespace(), namespace)
				}
				checkLabels(t, kind+" "+m.GetName(), m.GetLabels(), withID)
				if !strings.HasPrefix(m.GetName(), name) {
					t.Errorf("%s %s: name does not start with the release's name %q", kind, m.GetName(), name)
				}
			}
			for _, p := range r.pods() {
				checkLabels(t, p.name+" pod template", p.meta.Labels, withID)
			}
			if w := r.wiring; w != nil {
				checkLabels(t, "the wiring object", w.Metadata.Labels, withID)
				if w.Metadata.Namespace != namespace {
					t.Errorf("the wiring object: namespace %q, want %q", w.Metadata.Namespace, namespace)
				}
				return
			}
			sel := r.deployment(t).Spec.Selector.MatchLabels
			want := map[string]string{"app.kubernetes.io/name": "edge", "app.kubernetes.io/instance": release, "app.kubernetes.io/component": "enrollment"}
			if diff := cmp.Diff(want, sel); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
		})
	}
}

// envOf returns the environment of the bootstrap containers of r.
func envOf(r *rendered) []corev1.EnvVar {
	var env []corev1.EnvVar
	for _, p := range r.bootstrapPods() {
		for _, c := range allContainers(p.spec) {
			env = append(env, c.Env...)
		}
	}
	return env
}

func checkLabels(t *testing.T, what string, labels map[string]string, withID bool) {
	t.Helper()
	for _, k := range []string{
		"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
		"app.kubernetes.io/managed-by", "app.kubernetes.io/component", "app.kubernetes.io/part-of", "helm.sh/chart",
	} {
		if labels[k] == "" {
			t.Errorf("%s: no label %s", what, k)
		}
	}
	got, ok := labels["tracebloc.io/cluster-id"]
	switch {
	case withID && got != clusterID:
		t.Errorf("%s: tracebloc.io/cluster-id = %q, want %q", what, got, clusterID)
	case !withID && ok:
		t.Errorf("%s: tracebloc.io/cluster-id = %q without a cluster id in the values", what, got)
	}
}

// TestHooks: the helm test checks the credential; the revoke hook is opt-in.
func TestHooks(t *testing.T) {
	tests := []struct {
		name   string
		values string
		revoke bool
		sa     string
	}{
		{name: "default: no revoke hook", sa: "edge-jobs-manager"},
		{name: "offboarding on", values: "offboarding: {revokeOnUninstall: true}\n", revoke: true, sa: "edge-jobs-manager"},
		{name: "client disabled, offboarding on", values: disabled + "offboarding: {revokeOnUninstall: true}\n", revoke: true, sa: "edge-enrollment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, tt.values)
			var test *corev1.Pod
			var job *batchv1.Job
			for _, o := range r.objects {
				switch x := o.(type) {
				case *corev1.Pod:
					test = x
				case *batchv1.Job:
					job = x
				}
			}
			if test == nil {
				t.Fatal("no helm test Pod")
			}
			if diff := cmp.Diff(map[string]string{"helm.sh/hook": "test", "helm.sh/hook-delete-policy": "before-hook-creation"}, test.Annotations); diff != "" {
				t.Errorf("test Pod annotations (-want +got):\n%s", diff)
			}
			if test.Spec.RestartPolicy != corev1.RestartPolicyNever || test.Spec.ServiceAccountName != tt.sa {
				t.Errorf("test Pod restartPolicy %q serviceAccountName %q, want Never, %s", test.Spec.RestartPolicy, test.Spec.ServiceAccountName, tt.sa)
			}
			if diff := cmp.Diff([]string{"check"}, test.Spec.Containers[0].Args); diff != "" {
				t.Errorf("test Pod args (-want +got):\n%s", diff)
			}
			if (job != nil) != tt.revoke {
				t.Fatalf("revoke Job rendered = %v, want %v", job != nil, tt.revoke)
			}
			if job == nil {
				return
			}
			want := map[string]string{"helm.sh/hook": "pre-delete", "helm.sh/hook-weight": "0", "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}
			if diff := cmp.Diff(want, job.Annotations); diff != "" {
				t.Errorf("revoke Job annotations (-want +got):\n%s", diff)
			}
			spec := job.Spec.Template.Spec
			if diff := cmp.Diff([]string{"revoke"}, spec.Containers[0].Args); diff != "" {
				t.Errorf("revoke Job args (-want +got):\n%s", diff)
			}
			if spec.RestartPolicy != corev1.RestartPolicyNever || spec.ServiceAccountName != tt.sa || ptr.Deref(job.Spec.BackoffLimit, -1) != 2 {
				t.Errorf("revoke Job restartPolicy %q serviceAccountName %q backoffLimit %v", spec.RestartPolicy, spec.ServiceAccountName, job.Spec.BackoffLimit)
			}
		})
	}
}

// TestCredentialSecretNotRendered: the bootstrap creates the credential Secret, so that
// `helm uninstall` leaves it. The chart must never render it.
func TestCredentialSecretNotRendered(t *testing.T) {
	for _, vc := range valueCases() {
		t.Run(vc.name, func(t *testing.T) {
			for _, o := range render(t, vc.values).objects {
				if s, ok := o.(*corev1.Secret); ok && s.Type != corev1.SecretTypeServiceAccountToken {
					t.Errorf("the chart renders Secret %s (type %s); only the bootstrap writes Secrets", s.Name, s.Type)
				}
			}
		})
	}
}

func TestNotes(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		want    []string
		notWant []string
	}{
		{
			name: "default",
			want: []string{
				"kubectl logs -n tracebloc deploy/edge-jobs-manager -c bootstrap -f\n",
				"grep -A 12 'TRACEBLOC ACTIVATION'",
				"kubectl get secret edge-credentials -n tracebloc -o jsonpath='{.data}'",
				"helm test edge -n tracebloc",
				"tracebloc-postrender gitops prints them",
				"helm upgrade edge oci://ghcr.io/tracebloc/charts/edge -n tracebloc --reset-then-reuse-values --post-renderer tracebloc-postrender\n",
				"never with the client chart's auto-upgrade",
				"with the tracebloc client\n(client-1.9.62)",
			},
			notWant: []string{"enrollment token", "revokes", "client.enabled=false", "set clusterId"},
		},
		{
			name:    "client disabled: the enrollment Deployment",
			values:  disabled,
			want:    []string{"kubectl logs -n tracebloc deploy/edge-enrollment -c bootstrap -f\n", "client.enabled=false: the bootstrap enrolls this cluster", "kubectl get deploy/edge-enrollment -n tracebloc", "Installed without it (GitOps), set clusterId"},
			notWant: []string{"jobs-manager"},
		},
		{
			name:    "cluster id set: no warning; the client chart ignores fullnameOverride",
			values:  "clusterId: " + clusterID + "\nfullnameOverride: tb\ncredentialSecret: {name: machine}\n",
			want:    []string{"kubectl logs -n tracebloc deploy/edge-jobs-manager -c bootstrap -f\n", "kubectl get secret machine -n tracebloc"},
			notWant: []string{"Installed without it (GitOps)"},
		},
		{
			name:    "migration",
			values:  "migrateFrom: {release: tracebloc}\n",
			want:    []string{"The client of release tracebloc is adopted: a hook copied the\n   credential of tracebloc-secrets into edge-legacy-credentials", "Approve the\n   code once"},
			notWant: []string{"no code is shown"},
		},
		{
			name:   "enroll token and offboarding",
			values: "enrollToken: {secretName: fleet}\noffboarding: {revokeOnUninstall: true}\n",
			want:   []string{"An enrollment token from Secret fleet is configured: no code is shown", "revokes the\nmachine credential"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notes := render(t, tt.values).notes
			for _, w := range tt.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, notes)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(notes, w) {
					t.Errorf("NOTES contain %q:\n%s", w, notes)
				}
			}
		})
	}
}

// TestGolden compares the default render (the edge chart's own objects; the client
// chart's are not in this render) with testdata/default.golden.yaml, and the one without
// the client chart with testdata/enrollment.golden.yaml
// (go test ./chart -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	for _, tt := range []struct{ file, values string }{
		{"default.golden.yaml", ""},
		{"enrollment.golden.yaml", disabled},
	} {
		t.Run(tt.file, func(t *testing.T) {
			r := render(t, tt.values)
			got := r.yaml + "---\n# NOTES.txt\n" + commentOut(r.notes)
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("render differs from %s (-want +got), run with -update if intended:\n%s", path, diff)
			}
		})
	}
}

func commentOut(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	return b.String()
}

// clusterNoProxy is the NO_PROXY of the bootstrap when a proxy is set and
// client.env.NO_PROXY adds nothing: the cluster's service domains, the API server's
// names, and loopback.
const clusterNoProxy = ".svc,.svc.cluster.local,kubernetes.default.svc,kubernetes.default,127.0.0.1,localhost"

// TestNoProxy: with the client chart's proxy set (client.env.HTTP_PROXY_HOST), every
// container that runs the bootstrap gets the proxy URL as that chart builds it and a
// NO_PROXY that keeps the cluster's own traffic off the proxy, followed by
// client.env.NO_PROXY's entries; without a proxy host no container gets any of them.
func TestNoProxy(t *testing.T) {
	tests := []struct {
		name    string
		values  string
		url     string
		noProxy string // "": no proxy variable at all
	}{
		{name: "no proxy"},
		{name: "NO_PROXY alone sets no proxy", values: "client: {env: {NO_PROXY: '10.96.0.0/12'}}\n"},
		{name: "host", values: "client: {env: {HTTP_PROXY_HOST: p}}\n", url: "http://p", noProxy: clusterNoProxy},
		{name: "host and port", values: "client: {env: {HTTP_PROXY_HOST: p, HTTP_PROXY_PORT: '3128'}}\n", url: "http://p:3128", noProxy: clusterNoProxy},
		{
			name: "with a user", values: "client: {env: {HTTP_PROXY_HOST: p, HTTP_PROXY_PORT: '3128', HTTP_PROXY_USERNAME: u, HTTP_PROXY_PASSWORD: pw}}\n",
			url: "http://u:pw@p:3128", noProxy: clusterNoProxy,
		},
		{
			name:    "additions trimmed, empty and repeated entries dropped",
			values:  "client: {env: {HTTP_PROXY_HOST: p, NO_PROXY: ' 10.96.0.0/12, .corp.example.com,,.svc,localhost'}}\n",
			url:     "http://p",
			noProxy: clusterNoProxy + ",10.96.0.0/12,.corp.example.com",
		},
		{
			name:    "cluster domain",
			values:  "client: {env: {HTTP_PROXY_HOST: p}}\nclusterDomain: k8s.example\n",
			url:     "http://p",
			noProxy: ".svc,.svc.k8s.example,kubernetes.default.svc,kubernetes.default,127.0.0.1,localhost",
		},
	}
	proxyVars := map[string]bool{"HTTPS_PROXY": true, "HTTP_PROXY": true, "NO_PROXY": true, "https_proxy": true, "http_proxy": true, "no_proxy": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var containers int
			for _, values := range []string{tt.values, clientOff(t, tt.values)} {
				for _, p := range render(t, values+"offboarding: {revokeOnUninstall: true}\n").bootstrapPods() {
					for _, c := range allContainers(p.spec) {
						if isHold(c) {
							continue
						}
						containers++
						got := map[string]string{}
						for _, e := range c.Env {
							if proxyVars[e.Name] {
								got[e.Name] = e.Value
							}
						}
						want := map[string]string{}
						if tt.noProxy != "" {
							want = map[string]string{"HTTPS_PROXY": tt.url, "HTTP_PROXY": tt.url, "NO_PROXY": tt.noProxy}
						}
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("%s/%s: proxy variables (-want +got):\n%s", p.name, c.Name, diff)
						}
					}
				}
			}
			if containers != 6 {
				t.Errorf("checked %d containers, want 6: the bootstrap, the test and the revoke hook, with and without the client", containers)
			}
		})
	}
}

// TestResources: every container and init container of every object the chart renders has
// cpu and memory requests and a memory limit by default, so no pod is BestEffort and none
// can take a node's memory. It finds containers in any object, not only the known pods,
// and checks the wiring's init container too.
func TestResources(t *testing.T) {
	cases := append(valueCases(),
		struct{ name, values string }{"partial override keeps the defaults", "bootstrap: {resources: {limits: {cpu: 500m}}}\n"},
		struct{ name, values string }{"partial override keeps the defaults, client disabled", disabled + "bootstrap: {resources: {limits: {cpu: 500m}}}\n"},
	)
	for _, vc := range cases {
		t.Run(vc.name, func(t *testing.T) {
			values := vc.values
			if !strings.Contains(values, "offboarding") {
				values += "offboarding: {revokeOnUninstall: true}\n"
			}
			r := render(t, values)
			var all []struct {
				what string
				c    corev1.Container
			}
			for _, o := range r.objects {
				m, kind := meta(t, o)
				for _, c := range containersIn(t, o) {
					all = append(all, struct {
						what string
						c    corev1.Container
					}{kind + "/" + m.GetName() + "/" + c.Name, c})
				}
			}
			if r.wiring != nil {
				all = append(all, struct {
					what string
					c    corev1.Container
				}{"wiring/" + r.wiring.Spec.InitContainer.Name, r.wiring.Spec.InitContainer})
			}
			for _, x := range all {
				req, lim := x.c.Resources.Requests, x.c.Resources.Limits
				if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
					t.Errorf("%s: requests cpu %s memory %s, limit memory %s; want all three set", x.what, req.Cpu(), req.Memory(), lim.Memory())
					continue
				}
				if req.Memory().Cmp(*lim.Memory()) > 0 {
					t.Errorf("%s: memory request %s above its limit %s", x.what, req.Memory(), lim.Memory())
				}
			}
			if len(all) < 3 {
				t.Errorf("found %d containers, want the bootstrap, the test and the revoke hook", len(all))
			}
		})
	}
}

// containersIn returns every container, init container and ephemeral container anywhere in
// obj (a pod template at any depth).
func containersIn(t *testing.T, obj runtime.Object) []corev1.Container {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatalf("%T to unstructured: %v", obj, err)
	}
	var out []corev1.Container
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				if list, ok := sub.([]any); ok && (k == "containers" || k == "initContainers" || k == "ephemeralContainers") {
					for _, item := range list {
						var c corev1.Container
						if err := runtime.DefaultUnstructuredConverter.FromUnstructured(item.(map[string]any), &c); err != nil {
							t.Fatalf("%T: %s: %v", obj, k, err)
						}
						out = append(out, c)
					}
					continue
				}
				walk(sub)
			}
		case []any:
			for _, sub := range x {
				walk(sub)
			}
		}
	}
	walk(u)
	return out
}

// TestAdmissionPolicy: the policy and its binding are on by default, named for the
// release and its namespace, match writes of the credential Secret's name by the
// bootstrap's ServiceAccount alone, and hold them to what bootstrap/credential writes: in
// the release namespace the credential's labels, in the node-agents namespace the copy's,
// nowhere else. That the API server enforces them is TestAdmissionPolicyOnCluster's part.
func TestAdmissionPolicy(t *testing.T) {
	tests := []struct {
		name, ns, values     string
		policy, user, secret string // "" policy: none rendered
		nodeAgents           string
	}{
		{
			name: "default", ns: namespace, policy: "edge-bootstrap-secrets-tracebloc", user: "system:serviceaccount:tracebloc:edge-jobs-manager", secret: "edge-credentials",
			nodeAgents: "tracebloc-node-agents",
		},
		{name: "client disabled", ns: namespace, values: disabled, policy: "edge-bootstrap-secrets-tracebloc", user: "system:serviceaccount:tracebloc:edge-enrollment", secret: "edge-credentials"},
		{
			name: "another namespace", ns: "lab", policy: "edge-bootstrap-secrets-lab", user: "system:serviceaccount:lab:edge-jobs-manager", secret: "edge-credentials",
			nodeAgents: "tracebloc-node-agents",
		},
		{
			name: "named release and secret", ns: namespace, values: "fullnameOverride: tb\ncredentialSecret: {name: machine}\nclient: {resourceMonitor: false}\n",
			policy: "tb-bootstrap-secrets-tracebloc", user: "system:serviceaccount:tracebloc:edge-jobs-manager", secret: "machine",
		},
		{name: "off", ns: namespace, values: "admissionPolicy: {enabled: false}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := renderValuesIn(t, tt.ns, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			var policies []*admissionv1.ValidatingAdmissionPolicy
			var bindings []*admissionv1.ValidatingAdmissionPolicyBinding
			for _, o := range decode(t, out).objects {
				switch x := o.(type) {
				case *admissionv1.ValidatingAdmissionPolicy:
					policies = append(policies, x)
				case *admissionv1.ValidatingAdmissionPolicyBinding:
					bindings = append(bindings, x)
				}
			}
			if tt.policy == "" {
				if len(policies)+len(bindings) != 0 {
					t.Fatalf("rendered %d policies and %d bindings with admissionPolicy.enabled=false, want none", len(policies), len(bindings))
				}
				return
			}
			if len(policies) != 1 || len(bindings) != 1 {
				t.Fatalf("rendered %d policies and %d bindings, want one of each", len(policies), len(bindings))
			}
			checkPolicy(t, policies[0], bindings[0], tt.policy, tt.user, tt.secret, tt.ns, tt.nodeAgents)
		})
	}
}

func checkPolicy(t *testing.T, p *admissionv1.ValidatingAdmissionPolicy, b *admissionv1.ValidatingAdmissionPolicyBinding, policy, user, secret, ns, nodeAgents string) {
	t.Helper()
	if p.Name != policy || b.Name != policy {
		t.Errorf("policy %q, binding %q; want both %q", p.Name, b.Name, policy)
	}
	wantBinding := admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy, ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}}
	if diff := cmp.Diff(wantBinding, b.Spec); diff != "" {
		t.Errorf("binding spec (-want +got):\n%s", diff)
	}
	if got := ptr.Deref(p.Spec.FailurePolicy, ""); got != admissionv1.Fail {
		t.Errorf("failurePolicy = %q, want Fail: a policy that cannot be evaluated must refuse", got)
	}
	wantMatch := &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
		Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
		Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
	}}}}
	if diff := cmp.Diff(wantMatch, p.Spec.MatchConstraints); diff != "" {
		t.Errorf("matchConstraints (-want +got):\n%s", diff)
	}
	wantConditions := []admissionv1.MatchCondition{{Name: "bootstrap-service-account", Expression: "request.userInfo.username == '" + user + "'"}}
	ownSA := strings.HasSuffix(user, "-enrollment")
	if !ownSA {
		wantConditions = append(wantConditions, admissionv1.MatchCondition{Name: "credential-secret", Expression: "object.metadata.name == '" + secret + "'"})
	}
	if diff := cmp.Diff(wantConditions, p.Spec.MatchConditions); diff != "" {
		t.Errorf("matchConditions (-want +got):\n%s", diff)
	}
	var rules []string
	for _, v := range p.Spec.Validations {
		rules = append(rules, v.Expression)
		if !strings.Contains(v.Message, "refused by the admission policy "+policy) || ptr.Deref(v.Reason, "") != metav1.StatusReasonForbidden {
			t.Errorf("validation %q: message %q, reason %v; want a Forbidden that names the policy", v.Expression, v.Message, v.Reason)
		}
	}
	all := strings.Join(rules, "\n")
	namespaces := "request.namespace in ['" + ns + "']"
	want := []string{
		"object.type == 'Opaque'",
		"request.namespace != '" + ns + "' || (has(object.metadata.labels) && '" + credential.LabelCredential + "' in object.metadata.labels && object.metadata.labels['" + credential.LabelCredential + "'] == 'true')",
		"object.metadata.labels['" + credential.LabelManagedBy + "'] == 'tracebloc-bootstrap'",
	}
	if nodeAgents != "" {
		namespaces = "request.namespace in ['" + ns + "', '" + nodeAgents + "']"
		want = append(want, "request.namespace != '"+nodeAgents+"' || (has(object.metadata.labels) && '"+names.CredentialCopyLabel+"' in object.metadata.labels && object.metadata.labels['"+names.CredentialCopyLabel+"'] == 'true'")
	} else if strings.Contains(all, names.CredentialCopyLabel) {
		t.Errorf("a validation names %s without a node-agents namespace:\n%s", names.CredentialCopyLabel, all)
	}
	if ownSA {
		want = append(want, "request.operation != 'CREATE' || object.metadata.name == '"+secret+"'")
	}
	for _, w := range append(want, namespaces) {
		if !strings.Contains(all, w) {
			t.Errorf("no validation checks %s; validations:\n%s", w, all)
		}
	}
}

// TestAdmissionPolicyNeedsTheAPI: on a cluster that does not serve the policy API, the
// install stops with what to do instead of a bare "no matches for kind".
func TestAdmissionPolicyNeedsTheAPI(t *testing.T) {
	webhooksOnly := []string{"admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration"}
	tests := []struct {
		name    string
		values  string
		apis    []string
		wantErr string
	}{
		{name: "served", apis: append([]string{"admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"}, webhooksOnly...)},
		{name: "not served", apis: webhooksOnly, wantErr: "set admissionPolicy.enabled=false"},
		{name: "not served, policy off", values: "admissionPolicy: {enabled: false}\n", apis: webhooksOnly},
		{name: "helm template (no discovery)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderWithAPIs(t, namespace, tt.values, tt.apis)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("render: %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("render error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
