package chart_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"

	"github.com/tracebloc/edge/chart"
	"github.com/tracebloc/edge/internal/names"
)

const (
	release   = "edge"
	namespace = "tracebloc"
	clusterID = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	// saMount is where in-cluster clients look for the service account token.
	saMount = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// loadChart loads the embedded chart, as a tool that ships it would.
func loadChart(t *testing.T) *helmchart.Chart {
	t.Helper()
	var files []*loader.BufferedFile
	err := fs.WalkDir(chart.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(chart.Files(), path)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: path, Data: data})
		return nil
	})
	if err != nil {
		t.Fatalf("read the embedded chart: %v", err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		t.Fatalf("load the embedded chart: %v", err)
	}
	return ch
}

// renderValues renders the chart as `helm install edge -n tracebloc -f values.yaml` would
// (schema validation included) against Kubernetes 1.34.
func renderValues(t *testing.T, valuesYAML string) (map[string]string, error) {
	t.Helper()
	return renderValuesIn(t, namespace, valuesYAML)
}

// renderValuesIn renders into another namespace (the real-cluster tests' fresh ones).
func renderValuesIn(t *testing.T, ns, valuesYAML string) (map[string]string, error) {
	t.Helper()
	return renderWithAPIs(t, ns, valuesYAML, nil)
}

// renderWithAPIs renders as against a cluster that serves apis too ("group/version/Kind"
// entries, as helm install learns them from discovery).
func renderWithAPIs(t *testing.T, ns, valuesYAML string, apis []string) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	vals, err := chartutil.ReadValues([]byte(valuesYAML))
	if err != nil {
		t.Fatalf("test values do not parse: %v", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.34.4", Major: "1", Minor: "34"}
	caps.APIVersions = append(slices.Clone(caps.APIVersions), apis...)
	opts := chartutil.ReleaseOptions{Name: release, Namespace: ns, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, top)
}

// rendered is one render, decoded.
type rendered struct {
	notes   string
	objects []runtime.Object
	// wiring is the PostRendererRequired object, nil when not rendered.
	wiring *wiringObject
	// yaml is the manifests as `helm template` prints them (sorted by template name).
	yaml string
}

func render(t *testing.T, valuesYAML string) *rendered {
	t.Helper()
	out, err := renderValues(t, valuesYAML)
	if err != nil {
		t.Fatalf("render with values\n%s\nerror: %v", valuesYAML, err)
	}
	return decode(t, out)
}

// decode reads every rendered manifest strictly: an unknown or duplicated field (a typo
// in a template) fails the test.
func decode(t *testing.T, out map[string]string) *rendered {
	t.Helper()
	r := &rendered{}
	codecs := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict)
	deser := codecs.UniversalDeserializer()
	files := make([]string, 0, len(out))
	for name := range out {
		files = append(files, name)
	}
	sort.Strings(files)
	var all strings.Builder
	for _, name := range files {
		content := out[name]
		if strings.HasSuffix(name, "NOTES.txt") {
			r.notes = content
			continue
		}
		if strings.TrimSpace(content) == "" {
			continue
		}
		fmt.Fprintf(&all, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(content))
		reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(content)))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: split YAML: %v", name, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			if w := decodeWiring(t, name, doc); w != nil {
				if r.wiring != nil {
					t.Fatalf("%s: a second %s object", name, names.WiringKind)
				}
				r.wiring = w
				continue
			}
			obj, _, err := deser.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: decode strictly: %v\n%s", name, err, doc)
			}
			r.objects = append(r.objects, obj)
		}
	}
	r.yaml = all.String()
	return r
}

// wiringObject is the object the post-renderer consumes (templates/wiring.yaml).
type wiringObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Release             string           `json:"release"`
		ClientChart         string           `json:"clientChart"`
		CredentialSecret    string           `json:"credentialSecret"`
		NodeAgentsNamespace string           `json:"nodeAgentsNamespace"`
		MigrateFrom         string           `json:"migrateFrom"`
		InitContainer       corev1.Container `json:"initContainer"`
		Volumes             []corev1.Volume  `json:"volumes"`
		Trust               *struct {
			Volume    string `json:"volume"`
			MountPath string `json:"mountPath"`
			File      string `json:"file"`
		} `json:"trust"`
	} `json:"spec"`
}

// decodeWiring decodes doc strictly when it is the wiring object, else returns nil.
func decodeWiring(t *testing.T, source string, doc []byte) *wiringObject {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	if tm.APIVersion != names.WiringAPIVersion || tm.Kind != names.WiringKind {
		return nil
	}
	var w wiringObject
	if err := yaml.UnmarshalStrict(doc, &w); err != nil {
		t.Fatalf("%s: decode the wiring object strictly: %v\n%s", source, err, doc)
	}
	return &w
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

// meta returns the object's metadata and kind (Deployment, ClusterRole...).
func meta(t *testing.T, obj runtime.Object) (metav1.Object, string) {
	t.Helper()
	m, ok := obj.(metav1.Object)
	if !ok {
		t.Fatalf("%T has no metadata", obj)
	}
	_, kind, _ := strings.Cut(fmt.Sprintf("%T", obj), ".")
	return m, kind
}

// deployment returns the one Deployment: the enrollment's (client.enabled=false).
func (r *rendered) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	var found []*appsv1.Deployment
	for _, o := range r.objects {
		if d, ok := o.(*appsv1.Deployment); ok {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("rendered %d Deployments, want 1", len(found))
	}
	return found[0]
}

// podSpec is one rendered pod template, named for error messages.
type podSpec struct {
	name string
	meta metav1.ObjectMeta
	spec *corev1.PodSpec
}

// pods returns every pod the chart itself can start: the enrollment Deployment, the helm
// test, the hook Job. The jobs-manager pod is the client chart's (see bootstrapPods).
func (r *rendered) pods() []podSpec {
	var ps []podSpec
	for _, o := range r.objects {
		switch x := o.(type) {
		case *appsv1.Deployment:
			ps = append(ps, podSpec{"Deployment/" + x.Name, x.Spec.Template.ObjectMeta, &x.Spec.Template.Spec})
		case *batchv1.Job:
			ps = append(ps, podSpec{"Job/" + x.Name, x.Spec.Template.ObjectMeta, &x.Spec.Template.Spec})
		case *corev1.Pod:
			ps = append(ps, podSpec{"Pod/" + x.Name, x.ObjectMeta, &x.Spec})
		}
	}
	return ps
}

// bootstrapPods is pods plus, when the wiring object is rendered, the part of the
// jobs-manager pod the post-renderer adds: the bootstrap init container and its volumes
// (the pod's security context is the client chart's).
func (r *rendered) bootstrapPods() []podSpec {
	ps := r.pods()
	if w := r.wiring; w != nil {
		spec := &corev1.PodSpec{InitContainers: []corev1.Container{w.Spec.InitContainer}, Volumes: w.Spec.Volumes}
		ps = append(ps, podSpec{"wiring/" + w.Metadata.Name, metav1.ObjectMeta{}, spec})
	}
	return ps
}

func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

// runsBootstrap tells the containers that run the bootstrap image (the enrollment's hold
// container too).
func runsBootstrap(c corev1.Container) bool {
	return strings.Contains(c.Image, "tracebloc/edge-bootstrap")
}

// isHold tells the enrollment's main container: the bootstrap image, holding the pod only.
func isHold(c corev1.Container) bool {
	return c.Name == "hold" && slices.Equal(c.Args, []string{"hold"})
}

// clientPlatform is the platform setting the client chart requires (it has no default
// storage class), as a user gives it (chart/README.md).
const clientPlatform = "client: {storageClass: {create: false, name: standard}}\n"

// clientOff returns values with client.enabled=false merged in.
func clientOff(t *testing.T, values string) string {
	t.Helper()
	return merge(t, values, disabled)
}

// merge deep-merges YAML value documents, later ones winning, as repeated -f flags do
// (appending a second `client:` key to a document would replace the first one's map).
func merge(t *testing.T, docs ...string) string {
	t.Helper()
	all := map[string]any{}
	for _, doc := range docs {
		v := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatalf("test values do not parse: %v\n%s", err, doc)
		}
		all = chartutil.MergeTables(v, all)
	}
	out, err := yaml.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
