package app_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gantryci/gantry/internal/runnerapi"
)

// TestRouteTableListsRunnerRoutes keeps the runner protocol's group of the one
// route table (internal/api/routes.go) in step with runnerapi's routes, which
// reach the API server through api.Config.Extra: every route is listed there,
// and nothing else is.
func TestRouteTableListsRunnerRoutes(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "api", "routes.go"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	line := regexp.MustCompile(`(?m)^\s*//\s+(GET|POST|PUT|PATCH|DELETE)\s+(/api/v4/\S+)`)
	for _, m := range line.FindAllStringSubmatch(string(src), -1) {
		listed[m[1]+" "+m[2]] = true
	}
	routes := runnerapi.New(runnerapi.Config{}).Routes()
	for _, r := range routes {
		if !listed[r.Method+" "+r.Pattern] {
			t.Errorf("internal/api/routes.go does not list the runner route %s %s", r.Method, r.Pattern)
		}
	}
	if len(listed) != len(routes) {
		t.Errorf("internal/api/routes.go lists %d runner routes, runnerapi serves %d", len(listed), len(routes))
	}
}
