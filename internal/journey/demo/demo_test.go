package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tracebloc/edge/internal/api"
	"github.com/tracebloc/edge/internal/devbackend"
	"github.com/tracebloc/edge/internal/journey"
)

// pod is the release's pod with the bootstrap's state and, when running, the workload's.
func pod(bootstrap corev1.ContainerStatus, workloadRunning bool) *corev1.Pod {
	bootstrap.Name = "bootstrap"
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "edge-1", Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/instance": release}},
		Status:     corev1.PodStatus{InitContainerStatuses: []corev1.ContainerStatus{bootstrap}},
	}
	if workloadRunning {
		p.Spec.Containers = []corev1.Container{{Name: "hold"}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "hold", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
	return p
}

// workload is the release's enrollment Deployment, by whose selector the demo finds the pod.
func workload() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: release + "-enrollment", Namespace: namespace},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": release}}},
	}
}

func exited(code int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
}

func TestWaitForWorkload(t *testing.T) {
	tests := []struct {
		name    string
		pod     *corev1.Pod
		wantErr string // "" = the workload runs
	}{
		{"workload runs", pod(corev1.ContainerStatus{State: exited(0)}, true), ""},
		{"conflict stops the wait", pod(corev1.ContainerStatus{State: exited(4)}, false), "exit code 4"},
		{"configuration error, restarting", pod(corev1.ContainerStatus{LastTerminationState: exited(2), State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}, false), "exit code 2"},
		{"exit 1 is retried by the kubelet", pod(corev1.ContainerStatus{LastTerminationState: exited(1)}, false), "not running"},
		{"denied shows a new code next run", pod(corev1.ContainerStatus{LastTerminationState: exited(3)}, false), "not running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stage := &journey.Stage{Kube: fake.NewClientset(tc.pod, workload())}
			ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
			defer cancel()
			err := waitForWorkload(ctx, stage)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("waitForWorkload() = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestBootstrapRestarts(t *testing.T) {
	stage := &journey.Stage{Kube: fake.NewClientset(pod(corev1.ContainerStatus{RestartCount: 5}, false), workload())}
	if got := bootstrapRestarts(context.Background(), stage); got != 5 {
		t.Errorf("bootstrapRestarts() = %d, want 5", got)
	}
	if got := bootstrapRestarts(context.Background(), &journey.Stage{Kube: fake.NewClientset()}); got != 0 {
		t.Errorf("bootstrapRestarts(no pod) = %d, want 0", got)
	}
}

// TestApproveWithAdminToken: the demo approves through the development backend's /_dev/
// API with the admin token of the file the backend wrote, and fails without it.
func TestApproveWithAdminToken(t *testing.T) {
	srv, err := devbackend.New(devbackend.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	d := &demo{dir: t.TempDir()}
	ctx := context.Background()
	code := func() string {
		t.Helper()
		resp, err := http.Post(hs.URL+"/device/code", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var dc api.DeviceCode
		if err := json.NewDecoder(resp.Body).Decode(&dc); err != nil {
			t.Fatal(err)
		}
		return dc.UserCode
	}

	if err := approve(ctx, d.tokenFile(), hs.URL, code()); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("approve without a token file = %v, want an error about the admin token", err)
	}
	if err := os.WriteFile(d.tokenFile(), []byte("not-the-admin-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := approve(ctx, d.tokenFile(), hs.URL, code()); err == nil || d.devAPIWorks(ctx, hs.URL) {
		t.Errorf("approve with a wrong token = %v, devAPIWorks = %v; want an error and false", err, d.devAPIWorks(ctx, hs.URL))
	}
	if err := os.WriteFile(d.tokenFile(), []byte(srv.AdminToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := approve(ctx, d.tokenFile(), hs.URL, code()); err != nil || !d.devAPIWorks(ctx, hs.URL) {
		t.Errorf("approve with the backend's token = %v, devAPIWorks = %v; want nil and true", err, d.devAPIWorks(ctx, hs.URL))
	}
	if !up(hs.URL) {
		t.Error("up = false for a running backend")
	}
}
