package chart_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/tracebloc/edge/chart"
	"github.com/tracebloc/edge/internal/chartdeps"
)

// TestSchemaRejects: typos and wrong types stop the install with the path of the key and
// what is wrong with it.
func TestSchemaRejects(t *testing.T) {
	for _, tt := range schemaRejects() {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderValues(t, tt.values)
			if err == nil {
				t.Fatalf("values\n%s\nrendered; want a schema error", tt.values)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// schemaRejects are values the schema refuses, and what the error says.
func schemaRejects() []struct {
	name, values string
	want         []string
} {
	return []struct {
		name, values string
		want         []string
	}{
		{"unknown top-level key", "hostNetwrok: true\n", []string{"at '': additional properties 'hostNetwrok' not allowed"}},
		{"unknown nested key", "bootstrap: {logLevl: debug}\n", []string{"at '/bootstrap': additional properties 'logLevl' not allowed"}},
		{"unknown key in a list item", "tolerations: [{key: a, operater: Exists}]\n", []string{"at '/tolerations/0': additional properties 'operater' not allowed"}},
		{"boolean as a string", "hostNetwork: \"yes\"\n", []string{"at '/hostNetwork': got string, want boolean"}},
		{"object as a string", "backend: http://proxy:3128\n", []string{"at '/backend': got string, want object"}},
		{"number as a string", "offboarding: {backoffLimit: \"2\"}\n", []string{"at '/offboarding/backoffLimit': got string, want integer"}},
		{"client as a string", "client: 'yes'\n", []string{"at '/client': got string, want object"}},
		{"client enabled as a string", "client: {enabled: 'no'}\n", []string{"at '/client/enabled': got string, want boolean"}},
		{"the old client name", "client: {name: lab, enabled: false}\nnewClient: {nam: lab}\n", []string{"at '/newClient': additional properties 'nam' not allowed"}},
		{"migrate from a release with a dot", "migrateFrom: {release: my.client}\n", []string{"at '/migrateFrom/release': 'my.client' does not match pattern"}},
		{"image registry with a scheme", "global: {imageRegistry: 'https://mirror'}\n", []string{"at '/global/imageRegistry': 'https://mirror' does not match pattern"}},
		{"removed workload values", "image: {repository: x}\nworkload: {args: [a]}\nreplicas: 2\nproxy: {httpsProxy: 'http://p'}\n", []string{"at '': additional properties ", "'image'", "'proxy'", "'replicas'", "'workload'", " not allowed"}},
		{"backend env", "backend: {env: production}\n", []string{"at '/backend/env': value must be one of 'dev', 'stg', 'prod'"}},
		{"log format", "bootstrap: {logFormat: text}\n", []string{"at '/bootstrap/logFormat': value must be one of 'console', 'json'"}},
		{"pull policy", "bootstrap: {image: {pullPolicy: always}}\n", []string{"at '/bootstrap/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"}},
		{"secret name", "credentialSecret: {name: My_Secret}\n", []string{"at '/credentialSecret/name': 'My_Secret' does not match pattern"}},
		{"cluster id", "clusterId: my-cluster\n", []string{"at '/clusterId': 'my-cluster' does not match pattern"}},
		{"global cluster id", "global: {clusterId: NOT-A-UID}\n", []string{"at '/global/clusterId': 'NOT-A-UID' does not match pattern"}},
		{"digest", "bootstrap: {image: {digest: 'abc123'}}\n", []string{"at '/bootstrap/image/digest': 'abc123' does not match pattern"}},
		{"duration", "bootstrap: {resetWindow: 10 minutes}\n", []string{"at '/bootstrap/resetWindow': '10 minutes' does not match pattern"}},
		{"backend url", "backend: {url: api.tracebloc.io}\n", []string{"at '/backend/url': 'api.tracebloc.io' does not match pattern"}},
		{"env var without name", "bootstrap: {extraEnv: [{value: x}]}\n", []string{"at '/bootstrap/extraEnv/0': missing property 'name'"}},
		{"verification host with a scheme", "backend: {verificationHosts: ['https://login.example.com']}\n", []string{"at '/backend/verificationHosts/0': 'https://login.example.com' does not match pattern"}},
		{"verification hosts as a string", "backend: {verificationHosts: login.example.com}\n", []string{"at '/backend/verificationHosts': got string, want array"}},
		{"empty cluster domain", "clusterDomain: ''\n", []string{"at '/clusterDomain': minLength: got 0, want 1"}},
		{"cluster domain with a dot first", "clusterDomain: .cluster.local\n", []string{"at '/clusterDomain': '.cluster.local' does not match pattern"}},
		{"admission policy as a string", "admissionPolicy: {enabled: 'no'}\n", []string{"at '/admissionPolicy/enabled': got string, want boolean"}},
	}
}

// TestTemplateRejects: combinations the schema cannot express, and a credential in the
// values, fail with a sentence that says what to do (and never repeats the credential).
func TestTemplateRejects(t *testing.T) {
	for _, tt := range templateRejects() {
		t.Run(tt.name, func(t *testing.T) {
			for _, off := range []bool{false, true} {
				values := tt.values
				if off {
					values = clientOff(t, values)
				}
				_, err := renderValues(t, values)
				switch {
				case off && tt.clientOnly && err != nil:
					t.Errorf("render with client.enabled=false: %v, want no error", err)
				case (!off || !tt.clientOnly) && (err == nil || !strings.Contains(err.Error(), tt.want)):
					t.Errorf("render error = %v, want one containing %q", err, tt.want)
				}
				if err != nil && strings.Contains(err.Error(), secretValue) {
					t.Errorf("render error repeats the credential of the values: %v", err)
				}
			}
		})
	}
}

// secretValue is a credential a person might put into the values by mistake.
const secretValue = "0f6c1c9e-not-for-printing"

// templateReject is one refusal of the templates; clientOnly ones pass with client.enabled=false.
type templateReject struct {
	name, values, want string
	clientOnly         bool
}

func templateRejects() []templateReject {
	return []templateReject{
		{"CA from both", "backend: {caBundle: {configMapName: a, secretName: b}}\n", "backend.caBundle: set configMapName or secretName, not both", false},
		{"legacy is the credential", "legacySecret: {name: edge-credentials}\n", `legacySecret.name (or migrateFrom.release's <release>-secrets) is the credential Secret itself ("edge-credentials")`, false},
		{"migrating from the credential", "migrateFrom: {release: edge}\ncredentialSecret: {name: edge-secrets}\n", `is the credential Secret itself ("edge-secrets")`, false},
		{"legacy is this release's client Secret", "legacySecret: {name: edge-secrets}\n", `legacySecret.name is "edge-secrets", the Secret this release's client chart renders`, true},
		{"two cluster ids", "clusterId: " + clusterID + "\nglobal: {clusterId: 00000000-0000-0000-0000-000000000000}\n", "global.clusterId (00000000-0000-0000-0000-000000000000) and clusterId (" + clusterID + ") differ", false},
		{"a client id in values", "client: {clientId: " + secretValue + "}\n", "client.clientId is set: the edge never takes a credential in values", false},
		{"a client password in values", "client: {clientPassword: " + secretValue + "}\n", "client.clientPassword is set: the edge never takes a credential in values", false},
		{"an empty client password", "client: {clientPassword: ''}\n", "client.clientPassword is set: the edge never takes a credential in values", false},
		{"adopting is the way", "client: {clientId: " + secretValue + "}\n", "To adopt an existing client set migrateFrom.release (a tracebloc/client release in this namespace) or legacySecret.name", false},
		{"auto upgrade", "client: {autoUpgrade: {enabled: true}}\n", "client.autoUpgrade.enabled: the client chart's upgrade CronJob runs `helm upgrade` with the tracebloc/client chart and no post-renderer", false},
	}
}

// TestSchemaIsStrictAndDocumented walks values.schema.json: every object forbids unknown
// keys (except the shared global and the free-form Kubernetes structures listed here), and
// every named property has a description. And values.yaml sets every property the schema knows,
// so that each one is documented there.
func TestSchemaIsStrictAndDocumented(t *testing.T) {
	raw, err := fs.ReadFile(chart.Files(), "values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	// Free-form on purpose: Kubernetes types the chart passes through, and maps of strings.
	open := map[string]bool{
		"/global": true, "/affinity/nodeAffinity": true, "/affinity/podAffinity": true, "/affinity/podAntiAffinity": true,
		"/bootstrap/extraEnv/*/valueFrom": true,
		// The client chart's values: its own schema checks them.
		"/client": true, "/client/autoUpgrade": true,
	}
	var walk func(path string, s map[string]any, named bool)
	walk = func(path string, s map[string]any, named bool) {
		if named {
			if d, _ := s["description"].(string); d == "" {
				t.Errorf("%s: no description", path)
			}
		}
		if s["type"] == "object" && !open[path] {
			ap, has := s["additionalProperties"]
			if !has {
				t.Errorf("%s: additionalProperties is not set", path)
			} else if ap == true {
				t.Errorf("%s: additionalProperties is true", path)
			}
		}
		if props, ok := s["properties"].(map[string]any); ok {
			for k, v := range props {
				walk(path+"/"+k, v.(map[string]any), true)
			}
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(path+"/*", items, false)
		}
	}
	walk("", schema, false)

	valuesRaw, err := fs.ReadFile(chart.Files(), "values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(valuesRaw, &values); err != nil {
		t.Fatal(err)
	}
	var missing []string
	var cover func(path string, s map[string]any, v map[string]any)
	cover = func(path string, s map[string]any, v map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, sub := range props {
			val, ok := v[k]
			if !ok {
				missing = append(missing, path+k)
				continue
			}
			// An empty map (resources: {}) documents its structure in a comment.
			if m, ok := val.(map[string]any); ok && len(m) > 0 {
				cover(path+k+".", sub.(map[string]any), m)
			}
		}
	}
	cover("", schema, values)
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("values.yaml does not set (and so does not document) %v", missing)
	}
}

// TestLint runs `helm lint` (the library) on a copy of the chart with its dependency in
// charts/ (without it, on a plain clone, the copy has no dependency and the client off),
// with the defaults and with edge-case values: not one message, of any severity.
func TestLint(t *testing.T) {
	kube, err := chartutil.ParseKubeVersion("v1.34.4")
	if err != nil {
		t.Fatal(err)
	}
	dir, withClient := chartdeps.Dir(t)
	for _, vc := range valueCases() {
		t.Run(vc.name, func(t *testing.T) {
			values := merge(t, clientPlatform, vc.values)
			if !withClient {
				values = clientOff(t, vc.values)
			}
			vals, err := chartutil.ReadValues([]byte(values))
			if err != nil {
				t.Fatal(err)
			}
			linter := lint.AllWithKubeVersion(dir, vals, namespace, kube)
			for _, m := range linter.Messages {
				t.Errorf("helm lint: %s", m)
			}
			if linter.HighestSeverity != support.UnknownSev {
				t.Errorf("helm lint highest severity = %d, want none", linter.HighestSeverity)
			}
		})
	}
}

// TestPodSecurityRestricted evaluates every pod the chart starts with the Pod Security
// admission library, level restricted, latest version: all admitted. hostNetwork is the one
// exception (the local test cluster exempts a RuntimeClass for it); the evaluator must say so.
func TestPodSecurityRestricted(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, vc := range valueCases() {
		t.Run(vc.name, func(t *testing.T) {
			hostNetwork := strings.Contains(vc.values, "hostNetwork: true")
			for _, p := range render(t, vc.values).bootstrapPods() {
				res := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &p.meta, p.spec))
				switch {
				case hostNetwork && res.Allowed:
					t.Errorf("%s: admitted with hostNetwork; want a host namespaces violation", p.name)
				case hostNetwork && res.ForbiddenReason() != "host namespaces":
					t.Errorf("%s: forbidden for %q (%s); want only host namespaces", p.name, res.ForbiddenReason(), res.ForbiddenDetail())
				case !hostNetwork && !res.Allowed:
					t.Errorf("%s: Pod Security restricted forbids it: %s: %s", p.name, res.ForbiddenReason(), res.ForbiddenDetail())
				}
			}
		})
	}
}

// TestEmbeddedFilesMatchDirectory: Files() holds exactly what Helm packages from this
// directory (so a new template cannot be forgotten in the embed list), and the packaged
// chart carries no Go files or test data.
func TestEmbeddedFilesMatchDirectory(t *testing.T) {
	ch, err := loader.LoadDir(".")
	if err != nil {
		t.Fatalf("helm's loader on the chart directory: %v", err)
	}
	var packaged []string
	for _, f := range ch.Raw {
		// The dependency `helm dependency update chart/` fetches is not embedded.
		if !strings.HasPrefix(f.Name, "charts/") {
			packaged = append(packaged, f.Name)
		}
	}
	sort.Strings(packaged)
	for _, name := range packaged {
		if strings.HasSuffix(name, ".go") || strings.HasPrefix(name, "testdata/") {
			t.Errorf("the packaged chart holds %s: add it to .helmignore", name)
		}
	}
	var embedded []string
	err = fs.WalkDir(chart.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			embedded = append(embedded, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(embedded)
	if diff := cmp.Diff(packaged, embedded); diff != "" {
		t.Errorf("embedded files differ from the packaged chart (-packaged +embedded): fix the //go:embed line in embed.go\n%s", diff)
	}
	for _, name := range embedded {
		onDisk, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatal(err)
		}
		inBinary, _ := fs.ReadFile(chart.Files(), name)
		if string(onDisk) != string(inBinary) {
			t.Errorf("%s: the embedded copy differs from the file", name)
		}
	}
}
