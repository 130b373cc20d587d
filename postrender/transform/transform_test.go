package transform

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/postrender/pins"
)

var update = flag.Bool("update", false, "rewrite the golden want.yaml files from the current output")

const (
	testClusterID = "0b7ab7e4-5f0a-4c43-9a57-2f1f0e3c9d11"
	testdata      = "../testdata"
)

func testPins(t *testing.T) pins.Set {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "pins.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := pins.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// goldenOptions returns the options of each golden case; cases not named here use the
// defaults: target namespace "edge", the test cluster id, the test pins.
func goldenOptions(t *testing.T, name string) Options {
	opts := Options{Namespace: "edge", ClusterID: testClusterID, Pins: testPins(t)}
	switch name {
	case "custom-cluster-scoped":
		// Stands in for discovery: cert-manager's ClusterIssuer is cluster-scoped.
		opts.Scopes = map[GroupKind]bool{
			{Group: "cert-manager.io", Kind: "ClusterIssuer"}: true,
			{Group: "cert-manager.io", Kind: "Issuer"}:        false,
		}
	case "namespace-from-chart", "kube-system-majority-edge-chart":
		// The edge chart's label wins over $HELM_NAMESPACE.
		opts.Namespace, opts.Fallback = "", "from-helm-namespace"
	case "namespace-fallback", "kube-system-majority-helm-namespace":
		opts.Namespace, opts.Fallback = "", "from-helm-namespace"
	case "kube-system-majority":
		// Helm 3 without post-renderer arguments: nothing says the release namespace.
		opts.Namespace = ""
	case "offline-no-label":
		opts.ClusterID = ""
	}
	return opts
}

// TestGolden runs every testdata/<case>/input.yaml through Stream and compares with
// want.yaml (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(testdata, name)
			input, err := os.ReadFile(filepath.Join(dir, "input.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Stream(bytes.NewReader(input), goldenOptions(t, name))
			if err != nil {
				t.Fatalf("Stream(%s) error: %v", name, err)
			}
			wantFile := filepath.Join(dir, "want.yaml")
			if *update {
				if err := os.WriteFile(wantFile, res.Output, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), string(res.Output)); diff != "" {
				t.Errorf("Stream(%s) mismatch (-want +got):\n%s", name, diff)
			}
			if got, want := documents(res.Output), documents(input); got != want {
				t.Errorf("Stream(%s) wrote %d document markers, want %d (never add or drop a document)", name, got, want)
			}
		})
	}
}

// TestIdempotent checks that the output of every golden case passes through unchanged.
func TestIdempotent(t *testing.T) {
	for _, name := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(testdata, name, "want.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Stream(bytes.NewReader(want), goldenOptions(t, name))
			if err != nil {
				t.Fatalf("Stream(want of %s) error: %v", name, err)
			}
			if diff := cmp.Diff(string(want), string(res.Output)); diff != "" {
				t.Errorf("second pass over %s changed the output (-once +twice):\n%s", name, diff)
			}
		})
	}
}

func goldenCases(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(testdata)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(testdata, e.Name(), "input.yaml")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found %d golden cases in %s, want them all", len(names), testdata)
	}
	return names
}

// documents counts the `---` markers of a stream.
func documents(stream []byte) int {
	n := 0
	for line := range strings.Lines(string(stream)) {
		if isMarker([]byte(line)) {
			n++
		}
	}
	return n
}

func TestStreamNamespaceResult(t *testing.T) {
	const (
		inKubeSystem  = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: kube-system}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: kube-system}\n---\n"
		edgeObject    = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: edge, namespace: rel, labels: {tracebloc.io/release-namespace: rel}}\n"
		namespaceless = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
	)
	tests := []struct {
		name  string
		input string
		opts  Options
		want  string
	}{
		{
			name:  "the given namespace wins over the edge chart's",
			input: edgeObject,
			opts:  Options{Namespace: "flag", Fallback: "helm"},
			want:  "flag",
		},
		{
			name:  "the edge chart's label",
			input: inKubeSystem + edgeObject,
			want:  "rel",
		},
		{
			name:  "the edge chart's label wins over the fallback",
			input: namespaceless + "---\n" + edgeObject,
			opts:  Options{Fallback: "helm"},
			want:  "rel",
		},
		{
			name:  "the label on a cluster-scoped object of the edge chart",
			input: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, labels: {tracebloc.io/release-namespace: rel}}\n",
			want:  "rel",
		},
		{
			name:  "the fallback when the edge chart names none",
			input: inKubeSystem + namespaceless,
			opts:  Options{Fallback: "helm"},
			want:  "helm",
		},
		{
			name:  "more objects in kube-system are no hint",
			input: inKubeSystem + namespaceless,
			want:  "",
		},
		{
			name:  "a Namespace object's name is no hint",
			input: "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n",
			want:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Stream(strings.NewReader(tt.input), tt.opts)
			if err != nil {
				t.Fatalf("Stream error: %v", err)
			}
			if res.Namespace != tt.want {
				t.Errorf("Stream(%q).Namespace = %q, want %q", tt.input, res.Namespace, tt.want)
			}
		})
	}
}

// TestStreamUnknownNamespace: with the release namespace unknown, objects and subjects
// without a namespace come out as they went in (Helm applies them into the release
// namespace), and the rest of the edit still happens.
func TestStreamUnknownNamespace(t *testing.T) {
	input := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: kube-system}\n---\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n" +
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: c}\nsubjects:\n- {kind: ServiceAccount, name: s}\n"
	want := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: kube-system, labels: {tracebloc.io/cluster-id: id}}\n---\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, labels: {tracebloc.io/cluster-id: id}}\n---\n" +
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: c, labels: {tracebloc.io/cluster-id: id}}\nsubjects:\n- {kind: ServiceAccount, name: s}\n"
	res, err := Stream(strings.NewReader(input), Options{ClusterID: "id"})
	if err != nil {
		t.Fatalf("Stream error: %v", err)
	}
	if diff := cmp.Diff(want, string(res.Output)); diff != "" {
		t.Errorf("Stream with no release namespace (-want +got):\n%s", diff)
	}
}

func TestStreamEmpty(t *testing.T) {
	for _, input := range []string{"", "\n", "---\n", "# only a comment\n"} {
		res, err := Stream(strings.NewReader(input), Options{Namespace: "x", ClusterID: "y"})
		if err != nil {
			t.Fatalf("Stream(%q) error: %v", input, err)
		}
		if string(res.Output) != input {
			t.Errorf("Stream(%q) = %q, want the input unchanged", input, res.Output)
		}
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		opts    Options
		wantErr []string // substrings of the message
	}{
		{
			name:    "malformed YAML names the Helm 3 source",
			input:   "---\n# Source: edge/templates/ok.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# Source: edge/templates/broken.yaml\napiVersion: v1\nkind: [ConfigMap\n",
			wantErr: []string{"document 2", "edge/templates/broken.yaml", "not valid YAML"},
		},
		{
			name:    "malformed YAML names the Helm 4 file",
			input:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    postrenderer.helm.sh/postrender-filename: 'edge/templates/h4.yaml'\n  bad: : :\n\t- x\n",
			wantErr: []string{"document 1", "edge/templates/h4.yaml"},
		},
		{
			name:    "malformed YAML without a source names the number",
			input:   "apiVersion: v1\nkind: ConfigMap\n---\n\"unterminated\n",
			wantErr: []string{"document 2 is not valid YAML"},
		},
		{
			name:    "two documents in one chunk",
			input:   "apiVersion: v1\nkind: ConfigMap\n...\napiVersion: v1\nkind: Secret\n",
			wantErr: []string{"document 1", "more than one YAML document"},
		},
		{
			name:    "labels that are not a map",
			input:   "# Source: edge/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: [x]\n",
			wantErr: []string{"edge/templates/cm.yaml", "labels is not a map"},
		},
		{
			name:    "metadata that is not a map",
			input:   "apiVersion: v1\nkind: ConfigMap\nmetadata: a-string\n",
			wantErr: []string{"document 1", "metadata is not a map"},
		},
		{
			name: "the edge chart's objects name two release namespaces",
			input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n" +
				"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b, namespace: one, labels: {tracebloc.io/release-namespace: one}}\n---\n" +
				"# Source: edge/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: c, namespace: two, labels: {tracebloc.io/release-namespace: two}}\n",
			opts:    Options{Fallback: "helm"},
			wantErr: []string{"document 3 (edge/templates/sa.yaml)", `two release namespaces in label tracebloc.io/release-namespace, "one" and "two"`, "--namespace"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Fallback == "" {
				opts.Namespace = "edge"
			}
			opts.ClusterID = testClusterID
			res, err := Stream(strings.NewReader(tt.input), opts)
			if err == nil {
				t.Fatalf("Stream(%q) = %q, want an error", tt.input, res.Output)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Stream error = %q, want it to contain %q", err, want)
				}
			}
			if len(res.Output) != 0 {
				t.Errorf("Stream returned %d bytes with the error, want none", len(res.Output))
			}
		})
	}
}

func TestStreamMarkerLines(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{
			name:  "content on the marker line",
			input: "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
			want:  "---\n{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: edge}}\n",
		},
		{
			name:  "a comment on the marker line",
			input: "--- # first\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
			want:  "--- # first\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: edge\n",
		},
		{
			name:  "CRLF markers",
			input: "---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: a, namespace: x}\r\n---\r\n",
			want:  "---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: a, namespace: x}\r\n---\r\n",
		},
		{
			name:  "four dashes are no marker",
			input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata:\n  k: |\n    ----\n",
			want:  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata:\n  k: |\n    ----\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Stream(strings.NewReader(tt.input), Options{Namespace: "edge"})
			if err != nil {
				t.Fatalf("Stream(%q) error: %v", tt.input, err)
			}
			if diff := cmp.Diff(tt.want, string(res.Output)); diff != "" {
				t.Errorf("Stream(%q) mismatch (-want +got):\n%s", tt.input, diff)
			}
		})
	}
}
