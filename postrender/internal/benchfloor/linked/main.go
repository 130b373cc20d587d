// Command linked is the parse floor (package benchfloor) in a binary that links the
// post-renderer's packages, cluster client included, without running them: what a
// post-renderer that parses its input with yaml.v3 costs before it edits anything.
package main

import (
	"fmt"
	"os"

	"github.com/tracebloc/edge/postrender/internal/benchfloor"
	_ "github.com/tracebloc/edge/postrender/renderer" // linked for its start-up cost only
)

func main() {
	if err := benchfloor.Parse(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "linked:", err)
		os.Exit(1)
	}
}
