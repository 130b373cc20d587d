package wiring

import (
	"fmt"
	"strings"
	"testing"
)

// TestRefusals checks each refusal on an edited copy of the fixture: the error names what
// was found and the next step, and nothing is written.
func TestRefusals(t *testing.T) {
	leftover := `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: other
  namespace: tracebloc
spec:
  template:
    spec:
      containers:
      - name: c
        envFrom:
        - secretRef:
            name: edge-secrets
`
	tests := []struct {
		name  string
		edit  func(string) string
		wants []string
	}{
		{
			name: "unknown client chart version",
			edit: func(s string) string {
				return strings.Replace(s, "helm.sh/chart: client-1.9.62", "helm.sh/chart: client-1.10.0", 1)
			},
			wants: []string{"Secret tracebloc/edge-secrets of chart client-1.10.0", "wires client-1.9.62 only", "keep the edge chart's client dependency at 1.9.62"},
		},
		{
			name: "the wiring object asks for another client chart",
			edit: func(s string) string {
				return strings.Replace(s, "clientChart: client-1.9.62", "clientChart: client-2.0.0", 1)
			},
			wants: []string{`"client-2.0.0"`, "wires client-1.9.62 only", "use the tracebloc-postrender of the edge chart's release"},
		},
		{
			name:  "missing jobs-manager",
			edit:  func(s string) string { return strings.Replace(s, "name: pods-monitor-container", "name: renamed", 1) },
			wants: []string{"jobs-manager Deployment of release \"edge\" in namespace \"tracebloc\" is not in the stream", "client chart Deployments found: Deployment tracebloc/edge-jobs-manager)", "client.enabled=true"},
		},
		{
			name:  "leftover reference",
			edit:  func(s string) string { return s + leftover },
			wants: []string{"1 references still take the client credential from Secret edge-secrets", "Deployment tracebloc/other at spec.template.spec.containers[name=c].envFrom[-].secretRef (all keys)"},
		},
		{
			name: "a DaemonSet where no copy is kept",
			edit: func(s string) string {
				return strings.Replace(s, "nodeAgentsNamespace: tracebloc-node-agents", `nodeAgentsNamespace: ""`, 1)
			},
			wants: []string{"DaemonSet tracebloc-node-agents/edge-resource-monitor at spec.template.spec.containers[name=tracebloc-resource-monitor].env[name=CLIENT_ID].valueFrom.secretKeyRef (CLIENT_ID)", `namespaces "tracebloc"`},
		},
		{
			name:  "malformed: no init container",
			edit:  func(s string) string { return strings.Replace(s, "  initContainer:\n", "  initContainerX:\n", 1) },
			wants: []string{"PostRendererRequired tracebloc/edge-install-with-post-renderer-tracebloc-postrender (document 9 (edge/templates/wiring.yaml))", "spec.initContainer is missing or not a map", "do not edit it"},
		},
		{
			name: "malformed: a release name that is not one, never echoed raw",
			edit: func(s string) string {
				return strings.Replace(s, "  release: edge\n", "  release: \"Edge\\n"+strings.Repeat("x", 200)+"\"\n", 1)
			},
			wants: []string{`spec.release is "Edge\n` + strings.Repeat("x", 75) + `...", not a Helm release name`},
		},
		{
			name: "malformed: volumes not a list",
			edit: func(s string) string {
				return strings.Replace(s, "  volumes:\n    - name: bootstrap-tmp\n", "  volumes:\n    bootstrap-tmp:\n", 1)
			},
			wants: []string{"spec.volumes is not a list"},
		},
		{
			name:  "two wiring objects",
			edit:  func(s string) string { return s + s[strings.Index(s, "---\n# Source: edge/templates/wiring.yaml"):] },
			wants: []string{"2 wiring objects", "render one release at a time"},
		},
		{
			name: "two jobs-managers",
			edit: func(s string) string {
				jm := s[strings.Index(s, "---\n# Source: edge/charts/client/templates/jobs-manager-deployment.yaml"):strings.Index(s, "---\n# Source: edge/charts/client/templates/requests-proxy-deployment.yaml")]
				return s + strings.Replace(jm, "name: edge-jobs-manager\n", "name: edge-jobs-manager-2\n", 1)
			},
			wants: []string{"2 jobs-manager Deployments", "Deployment tracebloc/edge-jobs-manager, Deployment tracebloc/edge-jobs-manager-2"},
		},
		{
			name: "too many objects to hold",
			edit: func(s string) string {
				var b strings.Builder
				for i := range maxHeld {
					fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s%d\n  labels: {app.kubernetes.io/name: client, helm.sh/chart: client-1.9.62}\n", i)
				}
				return b.String() + s
			},
			wants: []string{"more than the 500 it takes"},
		},
		{
			name:  "a volume name the jobs-manager has",
			edit:  func(s string) string { return strings.Replace(s, "- name: shared-volume", "- name: bootstrap-tmp", 1) },
			wants: []string{"already has a volume named \"bootstrap-tmp\""},
		},
		{
			name: "client objects in a List",
			edit: func(s string) string {
				return s + "---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: x\n    labels:\n      app.kubernetes.io/name: client\n      helm.sh/chart: client-1.9.62\n"
			},
			wants: []string{"inside List documents (Secret tracebloc/x)", "render them as documents of their own"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := tt.edit(fixture(t))
			if input == fixture(t) {
				t.Fatal("the edit changed nothing: fix the test")
			}
			res, _, err := render(t, input)
			if err == nil {
				t.Fatalf("Stream succeeded, want a refusal")
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %q\nwant it to contain %q", err, want)
				}
			}
			if len(res.Output) != 0 {
				t.Errorf("Stream wrote %d bytes with the error, want none", len(res.Output))
			}
			if strings.Contains(err.Error(), "c2V0LWJ5") {
				t.Error("the error shows Secret data")
			}
		})
	}
}
