package wiring

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzWire feeds edited streams to the wiring: it never panics, and what it says about a
// stream is bounded and shows nothing of it raw (no control characters from the stream).
func FuzzWire(f *testing.F) {
	data := fixture(f)
	f.Add(data)
	f.Add(strings.Replace(data, "helm.sh/chart: client-1.9.62", "helm.sh/chart: \"client-\\n\\x1b[31m\"", 1))
	f.Add(strings.Replace(data, "  release: edge\n", "  release: [a, b]\n", 1))
	f.Add(strings.Replace(data, "        - name: api\n", "        - name: \"a\\tb\"\n", 1))
	f.Add(data + "---\nkind: List\nitems: [{kind: Secret, apiVersion: v1, metadata: {name: \"\\n\", labels: {app.kubernetes.io/name: client, helm.sh/chart: client-x}}}]\n")
	f.Fuzz(func(t *testing.T, input string) {
		_, w, err := render(t, input)
		if err == nil {
			for _, x := range w.Wired() {
				checkShown(t, x.Object+": "+x.What)
			}
			return
		}
		checkShown(t, err.Error())
	})
}

func checkShown(t *testing.T, msg string) {
	t.Helper()
	if len(msg) > 8000 {
		t.Errorf("message of %d bytes, want it bounded: %.200q", len(msg), msg)
	}
	for _, r := range msg {
		if unicode.IsControl(r) {
			t.Fatalf("message holds control character %q: %q", r, msg)
		}
	}
}
