package statemachine

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity enforces the design rule for the pure core: no I/O, clock, randomness, network or
// goroutines in the package's non-test code.
func TestPurity(t *testing.T) {
	forbidden := map[string]bool{"net": true, "os": true, "time": true, "sync": true,
		"math/rand": true, "math/rand/v2": true, "crypto/rand": true, "google.golang.org/grpc": true,
		"io/fs": true, "unsafe": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[path] || strings.HasPrefix(path, "net/") || strings.HasPrefix(path, "google.golang.org/grpc") {
				t.Errorf("%s imports %s", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if _, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: go statement at %s", name, fset.Position(n.Pos()))
			}
			return true
		})
	}
}
