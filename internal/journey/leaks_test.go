package journey_test

// The secrets scan of the whole suite: every password, token and device code
// the development backends issued or received, and every machine password a credential
// Secret held, must appear in nothing the suite produced: container logs, Events, the
// annotations and labels of Secrets and pods, Helm's releases and output, the bootstrap
// logs the tests followed, the post-renderer's log and the backends' own logs. TestMain
// runs the scan once every test has ended.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/devbackend"
)

// minSecretLen is the length below which a value is not scanned for: it would match by
// chance.
const minSecretLen = 8

// text is one thing the suite produced, named for the scan's report.
type text struct{ source, body string }

// ledger is what the whole test binary saw: the secrets (value -> kind) and the texts to
// scan for them.
type ledger struct {
	mu      sync.Mutex
	secrets map[string]string
	texts   []text
	worlds  int
}

// suite is the ledger of this test binary.
var suite = &ledger{secrets: map[string]string{}}

// issued is the development backends' Config.Issued.
func (l *ledger) issued(kind, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secrets[value] = kind
}

func (l *ledger) add(source, body string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.texts = append(l.texts, text{source, body})
}

func (l *ledger) addWorld() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.worlds++
}

// report writes the scan's result to w and reports whether it found nothing. Without a
// world (-short, no cluster) there was nothing to scan and it writes nothing.
func (l *ledger) report(w io.Writer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.worlds == 0 {
		return true
	}
	hits := scan(l.secrets, l.texts)
	for _, h := range hits {
		fmt.Fprintln(w, h)
	}
	size := 0
	for _, t := range l.texts {
		size += len(t.body)
	}
	kinds := map[string]int{}
	for v, k := range l.secrets {
		if len(v) >= minSecretLen {
			kinds[k]++
		}
	}
	fmt.Fprintf(w, "secrets scan: %d hits in %d sources (%d bytes) for %d passwords, %d tokens, %d device codes\n",
		len(hits), len(l.texts), size, kinds[devbackend.SecretPassword], kinds[devbackend.SecretToken], kinds[devbackend.SecretDeviceCode])
	return len(hits) == 0
}

// scan returns one line per kind of secret and source it appears in, as is or in base64
// (as a Secret's data shows it). A line names the kind and the source only: never the
// value, nor the text around it.
func scan(secrets map[string]string, texts []text) []string {
	type needle struct{ kind, value, encoded string }
	var needles []needle
	for v, k := range secrets {
		if len(v) >= minSecretLen {
			needles = append(needles, needle{k, v, base64.StdEncoding.EncodeToString([]byte(v))})
		}
	}
	seen := map[string]bool{}
	var hits []string
	for _, t := range texts {
		for _, n := range needles {
			line := "secrets scan: " + n.kind + " found in " + t.source
			if !seen[line] && (strings.Contains(t.body, n.value) || strings.Contains(t.body, n.encoded)) {
				seen[line] = true
				hits = append(hits, line)
			}
		}
	}
	sort.Strings(hits)
	return hits
}

func TestMain(m *testing.M) {
	// The post-renderer's diagnostics: Helm 3 shows its stderr only when it fails, Helm 4
	// never; the variable makes every run also append them to this file.
	dir, err := os.MkdirTemp("", "tracebloc-e2e-postrender-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "secrets scan: temporary folder for the post-renderer's log:", err)
		os.Exit(2)
	}
	postrenderLog := filepath.Join(dir, "postrender.log")
	if err := os.Setenv("TRACEBLOC_POSTRENDER_LOG_FILE", postrenderLog); err != nil {
		fmt.Fprintln(os.Stderr, "secrets scan: set TRACEBLOC_POSTRENDER_LOG_FILE:", err)
		os.Exit(2)
	}
	code := m.Run()
	removeReleases()
	if b, err := os.ReadFile(postrenderLog); err == nil {
		suite.add("post-renderer log", string(b))
	}
	os.RemoveAll(dir)
	if !suite.report(os.Stdout) && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// snapshotAtEnd adds what namespace ns of the world's cluster holds to the suite's ledger
// when the test ends. Register it after the cleanups that delete ns or its credentials:
// cleanups run last-in, first-out.
func (w *world) snapshotAtEnd(ns string) {
	t, c := w.t, w.c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		where := fmt.Sprintf("%s, cluster %s, namespace %s", t.Name(), c.Name, ns)
		if err := snapshot(ctx, w, ns, where); err != nil {
			t.Errorf("secrets scan: snapshot of %s: %v", where, err)
		}
	})
}

func snapshot(ctx context.Context, w *world, ns, where string) error {
	kube := w.c.Client.CoreV1()
	pods, err := kube.Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	for _, p := range pods.Items {
		suite.add(fmt.Sprintf("annotations of pod %s (%s)", p.Name, where), fmt.Sprint(p.Annotations))
		statuses := map[string]corev1.ContainerStatus{}
		for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			statuses[st.Name] = st
		}
		for _, ctr := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			st := statuses[ctr.Name]
			var runs []bool // previous or not
			if st.State.Running != nil || st.State.Terminated != nil {
				runs = append(runs, false)
			}
			if st.LastTerminationState.Terminated != nil {
				runs = append(runs, true)
			}
			for _, previous := range runs {
				name := fmt.Sprintf("log of %s/%s (%s)", p.Name, ctr.Name, where)
				if previous {
					name = "previous " + name
				}
				b, err := kube.Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: ctr.Name, Previous: previous}).DoRaw(ctx)
				if err != nil {
					// e.g. the kubelet removed a restarted init container once the next run
					// succeeded; what the tests followed is in the ledger.
					w.t.Logf("secrets scan: no %s: %s", name, statusMessage(b, err))
					continue
				}
				suite.add(name, string(b))
			}
		}
	}
	events, err := kube.Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	var story strings.Builder
	for _, ev := range events.Items {
		o := ev.InvolvedObject
		fmt.Fprintf(&story, "%s %s/%s %s: %s: %s\n", o.Kind, o.Namespace, o.Name, o.FieldPath, ev.Reason, ev.Message)
	}
	suite.add("events ("+where+")", story.String())
	secrets, err := kube.Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range secrets.Items {
		suite.add(fmt.Sprintf("labels and annotations of Secret %s (%s)", s.Name, where), fmt.Sprint(s.Labels, s.Annotations))
		if s.Labels["tracebloc.io/credential"] == "true" && len(s.Data["CLIENT_PASSWORD"]) > 0 {
			suite.issued(devbackend.SecretPassword, string(s.Data["CLIENT_PASSWORD"])) // expected there only
		}
		if s.Labels["owner"] == "helm" {
			rel, err := releaseText(s.Data["release"])
			if err != nil {
				return fmt.Errorf("release Secret %s: %w", s.Name, err)
			}
			suite.add(fmt.Sprintf("Helm release %s (%s)", s.Name, where), rel)
		}
	}
	return nil
}

// statusMessage is the message of the API server's answer to a failed log request, which
// client-go reports as "an unknown reason".
func statusMessage(body []byte, err error) string {
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return st.Message
	}
	return err.Error()
}

// releaseText returns a Helm release Secret's payload (base64 of gzip of JSON) as plain
// text: every string of the release (manifest, hooks, values, notes) and the chart's files,
// whose bytes the JSON holds in base64. Left encoded, they would hide a leak.
func releaseText(payload []byte) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(string(payload))
	if err != nil {
		return "", fmt.Errorf("decode base64: %w", err)
	}
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) { // Helm compresses, except in old releases
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return "", fmt.Errorf("decompress: %w", err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return "", fmt.Errorf("decompress: %w", err)
		}
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return "", fmt.Errorf("decode JSON: %w", err)
	}
	var files struct {
		Chart struct {
			Templates, Files []struct {
				Name string `json:"name"`
				Data []byte `json:"data"`
			}
			Schema []byte `json:"schema"`
		} `json:"chart"`
	}
	if err := json.Unmarshal(raw, &files); err != nil {
		return "", fmt.Errorf("decode the chart's files: %w", err)
	}
	var b strings.Builder
	flatten(&b, "", tree)
	for _, f := range append(files.Chart.Templates, files.Chart.Files...) {
		fmt.Fprintf(&b, "%s:\n%s\n", f.Name, f.Data)
	}
	b.Write(files.Chart.Schema)
	return b.String(), nil
}

// flatten writes every key and value of a decoded JSON document, one per line.
func flatten(b *strings.Builder, path string, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			flatten(b, path+"."+k, v[k])
		}
	case []any:
		for i, e := range v {
			flatten(b, fmt.Sprintf("%s[%d]", path, i), e)
		}
	default:
		fmt.Fprintf(b, "%s: %v\n", path, v)
	}
}

// helmPayload encodes a release as Helm stores it in a Secret's data["release"], before
// the API's own base64: base64 of gzip of JSON.
func helmPayload(t *testing.T, release any) []byte {
	t.Helper()
	js, err := json.Marshal(release)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(js); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(gz.Bytes()))
}

func TestScan(t *testing.T) {
	const (
		password   = "pw-0123456789abcdef"
		token      = "tok-ABCDEFGHIJKLMNOP"
		deviceCode = "dc-qrstuvwxyz012345"
	)
	secrets := map[string]string{
		password:   devbackend.SecretPassword,
		token:      devbackend.SecretToken,
		deviceCode: devbackend.SecretDeviceCode,
		"tiny":     devbackend.SecretToken, // too short to scan for
	}
	release := func(t *testing.T, values map[string]any, template []byte) string {
		t.Helper()
		payload := helmPayload(t, map[string]any{
			"name": "edge", "manifest": "kind: Deployment\n", "config": values,
			"info":  map[string]any{"notes": "kubectl logs -n tracebloc deploy/edge -c bootstrap -f"},
			"chart": map[string]any{"templates": []map[string]any{{"name": "templates/secret.yaml", "data": template}}},
		})
		if hits := scan(secrets, []text{{"the encoded release", string(payload)}}); len(hits) != 0 {
			t.Fatalf("scan(the encoded release) = %v, want no hit: the planted value must be hidden by the encoding", hits)
		}
		rel, err := releaseText(payload)
		if err != nil {
			t.Fatalf("releaseText: %v", err)
		}
		return rel
	}
	tests := []struct {
		name  string
		texts func(t *testing.T) []text
		want  []string
	}{
		{
			name: "nothing secret",
			texts: func(*testing.T) []text {
				return []text{{"log of edge-1/bootstrap", "TRACEBLOC ACTIVATION code WDJB-MJHT tiny"}}
			},
		},
		{
			name: "container log",
			texts: func(*testing.T) []text {
				return []text{{"log of edge-1/bootstrap", "level=debug password=" + password + " sent"}}
			},
			want: []string{"secrets scan: password found in log of edge-1/bootstrap"},
		},
		{
			name: "previous container log",
			texts: func(*testing.T) []text {
				return []text{{"previous log of edge-1/bootstrap", `{"device_code":"` + deviceCode + `"}`}}
			},
			want: []string{"secrets scan: device code found in previous log of edge-1/bootstrap"},
		},
		{
			name: "events",
			texts: func(*testing.T) []text {
				return []text{{"events", "Pod ns/edge-1 : Enrolled: token " + token}}
			},
			want: []string{"secrets scan: token found in events"},
		},
		{
			name: "annotations",
			texts: func(*testing.T) []text {
				return []text{{"labels and annotations of Secret edge-credentials", "map[tracebloc.io/last:" + password + "]"}}
			},
			want: []string{"secrets scan: password found in labels and annotations of Secret edge-credentials"},
		},
		{
			name: "a Secret's data dumped in base64",
			texts: func(*testing.T) []text {
				return []text{{"helm output", "data:\n  CLIENT_PASSWORD: " + base64.StdEncoding.EncodeToString([]byte(password))}}
			},
			want: []string{"secrets scan: password found in helm output"},
		},
		{
			name: "Helm release values",
			texts: func(t *testing.T) []text {
				return []text{{"Helm release", release(t, map[string]any{"credential": map[string]any{"password": password}}, nil)}}
			},
			want: []string{"secrets scan: password found in Helm release"},
		},
		{
			name: "Helm release chart file",
			texts: func(t *testing.T) []text {
				return []text{{"Helm release", release(t, nil, []byte("token: "+token))}}
			},
			want: []string{"secrets scan: token found in Helm release"},
		},
		{
			name: "every kind, twice, in several sources",
			texts: func(*testing.T) []text {
				return []text{
					{"development backend log", token + " " + token + " " + deviceCode},
					{"post-renderer log", password},
					{"bootstrap logs followed", "clean"},
				}
			},
			want: []string{
				"secrets scan: device code found in development backend log",
				"secrets scan: password found in post-renderer log",
				"secrets scan: token found in development backend log",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scan(secrets, tc.texts(t))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scan (-want +got):\n%s", diff)
			}
			for _, line := range got {
				for v := range secrets {
					if strings.Contains(line, v) {
						t.Errorf("scan line %q contains a secret value", line)
					}
				}
			}
		})
	}
}
