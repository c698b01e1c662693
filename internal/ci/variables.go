package ci

import (
	"sort"
	"strings"
)

// ScopeMatches reports whether a variable of the given environment scope
// applies to a job deploying to env (GitLab's HasEnvironmentScope
// on_environment): "*" applies to every job; any other scope only to a
// job with an environment, by its exact name or as a wildcard pattern in
// which * stands for any run of characters ("review/*").
func ScopeMatches(scope, env string) bool {
	if scope == "*" || scope == "" {
		return true
	}
	if env == "" {
		return false
	}
	if !strings.Contains(scope, "*") {
		return scope == env
	}
	parts := strings.Split(scope, "*")
	if !strings.HasPrefix(env, parts[0]) {
		return false
	}
	rest := env[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return strings.HasSuffix(rest, last) && len(rest) >= len(last)
}

// scopeRank orders matching scopes from least to most specific, as
// GitLab's order_by_environment_scope does ("*" first, exact names last);
// among wildcard patterns a longer one is taken as more specific.
func scopeRank(scope string) (int, int) {
	switch {
	case scope == "*" || scope == "":
		return 0, 0
	case strings.Contains(scope, "*"):
		return 1, len(scope)
	}
	return 2, len(scope)
}

// ScopedVariables returns the variables a job deploying to env gets: of
// each key, the variable of the most specific matching scope. The result
// is in key order.
func ScopedVariables(vars []*ProjectVariable, env string) []*ProjectVariable {
	best := map[string]*ProjectVariable{}
	for _, v := range vars {
		if !ScopeMatches(v.EnvironmentScope, env) {
			continue
		}
		cur, ok := best[v.Key]
		if !ok {
			best[v.Key] = v
			continue
		}
		r1, l1 := scopeRank(cur.EnvironmentScope)
		r2, l2 := scopeRank(v.EnvironmentScope)
		if r2 > r1 || (r2 == r1 && l2 > l1) {
			best[v.Key] = v
		}
	}
	out := make([]*ProjectVariable, 0, len(best))
	for _, v := range best {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
