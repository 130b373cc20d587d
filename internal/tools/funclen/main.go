// Command funclen lists the functions of the Go files (tests left out) under the folders it
// is given that are longer than a limit, counted in lines from `func` to the closing brace,
// longest first: `go run ./internal/tools/funclen bootstrap postrender internal`.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(1)
	}
}

// Func is one function and its length in lines.
type Func struct {
	File, Name string
	Lines      int
}

func run(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("funclen", flag.ContinueOnError)
	limit := fl.Int("over", 60, "list functions longer than this many `lines`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var all []Func
	for _, root := range fl.Args() {
		found, err := measure(root)
		if err != nil {
			return err
		}
		all = append(all, found...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Lines > all[j].Lines })
	for _, f := range all {
		if f.Lines > *limit {
			fmt.Fprintf(stdout, "%4d %s %s\n", f.Lines, f.File, f.Name)
		}
	}
	return nil
}

// measure returns every function declared in the non-test Go files under root.
func measure(root string) ([]Func, error) {
	var out []Func
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			name := fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) == 1 {
				name = recvName(fd.Recv.List[0].Type) + "." + name
			}
			out = append(out, Func{File: path, Name: name,
				Lines: fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1})
		}
		return nil
	})
	return out, err
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}
