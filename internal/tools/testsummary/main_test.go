package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"quiet\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"why it failed\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"secrets scan: 0 hits in 3 sources\n"}`,
		`{"Action":"output","Package":"p","Output":"other package output\n"}`,
		`{"Action":"fail","Package":"p","Elapsed":1.5}`,
		`{"Action":"pass","Package":"q","Elapsed":0.25}`,
		`# a build error`,
	}, "\n")
	var out strings.Builder
	if code := run(strings.NewReader(in), &out); code != 1 {
		t.Errorf("run() = %d, want 1 (a test failed)", code)
	}
	got := out.String()
	for _, want := range []string{
		"     p secrets scan: 0 hits in 3 sources\n",
		"FAIL p 1.5s\n",
		"ok   q 0.2s\n",
		"# a build error\n",
		"--- FAIL p.TestB\nwhy it failed\n",
		"\n1 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "quiet") {
		t.Errorf("the output of a passing test was shown:\n%s", got)
	}
}

func TestRunAllPassed(t *testing.T) {
	in := `{"Action":"pass","Package":"p","Test":"TestA"}` + "\n" + `{"Action":"pass","Package":"p"}`
	var out strings.Builder
	if code := run(strings.NewReader(in), &out); code != 0 || !strings.HasSuffix(out.String(), "\n1 passed, 0 failed, 0 skipped\n") {
		t.Errorf("run() = %d, %q; want 0 and the summary", code, out.String())
	}
}
