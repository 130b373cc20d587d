package chart_test

import (
	"flag"
	"os"
	"path/filepath"
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
)

var update = flag.Bool("update", false, "rewrite testdata/default.golden.yaml from the current chart")

// valueCases are the edge cases every structural test renders, besides the defaults.
func valueCases() []struct{ name, values string } {
	return []struct{ name, values string }{
		{"default", ``},
		{"host network", "hostNetwork: true\nruntimeClassName: tracebloc-loopback\n"},
		{"enroll token", "enrollToken: {secretName: fleet-token, key: token}\n"},
		{"legacy secret", "legacySecret: {name: tracebloc-client}\n"},
		{"CA from ConfigMap", "backend: {caBundle: {configMapName: corp-ca, key: bundle.pem}}\n"},
		{"CA from Secret", "backend: {caBundle: {secretName: corp-ca}}\n"},
		{"proxy", "proxy: {httpsProxy: 'http://proxy.corp:3128', httpProxy: 'http://proxy.corp:3128', noProxy: '10.0.0.0/8,.svc'}\n"},
		{"cluster id", "clusterId: " + clusterID + "\n"},
		{"global cluster id", "global: {clusterId: " + clusterID + "}\n"},
		{"digest pin", "bootstrap: {image: {digest: 'sha256:" + strings.Repeat("ab", 32) + "'}}\n"},
		{"offboarding", "offboarding: {revokeOnUninstall: true}\n"},
		{"backend url", "backend: {url: 'http://127.0.0.1:8080', env: dev}\n"},
		{"workload rules", "workload: {serviceAccount: {rules: [{apiGroups: [batch], resources: [jobs], verbs: [create, get]}]}}\n"},
		{"everything", `
clusterId: ` + clusterID + `
fullnameOverride: tb
credentialSecret: {name: tb-machine}
legacySecret: {name: old-client}
enrollToken: {secretName: fleet-token}
client: {name: lab-01, location: DE}
backend: {env: stg, caBundle: {secretName: corp-ca}}
proxy: {httpsProxy: 'http://proxy:3128'}
bootstrap:
  logFormat: json
  logLevel: debug
  qr: true
  verifyCredential: true
  extraEnv: [{name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}]
image: {repository: localhost/workload, tag: test, pullPolicy: Never}
workload:
  command: [/workload]
  args: [--serve]
  extraEnv: [{name: MODE, value: test}]
  readOnlyRootFilesystem: false
hostNetwork: true
tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoSchedule}]
nodeSelector: {kubernetes.io/os: linux}
podAnnotations: {example.com/a: "1"}
podLabels: {team: ml}
offboarding: {revokeOnUninstall: true}
`},
	}
}

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
	tests := []struct {
		name      string
		values    string
		sa        string
		role      []rbacv1.PolicyRule
		clusterRN string
	}{
		{
			name: "default", sa: "edge-bootstrap", clusterRN: "edge-bootstrap-tracebloc",
			role: []rbacv1.PolicyRule{creds, secret("edge-credentials", "get", "update"), leaseCreate, lease("edge-credentials-lock"), events},
		},
		{
			name: "legacy secret readable, not writable", values: "legacySecret: {name: tracebloc-client}\n",
			sa: "edge-bootstrap", clusterRN: "edge-bootstrap-tracebloc",
			role: []rbacv1.PolicyRule{creds, secret("edge-credentials", "get", "update"), secret("tracebloc-client", "get"), leaseCreate, lease("edge-credentials-lock"), events},
		},
		{
			name: "named credential secret", values: "credentialSecret: {name: machine}\nfullnameOverride: tb\n",
			sa: "tb-bootstrap", clusterRN: "tb-bootstrap-tracebloc",
			role: []rbacv1.PolicyRule{creds, secret("machine", "get", "update"), leaseCreate, lease("machine-lock"), events},
		},
	}
	wantClusterRules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{"kube-system"}, Verbs: []string{"get"}}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, tt.values)
			var roles []*rbacv1.Role
			var clusterRoles []*rbacv1.ClusterRole
			var bindings []*rbacv1.RoleBinding
			var clusterBindings []*rbacv1.ClusterRoleBinding
			for _, o := range r.objects {
				switch x := o.(type) {
				case *rbacv1.Role:
					roles = append(roles, x)
				case *rbacv1.ClusterRole:
					clusterRoles = append(clusterRoles, x)
				case *rbacv1.RoleBinding:
					bindings = append(bindings, x)
				case *rbacv1.ClusterRoleBinding:
					clusterBindings = append(clusterBindings, x)
				}
			}
			if len(roles) != 1 || len(clusterRoles) != 1 || len(bindings) != 1 || len(clusterBindings) != 1 {
				t.Fatalf("rendered %d Roles, %d ClusterRoles, %d RoleBindings, %d ClusterRoleBindings; want one of each (nothing more)",
					len(roles), len(clusterRoles), len(bindings), len(clusterBindings))
			}
			if roles[0].Name != tt.sa {
				t.Errorf("Role name = %q, want %q", roles[0].Name, tt.sa)
			}
			if diff := cmp.Diff(tt.role, roles[0].Rules); diff != "" {
				t.Errorf("Role rules (-want +got):\n%s", diff)
			}
			if clusterRoles[0].Name != tt.clusterRN {
				t.Errorf("ClusterRole name = %q, want %q", clusterRoles[0].Name, tt.clusterRN)
			}
			if diff := cmp.Diff(wantClusterRules, clusterRoles[0].Rules); diff != "" {
				t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
			}
			wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: tt.sa, Namespace: namespace}}
			if diff := cmp.Diff(wantSubjects, bindings[0].Subjects); diff != "" {
				t.Errorf("RoleBinding subjects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: tt.sa}, bindings[0].RoleRef); diff != "" {
				t.Errorf("RoleBinding roleRef (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantSubjects, clusterBindings[0].Subjects); diff != "" {
				t.Errorf("ClusterRoleBinding subjects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: tt.clusterRN}, clusterBindings[0].RoleRef); diff != "" {
				t.Errorf("ClusterRoleBinding roleRef (-want +got):\n%s", diff)
			}
			if got := r.deployment(t).Spec.Template.Spec.ServiceAccountName; got != tt.sa {
				t.Errorf("pod serviceAccountName = %q, want %q", got, tt.sa)
			}
		})
	}
}

// TestWorkloadServiceAccount: the workload's ServiceAccount is separate and has no token,
// unless values grant it rules of its own.
func TestWorkloadServiceAccount(t *testing.T) {
	tests := []struct {
		name      string
		values    string
		automount bool
		rules     []rbacv1.PolicyRule
		mounted   bool
	}{
		{name: "default: no token", values: ""},
		{name: "automount", values: "workload: {serviceAccount: {automount: true}}\n", automount: true, mounted: true},
		{
			name: "rules", values: "workload: {serviceAccount: {rules: [{apiGroups: [batch], resources: [jobs], verbs: [create, get]}]}}\n", mounted: true,
			rules: []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, tt.values)
			var sa *corev1.ServiceAccount
			var tokenSecret *corev1.Secret
			for _, o := range r.objects {
				switch x := o.(type) {
				case *corev1.ServiceAccount:
					if x.Name == release {
						sa = x
					}
				case *corev1.Secret:
					tokenSecret = x
				}
			}
			if sa == nil {
				t.Fatalf("no ServiceAccount %q for the workload", release)
			}
			if got := ptr.Deref(sa.AutomountServiceAccountToken, true); got != tt.automount {
				t.Errorf("workload ServiceAccount automountServiceAccountToken = %v, want %v", got, tt.automount)
			}
			if (tokenSecret != nil) != tt.mounted {
				t.Fatalf("token Secret rendered = %v, want %v", tokenSecret != nil, tt.mounted)
			}
			if tokenSecret != nil {
				if tokenSecret.Type != corev1.SecretTypeServiceAccountToken || tokenSecret.Annotations[corev1.ServiceAccountNameKey] != release {
					t.Errorf("token Secret type %q for %q, want %q for %q", tokenSecret.Type, tokenSecret.Annotations[corev1.ServiceAccountNameKey], corev1.SecretTypeServiceAccountToken, release)
				}
			}
			if tt.rules != nil {
				role := r.role(t, release)
				if diff := cmp.Diff(tt.rules, role.Rules); diff != "" {
					t.Errorf("workload Role rules (-want +got):\n%s", diff)
				}
			}
			main := container(t, &r.deployment(t).Spec.Template.Spec, "edge")
			var gotMount bool
			for _, m := range main.VolumeMounts {
				if m.MountPath == saMount {
					gotMount = true
					if m.Name != "workload-token" {
						t.Errorf("workload container mounts volume %q at %s, want workload-token", m.Name, saMount)
					}
				}
			}
			if gotMount != tt.mounted {
				t.Errorf("workload container has a token mount = %v, want %v", gotMount, tt.mounted)
			}
		})
	}
}

// TestSecurityContexts checks every container of every pod the chart can start.
func TestSecurityContexts(t *testing.T) {
	for _, vc := range valueCases() {
		t.Run(vc.name, func(t *testing.T) {
			r := render(t, vc.values)
			pods := r.pods()
			if len(pods) < 2 {
				t.Fatalf("found %d pod specs, want the workload and the helm test at least", len(pods))
			}
			for _, p := range pods {
				if got := ptr.Deref(p.spec.AutomountServiceAccountToken, true); got {
					t.Errorf("%s: automountServiceAccountToken = true, want false", p.name)
				}
				psc := p.spec.SecurityContext
				if psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod securityContext = %+v, want runAsNonRoot and seccomp RuntimeDefault", p.name, psc)
				}
				for _, c := range allContainers(p.spec) {
					sc := c.SecurityContext
					if sc == nil {
						t.Errorf("%s/%s: no securityContext", p.name, c.Name)
						continue
					}
					if !ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) {
						t.Errorf("%s/%s: runAsNonRoot %v, allowPrivilegeEscalation %v; want true, false", p.name, c.Name, sc.RunAsNonRoot, sc.AllowPrivilegeEscalation)
					}
					if sc.Capabilities == nil || !cmp.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
						t.Errorf("%s/%s: capabilities %+v, want drop [ALL] and nothing added", p.name, c.Name, sc.Capabilities)
					}
					if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
						t.Errorf("%s/%s: seccompProfile %+v, want RuntimeDefault", p.name, c.Name, sc.SeccompProfile)
					}
					if ptr.Deref(sc.RunAsUser, 0) == 0 {
						t.Errorf("%s/%s: runAsUser %v, want a non-zero user", p.name, c.Name, sc.RunAsUser)
					}
					if runsBootstrap(c) {
						if ptr.Deref(sc.RunAsUser, 0) != 65532 || ptr.Deref(sc.RunAsGroup, 0) != 65532 || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
							t.Errorf("%s/%s: runAsUser %v runAsGroup %v readOnlyRootFilesystem %v; want 65532, 65532, true",
								p.name, c.Name, sc.RunAsUser, sc.RunAsGroup, sc.ReadOnlyRootFilesystem)
						}
					}
				}
			}
		})
	}
}

// TestWorkloadFilesystem: the workload's root filesystem is read-only by default, with a
// writable /tmp; a value turns that off.
func TestWorkloadFilesystem(t *testing.T) {
	tests := []struct {
		name     string
		values   string
		readOnly bool
	}{
		{name: "default", readOnly: true},
		{name: "writable", values: "workload: {readOnlyRootFilesystem: false}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &render(t, tt.values).deployment(t).Spec.Template.Spec
			main := container(t, spec, "edge")
			if got := ptr.Deref(main.SecurityContext.ReadOnlyRootFilesystem, false); got != tt.readOnly {
				t.Errorf("readOnlyRootFilesystem = %v, want %v", got, tt.readOnly)
			}
			var tmp bool
			for _, m := range main.VolumeMounts {
				tmp = tmp || (m.MountPath == "/tmp" && m.Name == "tmp")
			}
			if !tmp {
				t.Errorf("no /tmp mount in %+v", main.VolumeMounts)
			}
		})
	}
}

// TestTokenOnlyInBootstrap: the projected token reaches the containers that run the
// bootstrap image, and no other.
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
			for _, p := range render(t, vc.values).pods() {
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
					var got, bootstrapToken []corev1.VolumeMount
					for _, m := range c.VolumeMounts {
						if m.Name == "kube-api-access" || m.MountPath == saMount {
							got = append(got, m)
						}
						if m.Name == "kube-api-access" {
							bootstrapToken = append(bootstrapToken, m)
						}
					}
					switch {
					case runsBootstrap(c):
						holders++
						if diff := cmp.Diff([]corev1.VolumeMount{wantMount}, got); diff != "" {
							t.Errorf("%s/%s: token mount (-want +got):\n%s", p.name, c.Name, diff)
						}
					case len(bootstrapToken) > 0:
						t.Errorf("%s/%s: the workload container mounts the bootstrap's token: %+v", p.name, c.Name, got)
					}
				}
				if holders != 1 {
					t.Errorf("%s: %d containers run the bootstrap image, want 1", p.name, holders)
				}
			}
		})
	}
}

// TestBootstrapEnv: the bootstrap's whole environment, per value set. The variables are
// bootstrap/config's.
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
	}
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
	defaults := tail("console", "info", "false", "false")
	tests := []struct {
		name   string
		values string
		want   []corev1.EnvVar
	}{
		{
			name: "default",
			want: join(downward, []corev1.EnvVar{val("TRACEBLOC_CREDENTIAL_SECRET", "edge-credentials"), val("TRACEBLOC_ENV", "prod")}, defaults),
		},
		{
			name: "backend url wins over env", values: "backend: {url: 'http://127.0.0.1:8080', env: dev}\n",
			want: join(downward, []corev1.EnvVar{val("TRACEBLOC_CREDENTIAL_SECRET", "edge-credentials"), val("TRACEBLOC_API_URL", "http://127.0.0.1:8080")}, defaults),
		},
		{
			name: "enroll token from the operator's Secret", values: "enrollToken: {secretName: fleet-token, key: tok}\n",
			want: join(downward, []corev1.EnvVar{
				val("TRACEBLOC_CREDENTIAL_SECRET", "edge-credentials"), val("TRACEBLOC_ENV", "prod"),
				{Name: "TRACEBLOC_ENROLL_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "fleet-token"}, Key: "tok"}}},
			}, defaults),
		},
		{
			name: "CA from a ConfigMap", values: "backend: {caBundle: {configMapName: corp-ca, key: bundle.pem}}\n",
			want: join(downward, []corev1.EnvVar{val("TRACEBLOC_CREDENTIAL_SECRET", "edge-credentials"), val("TRACEBLOC_ENV", "prod"), val("TRACEBLOC_CA_FILE", "/etc/tracebloc/ca/bundle.pem")}, defaults),
		},
		{
			name: "proxy", values: "proxy: {httpsProxy: 'http://p:3128', httpProxy: 'http://p:3128', noProxy: '.svc'}\n",
			want: join(downward, []corev1.EnvVar{val("TRACEBLOC_CREDENTIAL_SECRET", "edge-credentials"), val("TRACEBLOC_ENV", "prod")}, defaults,
				[]corev1.EnvVar{val("HTTPS_PROXY", "http://p:3128"), val("HTTP_PROXY", "http://p:3128"), val("NO_PROXY", clusterNoProxy)}),
		},
		{
			name: "verification hosts", values: "backend: {verificationHosts: [login.example.com, sso.example.org]}\n",
			want: join(downward, []corev1.EnvVar{
				val("TRACEBLOC_CREDENTIAL_SECRET", "edge-credentials"), val("TRACEBLOC_ENV", "prod"),
				val("TRACEBLOC_VERIFICATION_HOSTS", "login.example.com,sso.example.org"),
			}, defaults),
		},
		{
			name: "every value",
			values: `
credentialSecret: {name: machine}
legacySecret: {name: old-client}
client: {name: "lab 01", location: DE}
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
			want: join(downward, []corev1.EnvVar{
				val("TRACEBLOC_CREDENTIAL_SECRET", "machine"), val("TRACEBLOC_ENV", "stg"),
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
			r := render(t, tt.values+"offboarding: {revokeOnUninstall: true}\n")
			for _, p := range r.pods() {
				for _, c := range allContainers(p.spec) {
					if !runsBootstrap(c) {
						continue
					}
					if diff := cmp.Diff(tt.want, c.Env); diff != "" {
						t.Errorf("%s/%s env (-want +got):\n%s", p.name, c.Name, diff)
					}
				}
			}
		})
	}
}

// TestCABundle: the bundle is mounted read-only where TRACEBLOC_CA_FILE points, from the
// ConfigMap or the Secret the values name.
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range render(t, tt.values+"offboarding: {revokeOnUninstall: true}\n").pods() {
				var got *corev1.VolumeSource
				for _, v := range p.spec.Volumes {
					if v.Name == "ca-bundle" {
						got = &v.VolumeSource
					}
				}
				if got == nil {
					t.Fatalf("%s: no ca-bundle volume", p.name)
				}
				if diff := cmp.Diff(tt.want, *got); diff != "" {
					t.Errorf("%s: ca-bundle volume (-want +got):\n%s", p.name, diff)
				}
				for _, c := range allContainers(p.spec) {
					if !runsBootstrap(c) {
						continue
					}
					var mounted bool
					for _, m := range c.VolumeMounts {
						mounted = mounted || (m.Name == "ca-bundle" && m.MountPath == "/etc/tracebloc/ca" && m.ReadOnly)
					}
					if !mounted {
						t.Errorf("%s/%s: ca-bundle not mounted read-only at /etc/tracebloc/ca: %+v", p.name, c.Name, c.VolumeMounts)
					}
				}
			}
		})
	}
}

// TestWorkloadContainer: the credential reaches the workload by secretKeyRef only, and its
// image, command and environment follow the values.
func TestWorkloadContainer(t *testing.T) {
	ref := func(name, secret string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: name}}}
	}
	tests := []struct {
		name    string
		values  string
		image   string
		policy  corev1.PullPolicy
		command []string
		args    []string
		env     []corev1.EnvVar
	}{
		{
			name: "default", image: "docker.io/tracebloc/jobs-manager:prod", policy: corev1.PullIfNotPresent,
			env: []corev1.EnvVar{ref("CLIENT_ID", "edge-credentials"), ref("CLIENT_PASSWORD", "edge-credentials")},
		},
		{
			name: "tag follows the backend env", values: "backend: {env: stg}\n", image: "docker.io/tracebloc/jobs-manager:stg", policy: corev1.PullIfNotPresent,
			env: []corev1.EnvVar{ref("CLIENT_ID", "edge-credentials"), ref("CLIENT_PASSWORD", "edge-credentials")},
		},
		{
			name: "test image",
			values: `
credentialSecret: {name: machine}
image: {repository: localhost/workload, tag: test, pullPolicy: Never}
workload: {command: [/workload], args: [--serve], extraEnv: [{name: MODE, value: test}]}
proxy: {httpsProxy: 'http://p:3128'}
`,
			image: "localhost/workload:test", policy: corev1.PullNever, command: []string{"/workload"}, args: []string{"--serve"},
			env: []corev1.EnvVar{ref("CLIENT_ID", "machine"), ref("CLIENT_PASSWORD", "machine"), {Name: "HTTPS_PROXY", Value: "http://p:3128"}, {Name: "NO_PROXY", Value: clusterNoProxy}, {Name: "MODE", Value: "test"}},
		},
		{
			name: "digest", values: "image: {digest: 'sha256:" + strings.Repeat("cd", 32) + "'}\n", image: "docker.io/tracebloc/jobs-manager@sha256:" + strings.Repeat("cd", 32), policy: corev1.PullIfNotPresent,
			env: []corev1.EnvVar{ref("CLIENT_ID", "edge-credentials"), ref("CLIENT_PASSWORD", "edge-credentials")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &render(t, tt.values).deployment(t).Spec.Template.Spec
			if len(spec.Containers) != 1 || len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != "bootstrap" {
				t.Fatalf("containers %d, init containers %d (first %q); want 1 and the init container bootstrap", len(spec.Containers), len(spec.InitContainers), spec.InitContainers[0].Name)
			}
			c := spec.Containers[0]
			if c.Image != tt.image || c.ImagePullPolicy != tt.policy {
				t.Errorf("image %s (%s), want %s (%s)", c.Image, c.ImagePullPolicy, tt.image, tt.policy)
			}
			if diff := cmp.Diff(tt.command, c.Command); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.args, c.Args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.env, c.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range render(t, tt.values+"offboarding: {revokeOnUninstall: true}\n").pods() {
				for _, c := range allContainers(p.spec) {
					if !runsBootstrap(c) {
						continue
					}
					if c.Image != tt.want || c.ImagePullPolicy != tt.policy {
						t.Errorf("%s/%s: image %s (%s), want %s (%s)", p.name, c.Name, c.Image, c.ImagePullPolicy, tt.want, tt.policy)
					}
				}
			}
		})
	}
}

// TestPlacement: hostNetwork brings its DNS policy; scheduling values reach every pod.
func TestPlacement(t *testing.T) {
	r := render(t, `
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
		t.Fatalf("found %d pod specs, want the workload, the test and the revoke Job", len(pods))
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
	def := render(t, "").deployment(t).Spec.Template.Spec
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
			for _, o := range r.objects {
				m, kind := meta(t, o)
				scoped := clusterScoped[kind]
				if scoped && m.GetNamespace() != "" {
					t.Errorf("%s %s: namespace %q on a cluster-scoped object", kind, m.GetName(), m.GetNamespace())
				}
				if !scoped && m.GetNamespace() != namespace {
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
			sel := r.deployment(t).Spec.Selector.MatchLabels
			if diff := cmp.Diff(map[string]string{"app.kubernetes.io/name": "edge", "app.kubernetes.io/instance": release}, sel); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
		})
	}
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
	}{
		{name: "default: no revoke hook"},
		{name: "offboarding on", values: "offboarding: {revokeOnUninstall: true}\n", revoke: true},
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
			if test.Spec.RestartPolicy != corev1.RestartPolicyNever || test.Spec.ServiceAccountName != "edge-bootstrap" {
				t.Errorf("test Pod restartPolicy %q serviceAccountName %q, want Never, edge-bootstrap", test.Spec.RestartPolicy, test.Spec.ServiceAccountName)
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
			if spec.RestartPolicy != corev1.RestartPolicyNever || spec.ServiceAccountName != "edge-bootstrap" || ptr.Deref(job.Spec.BackoffLimit, -1) != 2 {
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
				"kubectl logs -n tracebloc deploy/edge -c bootstrap -f\n",
				"grep -A 12 'TRACEBLOC ACTIVATION'",
				"kubectl get secret edge-credentials -n tracebloc -o jsonpath='{.data}'",
				"helm test edge -n tracebloc",
				"Installed without it (GitOps), set clusterId",
				"--post-renderer tracebloc-postrender",
			},
			notWant: []string{"enrollment token", "revokes"},
		},
		{
			name:    "cluster id set: no warning",
			values:  "clusterId: " + clusterID + "\nfullnameOverride: tb\ncredentialSecret: {name: machine}\n",
			want:    []string{"kubectl logs -n tracebloc deploy/tb -c bootstrap -f\n", "kubectl get secret machine -n tracebloc"},
			notWant: []string{"Installed without it (GitOps)"},
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

// TestGolden compares the default render with testdata/default.golden.yaml
// (go test ./chart -run TestGolden -update rewrites it).
func TestGolden(t *testing.T) {
	r := render(t, "")
	got := r.yaml + "---\n# NOTES.txt\n" + commentOut(r.notes)
	path := filepath.Join("testdata", "default.golden.yaml")
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
		t.Errorf("default render differs from %s (-want +got), run with -update if intended:\n%s", path, diff)
	}
}

func commentOut(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	return b.String()
}

// clusterNoProxy is the NO_PROXY of every container when a proxy is set and proxy.noProxy
// adds nothing: the cluster's service domains, the API server's names, and loopback.
const clusterNoProxy = ".svc,.svc.cluster.local,kubernetes.default.svc,kubernetes.default,127.0.0.1,localhost"

// TestNoProxy: with any proxy value set, every container that gets proxy settings also
// gets a NO_PROXY that keeps the cluster's own traffic off the proxy, followed by
// proxy.noProxy's entries; without proxy values no container gets any of them.
func TestNoProxy(t *testing.T) {
	tests := []struct {
		name   string
		values string
		want   string // NO_PROXY; "" means no proxy variable at all
	}{
		{name: "no proxy"},
		{name: "https proxy", values: "proxy: {httpsProxy: 'http://p:3128'}\n", want: clusterNoProxy},
		{name: "http proxy", values: "proxy: {httpProxy: 'http://p:3128'}\n", want: clusterNoProxy},
		{name: "noProxy alone", values: "proxy: {noProxy: '10.96.0.0/12'}\n", want: clusterNoProxy + ",10.96.0.0/12"},
		{
			name:   "additions trimmed, empty and repeated entries dropped",
			values: "proxy: {httpsProxy: 'http://p:3128', noProxy: ' 10.96.0.0/12, .corp.example.com,,.svc,localhost'}\n",
			want:   clusterNoProxy + ",10.96.0.0/12,.corp.example.com",
		},
		{
			name:   "cluster domain",
			values: "proxy: {httpsProxy: 'http://p:3128'}\nclusterDomain: k8s.example\n",
			want:   ".svc,.svc.k8s.example,kubernetes.default.svc,kubernetes.default,127.0.0.1,localhost",
		},
	}
	proxyVars := map[string]bool{"HTTPS_PROXY": true, "HTTP_PROXY": true, "NO_PROXY": true, "https_proxy": true, "http_proxy": true, "no_proxy": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var containers int
			for _, p := range render(t, tt.values+"offboarding: {revokeOnUninstall: true}\n").pods() {
				for _, c := range allContainers(p.spec) {
					containers++
					var proxies, noProxies []string
					for _, e := range c.Env {
						if proxyVars[e.Name] {
							proxies = append(proxies, e.Name)
						}
						if e.Name == "NO_PROXY" {
							noProxies = append(noProxies, e.Value)
						}
					}
					switch {
					case tt.want == "" && len(proxies) > 0:
						t.Errorf("%s/%s: proxy variables %v without a proxy value", p.name, c.Name, proxies)
					case tt.want != "" && !cmp.Equal(noProxies, []string{tt.want}):
						t.Errorf("%s/%s: NO_PROXY = %q, want exactly one, %q", p.name, c.Name, noProxies, tt.want)
					}
				}
			}
			if containers < 4 {
				t.Errorf("checked %d containers, want the bootstrap, the workload, the test and the revoke hook", containers)
			}
		})
	}
}

// TestResources: every container and init container of every object the chart renders has
// cpu and memory requests and a memory limit by default, so no pod is BestEffort and none
// can take a node's memory. It finds containers in any object, not only the known pods.
func TestResources(t *testing.T) {
	cases := append(valueCases(),
		struct{ name, values string }{"partial override keeps the defaults", "workload: {resources: {requests: {cpu: '2'}}}\nbootstrap: {resources: {limits: {cpu: 500m}}}\n"},
	)
	for _, vc := range cases {
		t.Run(vc.name, func(t *testing.T) {
			values := vc.values
			if !strings.Contains(values, "offboarding") {
				values += "offboarding: {revokeOnUninstall: true}\n"
			}
			var found int
			for _, o := range render(t, values).objects {
				m, kind := meta(t, o)
				for _, c := range containersIn(t, o) {
					found++
					what := kind + "/" + m.GetName() + "/" + c.Name
					req, lim := c.Resources.Requests, c.Resources.Limits
					if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
						t.Errorf("%s: requests cpu %s memory %s, limit memory %s; want all three set", what, req.Cpu(), req.Memory(), lim.Memory())
						continue
					}
					if req.Memory().Cmp(*lim.Memory()) > 0 {
						t.Errorf("%s: memory request %s above its limit %s", what, req.Memory(), lim.Memory())
					}
				}
			}
			if found < 4 {
				t.Errorf("found %d containers, want the bootstrap, the workload, the test and the revoke hook", found)
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
// release and its namespace, match the bootstrap's ServiceAccount alone, and hold it to
// the credential Secret with the labels bootstrap/credential sets. That the API server
// enforces them is TestAdmissionPolicyOnCluster's part.
func TestAdmissionPolicy(t *testing.T) {
	tests := []struct {
		name, ns, values     string
		policy, user, secret string // "" policy: none rendered
	}{
		{name: "default", ns: namespace, policy: "edge-bootstrap-secrets-tracebloc", user: "system:serviceaccount:tracebloc:edge-bootstrap", secret: "edge-credentials"},
		{name: "another namespace", ns: "lab", policy: "edge-bootstrap-secrets-lab", user: "system:serviceaccount:lab:edge-bootstrap", secret: "edge-credentials"},
		{
			name: "named release and secret", ns: namespace, values: "fullnameOverride: tb\ncredentialSecret: {name: machine}\n",
			policy: "tb-bootstrap-secrets-tracebloc", user: "system:serviceaccount:tracebloc:tb-bootstrap", secret: "machine",
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
			p, b := policies[0], bindings[0]
			if p.Name != tt.policy || b.Name != tt.policy {
				t.Errorf("policy %q, binding %q; want both %q", p.Name, b.Name, tt.policy)
			}
			wantBinding := admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: tt.policy, ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}}
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
			wantConditions := []admissionv1.MatchCondition{{Name: "bootstrap-service-account", Expression: "request.userInfo.username == '" + tt.user + "'"}}
			if diff := cmp.Diff(wantConditions, p.Spec.MatchConditions); diff != "" {
				t.Errorf("matchConditions (-want +got):\n%s", diff)
			}
			var rules []string
			for _, v := range p.Spec.Validations {
				rules = append(rules, v.Expression)
				if !strings.Contains(v.Message, "refused by the admission policy "+tt.policy) || ptr.Deref(v.Reason, "") != metav1.StatusReasonForbidden {
					t.Errorf("validation %q: message %q, reason %v; want a Forbidden that names the policy", v.Expression, v.Message, v.Reason)
				}
			}
			all := strings.Join(rules, "\n")
			for _, w := range []string{
				"object.type == 'Opaque'",
				"object.metadata.name == '" + tt.secret + "'",
				"object.metadata.labels['" + credential.LabelCredential + "'] == 'true'",
				"object.metadata.labels['" + credential.LabelManagedBy + "'] == 'tracebloc-bootstrap'",
			} {
				if !strings.Contains(all, w) {
					t.Errorf("no validation checks %s; validations:\n%s", w, all)
				}
			}
		})
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
