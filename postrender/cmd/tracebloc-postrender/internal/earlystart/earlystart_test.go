package earlystart

import (
	"os"
	"testing"
)

func TestRenders(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--offline", "--cluster-id=c1"}, true},
		{[]string{"--kube-context", "prod", "--namespace=edge"}, true},
		{[]string{"--log-file", "/tmp/help"}, true}, // a value, not a flag
		{[]string{"--offline", "--", "--version"}, true},
		{[]string{"gitops", "--namespace", "tracebloc"}, false},
		{[]string{"--version"}, false},
		{[]string{"-version"}, false},
		{[]string{"--version=true"}, false},
		{[]string{"--offline", "-h"}, false},
		{[]string{"--help"}, false},
		{[]string{"-test.run=TestX", "-test.v"}, false},
	} {
		if got := renders(c.args); got != c.want {
			t.Errorf("renders(%q) = %t, want %t", c.args, got, c.want)
		}
	}
}

// TestStdinInATestBinary: a test binary of the post-renderer's packages starts no parse
// of its own stdin.
func TestStdinInATestBinary(t *testing.T) {
	if Stdin() != os.Stdin {
		t.Errorf("Stdin() = %T, want os.Stdin in a test binary (os.Args %q)", Stdin(), os.Args)
	}
}
