// Command testsummary reads `go test -json` on stdin, prints the output of every failed
// test and package, passes through the lines a package's TestMain reports with a
// "secrets scan:" prefix (the end-to-end suite's scan, a figure of BENCHMARKS.md), and ends with
// one line "N passed, N failed, N skipped". It exits 1
// when anything failed (a test, or a package that did not build or whose TestMain failed).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// reportPrefix starts the output lines of a package that are shown even when it passes.
const reportPrefix = "secrets scan:"

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	s := &summary{output: map[string]*strings.Builder{}, badPackages: map[string]bool{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil || ev.Action == "" {
			// Build errors and other non-JSON lines go straight through.
			fmt.Fprintln(out, string(line))
			continue
		}
		s.add(ev, out)
	}
	return s.report(out)
}

// summary keeps the counts, and the output of each test and package until it passes: only
// a failure's output is printed, at the end.
type summary struct {
	passed, failed, skipped int
	output                  map[string]*strings.Builder // package or package.test -> output
	failures                []string
	badPackages             map[string]bool
}

// add counts ev, keeps its output, and prints a package's result and its report lines as
// they come.
func (s *summary) add(ev event, out io.Writer) {
	key := ev.Package
	if ev.Test != "" {
		key += "." + ev.Test
	}
	switch ev.Action {
	case "output":
		b := s.output[key]
		if b == nil {
			b = &strings.Builder{}
			s.output[key] = b
		}
		b.WriteString(ev.Output)
		if ev.Test == "" && strings.HasPrefix(ev.Output, reportPrefix) {
			fmt.Fprintf(out, "     %s %s", ev.Package, ev.Output)
		}
	case "pass":
		if ev.Test != "" {
			s.passed++
			delete(s.output, key)
		} else {
			fmt.Fprintf(out, "ok   %s %.1fs\n", ev.Package, ev.Elapsed)
		}
	case "skip":
		if ev.Test != "" {
			s.skipped++
			delete(s.output, key)
		}
	case "fail":
		if ev.Test != "" {
			s.failed++
			s.failures = append(s.failures, key)
		} else {
			s.badPackages[ev.Package] = true
			fmt.Fprintf(out, "FAIL %s %.1fs\n", ev.Package, ev.Elapsed)
		}
	}
}

// report prints the output of every failed test and package and the counts, and returns
// the exit code.
func (s *summary) report(out io.Writer) int {
	for _, k := range s.failures {
		fmt.Fprintf(out, "\n--- FAIL %s\n%s", k, s.output[k])
	}
	pkgs := make([]string, 0, len(s.badPackages))
	for p := range s.badPackages {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		if b := s.output[p]; b != nil {
			fmt.Fprintf(out, "\n--- FAIL package %s\n%s", p, b)
		}
	}
	fmt.Fprintf(out, "\n%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	if s.failed > 0 || len(s.badPackages) > 0 {
		return 1
	}
	return 0
}
