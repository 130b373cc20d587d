package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const stream = `---
# Source: edge/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: edge
`

// runPR runs the post-renderer as Helm would, with a clean environment of settings.
func runPR(t *testing.T, input string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(input), &out, &errOut)
	return out.String(), errOut.String(), err
}

func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TRACEBLOC_POSTRENDER_") || name == "HELM_NAMESPACE" || name == "HELM_KUBECONTEXT" {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	// No kubeconfig to stumble on: a cluster is reached only where a test says so.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HOME", t.TempDir())
}

// unreachableKubeconfig writes a kubeconfig whose server is a closed loopback port.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	return kubeconfigAt(t, "https://127.0.0.1:1")
}

// kubeconfigAt writes a kubeconfig for the API server at server, a loopback URL.
func kubeconfigAt(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: closed
  cluster:
    server: ` + server + `
    insecure-skip-tls-verify: true
contexts:
- name: closed
  context: {cluster: closed, user: u, namespace: from-context}
current-context: closed
users:
- name: u
  user: {token: not-a-real-token}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		args    []string
		wantErr []string
	}{
		{
			name:    "unknown flag",
			input:   stream,
			args:    []string{"--offline", "--bogus"},
			wantErr: []string{"usage", "-bogus"},
		},
		{
			name:    "a positional argument",
			input:   stream,
			args:    []string{"--offline", "extra"},
			wantErr: []string{`unexpected argument "extra"`},
		},
		{
			name:    "malformed YAML",
			input:   stream + "---\n# Source: edge/templates/broken.yaml\nkind: {\n",
			args:    []string{"--offline", "--namespace", "edge"},
			wantErr: []string{"document 2 (edge/templates/broken.yaml) is not valid YAML"},
		},
		{
			name:    "malformed YAML after documents that waited for the namespace",
			input:   stream + stream + "---\n# Source: edge/templates/broken.yaml\nkind: {\n",
			args:    []string{"--offline"},
			wantErr: []string{"document 3 (edge/templates/broken.yaml) is not valid YAML"},
		},
		{
			name:    "unreachable cluster without --offline",
			input:   stream,
			args:    []string{"--kubeconfig", "KUBECONFIG"},
			wantErr: []string{"127.0.0.1:1", "--offline"},
		},
		{
			name:    "unreachable cluster, cluster id given",
			input:   stream,
			args:    []string{"--kubeconfig", "KUBECONFIG", "--cluster-id", "abc"},
			wantErr: []string{"127.0.0.1:1", "--offline"},
		},
		{
			name:    "no kubeconfig without --offline",
			input:   stream,
			args:    nil,
			wantErr: []string{"load the kubeconfig", "--offline"},
		},
		{
			name:    "a cluster id that is no label value",
			input:   stream,
			args:    []string{"--offline", "--cluster-id", "not a label!"},
			wantErr: []string{"--cluster-id", "not a valid label value"},
		},
		{
			name:    "an image list that is not there",
			input:   stream,
			args:    []string{"--offline", "--images", "/nonexistent/images.yaml"},
			wantErr: []string{"read --images"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			kubeconfig := unreachableKubeconfig(t)
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "KUBECONFIG", kubeconfig)
			}
			stdout, _, err := runPR(t, tt.input, args...)
			if err == nil {
				t.Fatalf("run(%q) succeeded, want an error", args)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("run(%q) error = %q, want it to contain %q", args, err, want)
				}
			}
			if stdout != "" {
				t.Errorf("run(%q) wrote %q to stdout with an error, want nothing", args, stdout)
			}
		})
	}
}

func TestRunEmptyInput(t *testing.T) {
	clearEnv(t)
	// Not --offline and no reachable cluster: empty input must not even ask.
	stdout, _, err := runPR(t, "", "--kubeconfig", unreachableKubeconfig(t))
	if err != nil || stdout != "" {
		t.Errorf("run(empty) = %q, %v; want empty output and no error", stdout, err)
	}
}

// edgeStream is an object of the edge chart: the chart names the release namespace in a label.
const edgeStream = `---
# Source: edge/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: edge-bootstrap
  namespace: tracebloc
  labels:
    tracebloc.io/release-namespace: tracebloc
`

// kubeSystemStream has more objects in kube-system than anywhere else, and one with no
// namespace, which Helm applies into the release namespace.
const kubeSystemStream = stream + `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
  namespace: kube-system
`

func TestRunOffline(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		args       []string
		env        map[string]string
		want       string
		wantStderr string
	}{
		{
			name:       "no cluster id: no label, said on stderr",
			args:       []string{"--offline", "--namespace", "edge"},
			want:       "---\n# Source: edge/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edge\n  namespace: edge\n",
			wantStderr: "offline: no cluster access, so no guard and no tracebloc.io/cluster-id label",
		},
		{
			name:       "cluster id given",
			args:       []string{"--offline", "--namespace=edge", "--cluster-id=abc"},
			want:       "---\n# Source: edge/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edge\n  namespace: edge\n  labels:\n    tracebloc.io/cluster-id: abc\n",
			wantStderr: "offline: no cluster access, so no guard; labelling with the given cluster id",
		},
		{
			name: "settings from the environment",
			env: map[string]string{
				"TRACEBLOC_POSTRENDER_OFFLINE":    "true",
				"TRACEBLOC_POSTRENDER_NAMESPACE":  "from-env",
				"TRACEBLOC_POSTRENDER_CLUSTER_ID": "env-id",
			},
			want:       "---\n# Source: edge/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edge\n  namespace: from-env\n  labels:\n    tracebloc.io/cluster-id: env-id\n",
			wantStderr: "offline",
		},
		{
			name: "a flag wins over its variable",
			args: []string{"--namespace", "from-flag"},
			env: map[string]string{
				"TRACEBLOC_POSTRENDER_OFFLINE":   "true",
				"TRACEBLOC_POSTRENDER_NAMESPACE": "from-env",
			},
			want:       "---\n# Source: edge/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edge\n  namespace: from-flag\n",
			wantStderr: "offline",
		},
		{
			name:       "HELM_NAMESPACE when the chart names none",
			args:       []string{"--offline"},
			env:        map[string]string{"HELM_NAMESPACE": "from-helm"},
			want:       "---\n# Source: edge/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edge\n  namespace: from-helm\n",
			wantStderr: "offline",
		},
		{
			name:       "never the kubeconfig context's namespace: Helm may install elsewhere",
			args:       []string{"--offline", "--kubeconfig", "KUBECONFIG"},
			want:       stream,
			wantStderr: "offline",
		},
		{
			name:       "the edge chart's label wins over HELM_NAMESPACE",
			input:      stream + edgeStream,
			args:       []string{"--offline"},
			env:        map[string]string{"HELM_NAMESPACE": "from-helm"},
			want:       "---\n# Source: edge/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edge\n  namespace: tracebloc\n" + edgeStream,
			wantStderr: "offline",
		},
		{
			name:       "more objects in kube-system, no HELM_NAMESPACE: left to Helm",
			input:      kubeSystemStream,
			args:       []string{"--offline"},
			want:       kubeSystemStream,
			wantStderr: "no release namespace known",
		},
		{
			name:       "more objects in kube-system, HELM_NAMESPACE",
			input:      kubeSystemStream,
			args:       []string{"--offline"},
			env:        map[string]string{"HELM_NAMESPACE": "from-helm"},
			want:       strings.Replace(kubeSystemStream, "  name: edge\n", "  name: edge\n  namespace: from-helm\n", 1),
			wantStderr: "offline",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			kubeconfig := unreachableKubeconfig(t)
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "KUBECONFIG", kubeconfig)
			}
			input := tt.input
			if input == "" {
				input = stream
			}
			stdout, stderr, err := runPR(t, input, args...)
			if err != nil {
				t.Fatalf("run(%q) error: %v", args, err)
			}
			if stdout != tt.want {
				t.Errorf("run(%q) stdout = %q, want %q", args, stdout, tt.want)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("run(%q) stderr = %q, want it to contain %q", args, stderr, tt.wantStderr)
			}
		})
	}
}

func TestRunLogFile(t *testing.T) {
	clearEnv(t)
	logFile := filepath.Join(t.TempDir(), "postrender.log")
	_, _, err := runPR(t, stream+"---\nkind: [\n", "--offline", "--log-file", logFile)
	if err == nil {
		t.Fatal("run(malformed) succeeded, want an error")
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"offline", "document 2 is not valid YAML"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("log file = %q, want it to contain %q", data, want)
		}
	}
}

func TestRunVersion(t *testing.T) {
	clearEnv(t)
	stdout, _, err := runPR(t, "", "--version")
	if err != nil || !strings.HasPrefix(stdout, "tracebloc-postrender ") {
		t.Errorf("run(--version) = %q, %v; want the version", stdout, err)
	}
}

func TestRunBuiltInPins(t *testing.T) {
	clearEnv(t)
	// The built-in list parses; its placeholder digests pin nothing.
	in := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n  - {name: a, image: 'docker.io/tracebloc/jobs-manager:prod'}\n"
	stdout, _, err := runPR(t, in, "--offline")
	if err != nil {
		t.Fatalf("run error: %v", err)
	}
	if stdout != in {
		t.Errorf("run = %q, want the input unchanged", stdout)
	}
}

// FuzzRun feeds arbitrary streams through the whole stdin-to-stdout path: it never panics,
// and an error never comes with output.
func FuzzRun(f *testing.F) {
	for _, seed := range []string{
		"", stream, "---\n---\n", "# c\n", "kind: [\n", stream + "---\nkind: [\n", "apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: null\n", "a: &x 1\nb: *x\n", "--- |\n  text\n",
		"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: nginx\n",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nsubjects:\n- kind: ServiceAccount\n",
	} {
		f.Add(seed)
	}
	clearEnvF(f)
	f.Fuzz(func(t *testing.T, input string) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"--offline", "--cluster-id", "id", "--namespace", "ns"},
			strings.NewReader(input), &out, &errOut)
		if err != nil && out.Len() > 0 {
			t.Fatalf("run(%q) wrote %q with error %v", input, out.String(), err)
		}
		if err == nil && input != "" && out.Len() == 0 {
			t.Fatalf("run(%q) succeeded with no output", input)
		}
	})
}

func clearEnvF(f *testing.F) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TRACEBLOC_POSTRENDER_") || name == "HELM_NAMESPACE" {
			f.Setenv(name, "")
		}
	}
}
