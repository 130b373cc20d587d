package journey_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tracebloc/edge/internal/journey"
	"github.com/tracebloc/edge/postrender/pins"
)

// fakePusher records what Push uploads and answers a digest per reference.
type fakePusher struct{ pushed map[string]string }

func (f *fakePusher) PushImageFile(_ context.Context, tarball, ref string) (string, error) {
	f.pushed[ref] = tarball
	return "sha256:" + strings.Repeat(map[bool]string{true: "b", false: "a"}[strings.Contains(ref, "bootstrap")], 64), nil
}

// TestPush: the bootstrap image goes to the registry by its name, the stand-ins through
// their own push, and the one pin list the post-renderer gets pins each to the digest its
// push returned.
func TestPush(t *testing.T) {
	dir := t.TempDir()
	a := &journey.Artifacts{BootstrapImage: "b.tar", Pins: filepath.Join(dir, "images.yaml")}
	p := &fakePusher{pushed: map[string]string{}}
	const jm = "docker.io/tracebloc/jobs-manager"
	ctx := context.Background()
	standIns := func(ctx context.Context) ([]byte, error) {
		digest, err := p.PushImageFile(ctx, "jm.tar", jm+":prod")
		return []byte("images:\n- name: " + jm + "\n  tag: prod\n  digest: " + digest + "\n"), err
	}
	if err := a.Push(ctx, p, standIns); err != nil {
		t.Fatal(err)
	}
	wantPushed := map[string]string{journey.BootstrapRepo + ":" + journey.LocalTag: "b.tar", jm + ":prod": "jm.tar"}
	if diff := cmp.Diff(wantPushed, p.pushed); diff != "" {
		t.Errorf("Push() pushed (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile(a.Pins)
	if err != nil {
		t.Fatal(err)
	}
	set, err := pins.Parse(data)
	if err != nil {
		t.Fatalf("the pin list does not parse: %v\n%s", err, data)
	}
	for ref, want := range map[string]string{
		journey.BootstrapRepo + ":" + journey.LocalTag: journey.BootstrapRepo + "@sha256:" + strings.Repeat("b", 64),
		jm + ":prod": jm + "@sha256:" + strings.Repeat("a", 64),
	} {
		if got, _ := set.Resolve(ref); got != want {
			t.Errorf("pin of %s = %q, want %q", ref, got, want)
		}
	}
}

// TestInstallArgsPullPolicy: images pushed to a registry are pulled (the post-renderer
// gets their pin list, the tag-named test hook pulls Always); images loaded by hand are
// never pulled.
func TestInstallArgsPullPolicy(t *testing.T) {
	tests := []struct {
		name, images     string
		want, wantAbsent []string
	}{
		{name: "pushed", images: "/x/images.yaml",
			want:       []string{"--images=/x/images.yaml", "bootstrap.image.pullPolicy=Always"},
			wantAbsent: []string{"bootstrap.image.pullPolicy=Never"}},
		{name: "loaded by hand",
			want:       []string{"bootstrap.image.pullPolicy=Never"},
			wantAbsent: []string{"bootstrap.image.pullPolicy=Always"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &journey.Stage{Root: "/repo", Kubeconfig: "/k", PostRender: "/pr", BackendURL: "http://b", Images: tc.images}
			args := s.InstallArgs("install", "edge", "ns")
			for _, w := range tc.want {
				if !slices.Contains(args, w) {
					t.Errorf("InstallArgs() = %v, want %s among them", args, w)
				}
			}
			for _, w := range tc.wantAbsent {
				if slices.Contains(args, w) {
					t.Errorf("InstallArgs() = %v, want no %s", args, w)
				}
			}
		})
	}
}

// fakeHarness records the namespaces Prepare puts on the host network.
type fakeHarness struct{ envs map[string]map[string]string }

func (h *fakeHarness) HostNetworkNamespace(_ context.Context, name string, env map[string]string) error {
	h.envs[name] = env
	return nil
}

// TestPrepareAndValues: with the client chart, Prepare finds the default StorageClass and
// puts the release namespace and its node-agents namespace on the harness's host network
// with the backend URL; the values name both, and turn off what needs the internet.
// Without the client chart, the values only disable it.
func TestPrepareAndValues(t *testing.T) {
	ctx := context.Background()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}}
	agents := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns-agents"}}
	h := &fakeHarness{envs: map[string]map[string]string{}}
	s := &journey.Stage{WithClient: true, Kube: fake.NewClientset(sc, agents), Harness: h, BackendURL: "http://127.0.0.1:9"}
	if err := s.Prepare(ctx, "ns"); err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]map[string]string{"ns": {"TRACEBLOC_API_URL": "http://127.0.0.1:9"}, "ns-agents": {"TRACEBLOC_API_URL": "http://127.0.0.1:9"}}
	if diff := cmp.Diff(wantEnv, h.envs); diff != "" {
		t.Errorf("Prepare() host-network namespaces (-want +got):\n%s", diff)
	}
	args := s.Values("ns")
	for _, want := range []string{"client.enabled=true", "client.storageClass.name=local", "client.nodeAgents.namespace.name=ns-agents",
		"client.egressProxy.enabled=false", "client.imageRefresh.enabled=false", "client.resourceMonitor=false", "client.env.TRACEBLOC_API_URL=http://127.0.0.1:9"} {
		if !slices.Contains(args, want) {
			t.Errorf("Values() = %v, want %s among them", args, want)
		}
	}
	if i := slices.Index(args, "client.env.TRACEBLOC_API_URL=http://127.0.0.1:9"); i < 1 || args[i-1] != "--set-string" {
		t.Errorf("Values() sets the env value with %q, want --set-string", args[max(i-1, 0)])
	}

	s = &journey.Stage{Kube: fake.NewClientset(), BackendURL: "http://b"}
	if err := s.Prepare(ctx, "ns"); err != nil {
		t.Fatal(err)
	}
	for _, v := range s.Values("ns") {
		if strings.HasPrefix(v, "client.") && v != "client.enabled=false" {
			t.Errorf("Values() without the client chart = %v, want no client value but client.enabled=false", s.Values("ns"))
		}
	}

	s = &journey.Stage{WithClient: true, Kube: fake.NewClientset()}
	if err := s.Prepare(ctx, "ns"); err == nil || !strings.Contains(err.Error(), "is-default-class") {
		t.Errorf("Prepare() without a default StorageClass = %v, want an error naming the annotation", err)
	}
}
