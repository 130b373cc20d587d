package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// MetricsAPIService is the APIService of the resource metrics API (`kubectl top`),
	// which the instance's metrics server (sigs.k8s.io/metrics-server, a process on
	// 127.0.0.1 like the other components) serves.
	MetricsAPIService = "v1beta1.metrics.k8s.io"
	// metricsServerName is the metrics server's Service in kube-system, of type
	// ExternalName "localhost": the aggregation layer sends the API's requests to
	// localhost:<its port> (no kube-proxy, no Endpoints on loopback) and checks its
	// certificate against metricsServerHost.
	metricsServerName = "metrics-server"
	metricsServerHost = metricsServerName + ".kube-system.svc"
	metricsServerUser = "tracebloc-edge-metrics-server"
	// frontProxyClient is the common name of the API server's proxy client certificate.
	frontProxyClient = "front-proxy-client"
)

// metricsServerArgs: serve on loopback with its certificate, delegate authentication and
// authorization to the API server as its own user, trust the aggregation layer's user
// headers, and scrape the kubelet at localhost:<kubelet port>, checking its certificate.
func metricsServerArgs(p paths, st state) []string {
	kubeconfig := p.kubeconfig("metrics-server")
	return []string{
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(st.Ports.MetricsServer),
		"--tls-cert-file", p.pki("metrics-server.crt"),
		"--tls-private-key-file", p.pki("metrics-server.key"),
		"--kubeconfig", kubeconfig,
		"--authentication-kubeconfig", kubeconfig,
		"--authorization-kubeconfig", kubeconfig,
		"--requestheader-client-ca-file", p.pki("front-proxy-ca.crt"),
		"--requestheader-allowed-names", frontProxyClient,
		"--kubelet-preferred-address-types", "Hostname",
		"--kubelet-use-node-status-port",
		"--kubelet-certificate-authority", p.pki("ca.crt"),
		"--metric-resolution", "15s",
		"--profiling=false",
		"--v=1",
	}
}

// createMetricsAPI gives the metrics server's user the rights of the upstream manifests
// (read nodes and pods and the kubelet's metrics, delegate authentication and
// authorization, read the aggregation layer's CA), then registers its Service and the
// APIService.
func createMetricsAPI(ctx context.Context, c *Cluster) error {
	rbac := c.Client.RbacV1()
	user := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: metricsServerUser}}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: metricsServerUser}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
	}}
	bindings := []*rbacv1.ClusterRoleBinding{
		{ObjectMeta: metav1.ObjectMeta{Name: metricsServerUser}, Subjects: user,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsServerUser}},
		{ObjectMeta: metav1.ObjectMeta{Name: metricsServerUser + ":auth-delegator"}, Subjects: user,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"}},
	}
	reader := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: metricsServerUser, Namespace: "kube-system"}, Subjects: user,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"}}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: metricsServerName, Namespace: "kube-system"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"},
	}
	errs := []error{ignoreExists(rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}))}
	for _, b := range bindings {
		errs = append(errs, ignoreExists(rbac.ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{})))
	}
	errs = append(errs,
		ignoreExists(rbac.RoleBindings("kube-system").Create(ctx, reader, metav1.CreateOptions{})),
		ignoreExists(c.Client.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{})),
		createAPIService(ctx, c))
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("register the metrics API: %w", err)
		}
	}
	return nil
}

func ignoreExists[T any](_ T, err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// apiService is the part of apiregistration.k8s.io/v1 APIService the harness writes and
// reads (the project does not depend on the aggregator's client).
type apiService struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Service struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
			Port      int    `json:"port"`
		} `json:"service"`
		Group                string `json:"group"`
		Version              string `json:"version"`
		CABundle             []byte `json:"caBundle"`
		GroupPriorityMinimum int    `json:"groupPriorityMinimum"`
		VersionPriority      int    `json:"versionPriority"`
	} `json:"spec"`
	Status struct {
		Conditions []metav1.Condition `json:"conditions,omitempty"`
	} `json:"status,omitempty"`
}

const apiServicesPath = "/apis/apiregistration.k8s.io/v1/apiservices"

func createAPIService(ctx context.Context, c *Cluster) error {
	ca, err := os.ReadFile(paths(c.Dir).pki("ca.crt"))
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	var as apiService
	as.APIVersion, as.Kind, as.Metadata.Name = "apiregistration.k8s.io/v1", "APIService", MetricsAPIService
	as.Spec.Service.Namespace, as.Spec.Service.Name, as.Spec.Service.Port = "kube-system", metricsServerName, c.Ports.MetricsServer
	as.Spec.Group, as.Spec.Version, as.Spec.CABundle = "metrics.k8s.io", "v1beta1", ca
	as.Spec.GroupPriorityMinimum, as.Spec.VersionPriority = 100, 100
	body, err := json.Marshal(as)
	if err != nil {
		return err
	}
	err = c.Client.Discovery().RESTClient().Post().AbsPath(apiServicesPath).
		SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error()
	return ignoreExists(0, err)
}

// MetricsAPIAvailable returns nil when the aggregation layer reports the metrics API
// Available, else an error with its reason and message.
func (c *Cluster) MetricsAPIAvailable(ctx context.Context) error {
	data, err := c.Client.Discovery().RESTClient().Get().AbsPath(apiServicesPath, MetricsAPIService).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("read APIService %s: %w", MetricsAPIService, err)
	}
	var as apiService
	if err := json.Unmarshal(data, &as); err != nil {
		return fmt.Errorf("read APIService %s: %w", MetricsAPIService, err)
	}
	for _, cond := range as.Status.Conditions {
		if cond.Type == "Available" && cond.Status == metav1.ConditionTrue {
			return nil
		}
		if cond.Type == "Available" {
			return fmt.Errorf("APIService %s is not available: %s: %s (see %s)", MetricsAPIService, cond.Reason, cond.Message, paths(c.Dir).logs("metrics-server"))
		}
	}
	return fmt.Errorf("APIService %s has no Available condition yet", MetricsAPIService)
}
