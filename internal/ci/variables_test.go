package ci

import "testing"

func TestScopeMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scope, env string
		want       bool
	}{
		{"*", "", true},
		{"*", "production", true},
		{"production", "production", true},
		{"production", "", false},
		{"production", "production-eu", false},
		{"review/*", "review/feature-1", true},
		{"review/*", "review/", true},
		{"review/*", "staging", false},
		{"*-eu", "production-eu", true},
		{"*-eu", "production-us", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false},
	}
	for _, tt := range tests {
		if got := ScopeMatches(tt.scope, tt.env); got != tt.want {
			t.Errorf("ScopeMatches(%q, %q) = %v, want %v", tt.scope, tt.env, got, tt.want)
		}
	}
}

func TestScopedVariables(t *testing.T) {
	t.Parallel()
	vars := []*ProjectVariable{
		{Key: "A", Value: "all", EnvironmentScope: "*"},
		{Key: "A", Value: "review", EnvironmentScope: "review/*"},
		{Key: "A", Value: "exact", EnvironmentScope: "review/one"},
		{Key: "B", Value: "prod", EnvironmentScope: "production"},
		{Key: "C", Value: "any", EnvironmentScope: "*"},
	}
	tests := []struct {
		env  string
		want map[string]string
	}{
		{"", map[string]string{"A": "all", "C": "any"}},
		{"review/two", map[string]string{"A": "review", "C": "any"}},
		{"review/one", map[string]string{"A": "exact", "C": "any"}},
		{"production", map[string]string{"A": "all", "B": "prod", "C": "any"}},
	}
	for _, tt := range tests {
		got := ScopedVariables(vars, tt.env)
		if len(got) != len(tt.want) {
			t.Errorf("env %q: %d variables, want %d", tt.env, len(got), len(tt.want))
		}
		for _, v := range got {
			if tt.want[v.Key] != v.Value {
				t.Errorf("env %q: %s = %s, want %s", tt.env, v.Key, v.Value, tt.want[v.Key])
			}
		}
	}
}
