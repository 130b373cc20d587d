package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExecHelmWay runs cat the way Helm runs a post-renderer and checks the line it
// prints; a command that fails is an error that names it.
func TestExecHelmWay(t *testing.T) {
	input := filepath.Join(t.TempDir(), "stream.yaml")
	if err := os.WriteFile(input, []byte("apiVersion: v1\nkind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := execHelmWay([]string{"--runs", "3", "--input", input, "cat"}, &out); err != nil {
		t.Fatalf("exec cat: %v", err)
	}
	if got := out.String(); !strings.HasPrefix(got, "cat ") || !strings.Contains(got, "(medians of 3)") || strings.Count(got, "\n") != 1 {
		t.Errorf("exec cat printed %q, want one line for cat with its medians of 3", got)
	}
	err := execHelmWay([]string{"--runs", "1", "--input", input, "false"}, &out)
	if err == nil || !strings.Contains(err.Error(), "false") {
		t.Errorf("exec false: error %v, want one that names the command", err)
	}
}

// TestParseWritesTheStreamBack checks that the parse floor gives its input back byte for
// byte, and that it did parse it: invalid YAML is an error.
func TestParseWritesTheStreamBack(t *testing.T) {
	var in bytes.Buffer
	Generate(&in, 20)
	in.WriteString("# a comment the encoder would move\n")
	var out bytes.Buffer
	if err := run([]string{"parse"}, bytes.NewReader(in.Bytes()), &out); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if !bytes.Equal(out.Bytes(), in.Bytes()) {
		t.Errorf("parse changed the stream:\n%s\nwant\n%s", out.Bytes(), in.Bytes())
	}
	if err := run([]string{"parse"}, strings.NewReader("a: [1\n"), &out); err == nil {
		t.Error("parse of invalid YAML: no error")
	}
}

// TestFloorEncodesEveryDocument checks that the round-trip floor writes each document of
// the stream again, after a `---` line of its own.
func TestFloorEncodesEveryDocument(t *testing.T) {
	var in bytes.Buffer
	Generate(&in, 7)
	var out bytes.Buffer
	if err := run([]string{"floor"}, bytes.NewReader(in.Bytes()), &out); err != nil {
		t.Fatalf("floor: %v", err)
	}
	if n := strings.Count(out.String(), "---\n"); n != 7 {
		t.Errorf("floor wrote %d documents, want 7:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "name: config-0\n") || !strings.Contains(out.String(), "name: app-6\n") {
		t.Errorf("floor lost the first or the last document:\n%s", out.String())
	}
}
