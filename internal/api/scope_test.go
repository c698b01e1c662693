package api_test

import (
	"github.com/gantryci/gantry/internal/testkit"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
)

// TestTokenScopes checks which token scopes reach which routes: api
// everything, read_api reads only, create_runner just POST /user/runners.
func TestTokenScopes(t *testing.T) { testkit.ForEachDB(t, testTokenScopes) }

func testTokenScopes(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	e.user("creator", true, ci.ScopeCreateRunner)
	tests := []struct {
		name, method, path, user string
		body                     any
		status                   int
	}{
		{"create_runner creates runners", "POST", "/user/runners", "creator", map[string]any{"runner_type": "instance_type"}, 201},
		{"create_runner does not read projects", "GET", "/projects", "creator", nil, 403},
		{"read_api reads", "GET", "/projects", "reader", nil, 200},
		{"read_api does not write", "POST", "/projects", "reader", map[string]any{"name": "x"}, 403},
		{"api writes", "POST", "/projects", "dev", map[string]any{"name": "x"}, 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.user, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 403 && !strings.Contains(string(r.body), `"error":"insufficient_scope"`) {
				t.Errorf("403 body %s", r.body)
			}
		})
	}
}
