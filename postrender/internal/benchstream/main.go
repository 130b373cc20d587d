// Command benchstream provides the inputs and the floor of the post-renderer benchmark
// (scripts/bench-postrender):
//
//	benchstream gen N    write a Helm 3 style stream of N mixed resources (ConfigMaps,
//	                     Deployments, Services, ServiceAccounts, RoleBindings; about 240
//	                     bytes a resource, no namespaces) to stdout
//	benchstream floor    decode and encode stdin one document at a time with yaml.v3, no
//	                     edits, output written at the end (benchfloor.RoundTrip): the least
//	                     any post-renderer that writes its documents from the tree can cost
//	benchstream parse    parse stdin one document at a time with yaml.v3 and write it back as
//	                     it came (package benchfloor)
//	benchstream compare --postrender BIN [--kustomize BIN] [--kustomize-10000] [--runs N]
//	                     print the table of BENCHMARKS.md: wall time and peak RSS of each at 100,
//	                     1,000 and 10,000 resources, the ratios, and the targets
//	benchstream exec --input FILE [--runs N] 'CMD [ARGS]'...
//	                     run each command over FILE as Helm 3 runs a post-renderer, interleaved,
//	                     and print the median wall and CPU time of each
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/tracebloc/edge/postrender/internal/benchfloor"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchstream:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 2 && args[0] == "gen" {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 {
			return fmt.Errorf("gen wants a resource count, got %q", args[1])
		}
		w := bufio.NewWriter(stdout)
		Generate(w, n)
		return w.Flush()
	}
	if len(args) == 1 && args[0] == "floor" {
		return benchfloor.RoundTrip(bufio.NewReader(stdin), stdout)
	}
	if len(args) == 1 && args[0] == "parse" {
		return benchfloor.Parse(stdin, stdout)
	}
	if len(args) >= 1 && args[0] == "compare" {
		return compare(args[1:], stdout)
	}
	if len(args) >= 1 && args[0] == "exec" {
		return execHelmWay(args[1:], stdout)
	}
	return errors.New("usage: benchstream gen N | benchstream floor | benchstream parse | benchstream compare --postrender BIN [--kustomize BIN] | benchstream exec --input FILE 'CMD [ARGS]' (one or more)")
}

// kinds are the resource shapes of the stream, in turn; %[1]d is the resource number.
var kinds = []string{
	`# Source: bench/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-%[1]d
  labels:
    app.kubernetes.io/name: bench
data:
  key: value-%[1]d
  other: "more data for %[1]d"
`,
	`# Source: bench/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
spec:
  selector:
    matchLabels:
      app: app-%[1]d
  template:
    metadata:
      labels:
        app: app-%[1]d
    spec:
      containers:
      - name: app
        image: nginx:1.27
`,
	`# Source: bench/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: svc-%[1]d
spec:
  selector:
    app: app-%[1]d
  ports:
  - port: 80
    targetPort: 8080
`,
	`# Source: bench/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa-%[1]d
  labels:
    app.kubernetes.io/name: bench
    app.kubernetes.io/instance: bench
`,
	`# Source: bench/templates/rolebinding.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb-%[1]d
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects:
- kind: ServiceAccount
  name: sa-%[1]d
`,
}

// Generate writes n resources as Helm 3 renders them.
func Generate(w io.Writer, n int) {
	for i := range n {
		fmt.Fprintf(w, "---\n"+kinds[i%len(kinds)], i)
	}
}
