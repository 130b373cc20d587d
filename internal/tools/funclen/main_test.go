package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	long := "package p\n\nfunc (s *S) Long() {\n" + strings.Repeat("\t_ = 1\n", 60) + "}\n\ntype S struct{}\n\nfunc Short() {}\n"
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n\nfunc TestX() {\n"+strings.Repeat("\n", 80)+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{dir}, &out); err != nil {
		t.Fatal(err)
	}
	want := "  62 " + filepath.Join(dir, "p.go") + " S.Long\n"
	if out.String() != want {
		t.Errorf("run() printed %q, want %q", out.String(), want)
	}
}
