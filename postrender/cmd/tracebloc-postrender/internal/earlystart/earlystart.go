// Package earlystart provides what the post-renderer starts before its packages are all
// initialised: the garbage collector's settings, and the parse of the stream on stdin.
//
// Helm waits for a post-renderer, and about a third of what this one costs on a chart
// like the edge chart is the start of the program: the initialisation of its packages,
// client-go's and apimachinery's most of all, one after the other on one core. Go
// initialises packages in the order of their import paths as far as their imports allow
// (the language specification, since Go 1.21), so this package, which imports only the
// transform and the standard library, is initialised before those libraries are, and the
// parse it starts runs on the other cores while they are initialised.
package earlystart

import (
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/tracebloc/edge/postrender/transform"
)

// stdin is the standard input, its parse started, when this run renders.
var stdin *transform.Parsed

func init() {
	collectLess()
	if renders(os.Args[1:]) {
		stdin = transform.ParseAhead(os.Stdin)
	}
}

// Stdin returns the standard input: a *transform.Parsed whose parse started at
// initialisation when the arguments ask for a render, else os.Stdin.
func Stdin() io.Reader {
	if stdin != nil {
		return stdin
	}
	return os.Stdin
}

// renders reports whether args ask for a render, the one run that reads a stream on stdin
// and transforms it: not the gitops subcommand (it reads stdin its own way), not --help or
// --version, not a test binary's flags. A run it gets wrong only misses the early start.
func renders(args []string) bool {
	if len(args) > 0 && args[0] == "gitops" {
		return false
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		name, ok := strings.CutPrefix(a, "-")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(strings.TrimPrefix(name, "-"), "=")
		if name == "h" || name == "help" || name == "version" || strings.HasPrefix(name, "test.") {
			return false
		}
	}
	return true
}

// collectLess lets the heap grow to five times what is live before the garbage collector
// runs, up to a soft 32 MiB, unless $GOGC or $GOMEMLIMIT says otherwise; before the parse
// allocates. A render lives for one stream and keeps little live (the output and the
// documents in the parse's window), so the default, twice, spends on collections a fair
// part of a render that Helm waits for, while a large stream still collects before it
// holds much more than the limit.
func collectLess() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(32 << 20)
	}
}
