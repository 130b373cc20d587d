package transform

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzIdempotent checks on arbitrary streams that a second pass changes nothing and that
// an error never comes with output.
func FuzzIdempotent(f *testing.F) {
	for _, name := range []string{"helm3-stream", "helm4-stream", "list", "comment-only", "cronjob", "namespace-from-chart"} {
		data, err := os.ReadFile(filepath.Join(testdata, name, "input.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a} # c\n")
	f.Fuzz(func(t *testing.T, input string) {
		opts := Options{Namespace: "ns", ClusterID: "id"}
		once, err := Stream(bytes.NewReader([]byte(input)), opts)
		if err != nil {
			if len(once.Output) > 0 {
				t.Fatalf("Stream(%q) returned output with error %v", input, err)
			}
			return
		}
		twice, err := Stream(bytes.NewReader(once.Output), opts)
		if err != nil {
			t.Fatalf("Stream(Stream(%q)) error: %v\nfirst output: %q", input, err, once.Output)
		}
		if !bytes.Equal(once.Output, twice.Output) {
			t.Fatalf("Stream is not idempotent on %q:\nonce:  %q\ntwice: %q", input, once.Output, twice.Output)
		}
	})
}
