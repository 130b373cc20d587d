package wiring

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/tracebloc/edge/internal/yamlnode"
)

// withTrust is the fixture as the edge chart renders it with backend.caBundle: the
// bootstrap's emptyDir among the volumes, and spec.trust.
func withTrust(t testing.TB) string {
	t.Helper()
	const vols = "  volumes:\n    - name: bootstrap-tmp\n      emptyDir:\n        sizeLimit: 16Mi\n"
	in := fixture(t)
	if !strings.Contains(in, vols) {
		t.Fatal("the fixture's wiring object changed: fix the test")
	}
	return strings.Replace(in, vols, vols+"    - name: bootstrap-trust\n      emptyDir: {}\n"+
		"  trust:\n    volume: bootstrap-trust\n    mountPath: /etc/tracebloc/trust\n    file: ca-certificates.crt\n", 1)
}

// TestWireTrust: with spec.trust, every container that reads the credential mounts the CA
// bundle and has the three variables pointing at it; the jobs-manager from the bootstrap's
// volume, the resource-monitor from the node-agents copy of the credential. Nothing else
// changes.
func TestWireTrust(t *testing.T) {
	res, w, err := render(t, withTrust(t))
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	var b bytes.Buffer
	for _, x := range w.Wired() {
		fmt.Fprintf(&b, "%s: %s\n", x.Object, x.What)
	}
	golden(t, "wired-trust.txt", b.Bytes())

	nodes, err := kio.FromBytes(res.Output)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // workload -> the volume its credential readers mount
		"Deployment edge-jobs-manager":    "bootstrap-trust",
		"DaemonSet edge-resource-monitor": "tracebloc-trust",
	}
	seen := 0
	for _, n := range nodes {
		id := n.GetKind() + " " + n.GetName()
		volume, ok := want[id]
		pod := n.YNode()
		containers := path(pod, "spec", "template", "spec", "containers")
		for _, c := range items(containers) {
			reads := readsEdgeCredential(c, "edge-credentials")
			mounted := mountsAt(c, volume, "/etc/tracebloc/trust")
			if !ok || !reads {
				if hasAnyTrustVariable(c) {
					t.Errorf("%s container %s got the trust variables, and it does not read the credential", id, scalar(yamlnode.Field(c, "name")))
				}
				continue
			}
			seen++
			if !mounted {
				t.Errorf("%s container %s does not mount %s at /etc/tracebloc/trust", id, scalar(yamlnode.Field(c, "name")), volume)
			}
			for _, v := range trustVariables {
				if got := envValue(c, v); got != "/etc/tracebloc/trust/ca-certificates.crt" {
					t.Errorf("%s container %s: %s = %q", id, scalar(yamlnode.Field(c, "name")), v, got)
				}
			}
		}
		if id == "DaemonSet edge-resource-monitor" {
			var vol *yaml.Node
			for _, v := range items(path(pod, "spec", "template", "spec", "volumes")) {
				if scalar(yamlnode.Field(v, "name")) == "tracebloc-trust" {
					vol = v
				}
			}
			if scalar(path(vol, "secret", "secretName")) != "edge-credentials" || scalar(yamlnode.Field(items(path(vol, "secret", "items"))[0], "key")) != "ca-certificates.crt" {
				t.Errorf("resource-monitor's trust volume = %v, want the copy's ca-certificates.crt", vol)
			}
		}
	}
	if seen != 3 {
		t.Errorf("%d containers read the credential, want 3 (api, pods-monitor-container, resource-monitor)", seen)
	}

	// Without spec.trust the output is today's: the golden of TestWire.
	plain, _, err := render(t, fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plain.Output, []byte("SSL_CERT_FILE")) {
		t.Error("without spec.trust the stream got the trust variables")
	}
}

func mountsAt(c *yaml.Node, volume, dir string) bool {
	for _, m := range items(yamlnode.Field(c, "volumeMounts")) {
		if scalar(yamlnode.Field(m, "name")) == volume && scalar(yamlnode.Field(m, "mountPath")) == dir && scalar(yamlnode.Field(m, "readOnly")) == "true" {
			return true
		}
	}
	return false
}

func envValue(c *yaml.Node, name string) string {
	got := ""
	for _, e := range items(yamlnode.Field(c, "env")) {
		if scalar(yamlnode.Field(e, "name")) == name {
			if got != "" {
				return "(twice)"
			}
			got = scalar(yamlnode.Field(e, "value"))
		}
	}
	return got
}

func hasAnyTrustVariable(c *yaml.Node) bool {
	for _, v := range trustVariables {
		if envValue(c, v) != "" {
			return true
		}
	}
	return false
}

// TestTrustRefusals: a spec.trust the edge chart would not write is refused by name.
func TestTrustRefusals(t *testing.T) {
	for _, tt := range []struct{ name, from, to, want string }{
		{"volume not among spec.volumes", "    volume: bootstrap-trust\n", "    volume: elsewhere\n", `spec.trust.volume is "elsewhere", not one of spec.volumes`},
		{"relative mount path", "mountPath: /etc/tracebloc/trust\n", "mountPath: etc/trust\n", "spec.trust.mountPath"},
		{"unclean mount path", "mountPath: /etc/tracebloc/trust\n", "mountPath: /etc/../trust\n", "spec.trust.mountPath"},
		{"another file", "file: ca-certificates.crt\n", "file: other.pem\n", "spec.trust.file"},
		{"not a map", "  trust:\n    volume: bootstrap-trust\n", "  trust: [x]\n  notrust:\n    volume: bootstrap-trust\n", "spec.trust is not a map"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := withTrust(t)
			edited := strings.Replace(in, tt.from, tt.to, 1)
			if edited == in {
				t.Fatal("the edit changed nothing: fix the test")
			}
			res, _, err := render(t, edited)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if len(res.Output) != 0 {
				t.Error("wrote output with the error")
			}
		})
	}
}
