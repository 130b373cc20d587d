package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	admissionv1beta1 "k8s.io/api/admissionregistration/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// HostNetworkLabel marks a namespace whose pods the harness puts on this node's only
	// network, the host's: a chart that knows nothing of the harness (the tracebloc/client
	// chart) runs unchanged there. Its value must be "true".
	HostNetworkLabel = "harness.tracebloc.io/host-network"
	// PodEnvConfigMap is the ConfigMap of a labelled namespace whose entries become
	// environment variables of every container of its new pods (e.g. TRACEBLOC_API_URL
	// for stand-in images), where a container does not set the variable itself;
	// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are always LoopbackEnv's.
	PodEnvConfigMap = "harness-pod-env"

	hostNetworkPolicy = "harness-host-network"
	podEnvPolicy      = "harness-pod-env"
	serviceHostVar    = "KUBERNETES_SERVICE_HOST"
	servicePortVar    = "KUBERNETES_SERVICE_PORT"
	// loopbackNames is the CEL list of the first policy's variables.
	loopbackNames = `["` + serviceHostVar + `", "` + servicePortVar + `"]`
)

// HostNetworkNamespace creates the namespace name (or labels the existing one) with
// HostNetworkLabel and writes env into its PodEnvConfigMap, replacing what it held. From
// then on the admission policies of the harness put each new pod of the namespace on
// the host network with the loopback RuntimeClass, LoopbackEnv and env (see
// hostNetworkPolicies). Pods that bind fixed ports then bind them on the host: two such
// releases, in two namespaces or two instances, cannot run at the same time.
func (c *Cluster) HostNetworkNamespace(ctx context.Context, name string, env map[string]string) error {
	namespaces := c.Client.CoreV1().Namespaces()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{HostNetworkLabel: "true"}}}
	_, err := namespaces.Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"true"}}}`, HostNetworkLabel)
		_, err = namespaces.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	}
	if err != nil {
		return fmt.Errorf("label namespace %s with %s=true: %w", name, HostNetworkLabel, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: PodEnvConfigMap, Namespace: name}, Data: env}
	configMaps := c.Client.CoreV1().ConfigMaps(name)
	_, err = configMaps.Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = configMaps.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write ConfigMap %s/%s: %w", name, PodEnvConfigMap, err)
	}
	return c.waitHostNetwork(ctx, name, env)
}

// waitHostNetwork waits until a new pod of namespace would be admitted with the host
// network and env: the admission policies see a new label, ConfigMap or policy through
// their informers, a moment after it was written. A server-side dry run shows what a
// create would store, without storing it.
func (c *Cluster) waitHostNetwork(ctx context.Context, namespace string, env map[string]string) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "harness-host-network-probe"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: PauseImage}}},
	}
	want := map[string]string{}
	for k, v := range env {
		want[k] = v
	}
	for _, e := range c.LoopbackEnv() {
		want[e.Name] = e.Value // the first policy's, which the second does not replace
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		pod, err := c.Client.CoreV1().Pods(namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		missing := "the host network"
		if err == nil && pod.Spec.HostNetwork {
			missing = missingEnv(pod.Spec.Containers[0].Env, want)
		}
		if err == nil && missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("new pods of namespace %s lack %s (dry run: %v): check the MutatingAdmissionPolicies %s and %s and %s, or start the instance anew with `scripts/cluster down --name %s`: %w",
				namespace, missing, err, hostNetworkPolicy, podEnvPolicy, paths(c.Dir).logs("kube-apiserver"), c.Name, ctx.Err())
		case <-tick.C:
		}
	}
}

// missingEnv names the first variable of want that env lacks or holds another value of.
func missingEnv(env []corev1.EnvVar, want map[string]string) string {
	have := map[string]string{}
	for _, e := range env {
		have[e.Name] = e.Value
	}
	for name, value := range want {
		if v, ok := have[name]; !ok || v != value {
			return "the variable " + name
		}
	}
	return ""
}

// createHostNetworkPolicies creates (or updates) the admission policies and bindings of
// hostNetworkPolicies.
func createHostNetworkPolicies(ctx context.Context, c *Cluster) error {
	api := c.Client.AdmissionregistrationV1beta1()
	policies, bindings := hostNetworkPolicies(c.Ports.APIServer)
	for _, p := range policies {
		_, err := api.MutatingAdmissionPolicies().Create(ctx, p, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var old *admissionv1beta1.MutatingAdmissionPolicy
			if old, err = api.MutatingAdmissionPolicies().Get(ctx, p.Name, metav1.GetOptions{}); err == nil {
				p.ResourceVersion = old.ResourceVersion
				_, err = api.MutatingAdmissionPolicies().Update(ctx, p, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return fmt.Errorf("create MutatingAdmissionPolicy %s: %w", p.Name, err)
		}
	}
	for _, b := range bindings {
		_, err := api.MutatingAdmissionPolicyBindings().Create(ctx, b, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create MutatingAdmissionPolicyBinding %s: %w", b.Name, err)
		}
	}
	return nil
}

// hostNetworkPolicies are two mutating admission policies for new pods of namespaces
// labelled HostNetworkLabel=true. The first sets what every pod of this node needs: the
// host network (there is no CNI), the loopback RuntimeClass (exempt from Pod Security;
// the API server runs the built-in admission plugins again after a policy changed a pod,
// so the RuntimeClass admission then adds its toleration of the not-ready taint) and
// LoopbackEnv. The second adds the entries of the namespace's PodEnvConfigMap but
// LoopbackEnv's, and does nothing when there is none. Neither replaces a variable a
// container sets. They mutate pods only, never their templates, so a Deployment's spec
// stays as its chart rendered it.
func hostNetworkPolicies(apiPort int) ([]*admissionv1beta1.MutatingAdmissionPolicy, []*admissionv1beta1.MutatingAdmissionPolicyBinding) {
	fail := admissionv1beta1.Fail
	allow := admissionv1beta1.AllowAction
	match := &admissionv1beta1.MatchResources{ResourceRules: []admissionv1beta1.NamedRuleWithOperations{{
		RuleWithOperations: admissionv1beta1.RuleWithOperations{
			Operations: []admissionv1beta1.OperationType{admissionv1beta1.Create},
			Rule:       admissionv1beta1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
		},
	}}}
	loopback := map[string]string{serviceHostVar: "127.0.0.1", servicePortVar: strconv.Itoa(apiPort)}
	policies := []*admissionv1beta1.MutatingAdmissionPolicy{
		{
			ObjectMeta: metav1.ObjectMeta{Name: hostNetworkPolicy},
			Spec: admissionv1beta1.MutatingAdmissionPolicySpec{
				MatchConstraints: match, FailurePolicy: &fail, ReinvocationPolicy: admissionv1beta1.NeverReinvocationPolicy,
				Mutations: []admissionv1beta1.Mutation{
					{PatchType: admissionv1beta1.PatchTypeApplyConfiguration, ApplyConfiguration: &admissionv1beta1.ApplyConfiguration{
						Expression: hostNetworkExpression(loopback),
					}},
				},
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: podEnvPolicy},
			Spec: admissionv1beta1.MutatingAdmissionPolicySpec{
				ParamKind:        &admissionv1beta1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
				MatchConstraints: match, FailurePolicy: &fail, ReinvocationPolicy: admissionv1beta1.NeverReinvocationPolicy,
				Mutations: []admissionv1beta1.Mutation{{PatchType: admissionv1beta1.PatchTypeApplyConfiguration, ApplyConfiguration: &admissionv1beta1.ApplyConfiguration{
					Expression: podEnvExpression,
				}}},
			},
		},
	}
	labelled := &admissionv1beta1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{HostNetworkLabel: "true"}}}
	bindings := []*admissionv1beta1.MutatingAdmissionPolicyBinding{
		{
			ObjectMeta: metav1.ObjectMeta{Name: hostNetworkPolicy},
			Spec:       admissionv1beta1.MutatingAdmissionPolicyBindingSpec{PolicyName: hostNetworkPolicy, MatchResources: labelled},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: podEnvPolicy},
			Spec: admissionv1beta1.MutatingAdmissionPolicyBindingSpec{
				PolicyName: podEnvPolicy, MatchResources: labelled,
				// No namespace: the ConfigMap of the pod's own namespace.
				ParamRef: &admissionv1beta1.ParamRef{Name: PodEnvConfigMap, ParameterNotFoundAction: &allow},
			},
		},
	}
	return policies, bindings
}

// hostNetworkExpression is the apply configuration of the first policy: containers and
// env are lists keyed by name, so naming a container merges into it, and a variable is
// added only where the container does not have it.
func hostNetworkExpression(env map[string]string) string {
	list := func(field string) string {
		var vars []string
		for _, name := range []string{serviceHostVar, servicePortVar} {
			vars = append(vars, fmt.Sprintf(`Object.spec.%s.env{name: %q, value: %q}`, field, name, env[name]))
		}
		probes := ""
		if field == "containers" {
			probes = probeHosts(field)
		}
		return fmt.Sprintf(`object.spec.%[1]s.map(c, Object.spec.%[1]s{name: c.name,
      env: [%[2]s].filter(e, !has(c.env) || !c.env.exists(x, x.name == e.name))%[3]s})`, field, strings.Join(vars, ", "), probes)
	}
	return fmt.Sprintf(`Object{spec: Object.spec{
  hostNetwork: true,
  dnsPolicy: "ClusterFirstWithHostNet",
  runtimeClassName: %q,
  containers: %s,
  ?initContainers: has(object.spec.initContainers) ? optional.of(%s) : optional.none()
}}`, LoopbackRuntimeClass, list("containers"), list("initContainers"))
}

// probeHosts points the containers' TCP probes that name no host at 127.0.0.1: the
// kubelet probes a host-network pod at the node's address, which is not loopback, and
// the harness's pods listen on loopback only. A probe that names its host is left alone.
func probeHosts(field string) string {
	var b strings.Builder
	for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
		fmt.Fprintf(&b, `,
      ?%[2]s: has(c.%[2]s) && has(c.%[2]s.tcpSocket) && !has(c.%[2]s.tcpSocket.host) ? optional.of(Object.spec.%[1]s.%[2]s{tcpSocket: Object.spec.%[1]s.%[2]s.tcpSocket{host: "127.0.0.1"}}) : optional.none()`, field, probe)
	}
	return b.String()
}

// podEnvExpression is the apply configuration of the second policy: the ConfigMap's
// entries, in every container and init container that does not set them, except the
// variables of the first policy. The API server applies the policies in no fixed order
// (a map's), so the two must add disjoint variables for the result not to depend on it.
var podEnvExpression = func() string {
	list := func(field string) string {
		return fmt.Sprintf(`object.spec.%[1]s.map(c, Object.spec.%[1]s{name: c.name,
      env: (has(params.data) ? params.data : {}).filter(k, !(k in %[2]s) && (!has(c.env) || !c.env.exists(x, x.name == k))).map(k, Object.spec.%[1]s.env{name: k, value: params.data[k]})})`, field, loopbackNames)
	}
	return fmt.Sprintf(`Object{spec: Object.spec{
  containers: %s,
  ?initContainers: has(object.spec.initContainers) ? optional.of(%s) : optional.none()
}}`, list("containers"), list("initContainers"))
}()
