package ciconfig

import (
	"github.com/bmatcuk/doublestar/v4"
	"os"
	"regexp"
	"strings"

	"github.com/gantryci/gantry/internal/ciconfig/expr"
)

// rule is one validated rules: item.
type rule struct {
	ifExpr        string
	hasIf         bool
	changes       []string
	hasChanges    bool
	exists        []string
	hasExists     bool
	when          string
	startIn       string
	allowFailure  *bool
	interruptible *bool
	autoCancel    *AutoCancel // workflow rules only
	variables     []Variable
	needs         []Need
	hasNeeds      bool
	// raw keeps the item for the lint warning check.
	keys []string
}

// parseRuleClauses reads the condition part of a rule without validation
// messages (used by include:rules, which GitLab validates separately).
func parseRuleClauses(h *omap) (*rule, error) {
	r := &rule{keys: h.keys}
	if v, ok := h.get("if"); ok {
		s, _ := v.(string)
		if !expr.Valid(s) {
			return nil, newLoadError("include:rules:rule if invalid expression syntax")
		}
		r.ifExpr, r.hasIf = s, true
	}
	if v, ok := h.get("changes"); ok {
		r.changes, r.hasChanges = changesPaths(v), true
	}
	if v, ok := h.get("exists"); ok {
		r.exists, r.hasExists = changesPaths(v), true
	}
	if v, ok := h.get("when"); ok {
		r.when, _ = v.(string)
	}
	return r, nil
}

// changesPaths accepts an array of globs or {paths: [...], compare_to}.
func changesPaths(v any) []string {
	if h, ok := v.(*omap); ok {
		v, _ = h.get("paths")
	}
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, e := range flatten(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// matches evaluates the clauses of a rule: all given clauses must hold.
func (r *rule) matches(src Source, vars map[string]string) bool {
	if r.hasIf {
		e, err := expr.Parse(r.ifExpr)
		if err != nil {
			return false
		}
		if !e.Truthy(lookupIn(vars)) {
			return false
		}
	}
	if r.hasChanges && !changesMatch(src, expandPaths(r.changes, vars)) {
		return false
	}
	if r.hasExists && !existsMatch(src, expandPaths(r.exists, vars)) {
		return false
	}
	return true
}

func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// expandPaths expands $VAR and ${VAR} in changes/exists paths as GitLab does.
func expandPaths(paths []string, vars map[string]string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = os.Expand(p, func(n string) string { return vars[n] })
	}
	return out
}

// changesMatch is true when no diff is known (new branch, tag, API...) or
// when a changed file matches one of the globs.
func changesMatch(src Source, globs []string) bool {
	if src.ChangedFiles == nil {
		return true
	}
	for _, g := range globs {
		for _, f := range src.ChangedFiles {
			if MatchGlob(g, f) {
				return true
			}
		}
	}
	return false
}

func existsMatch(src Source, globs []string) bool {
	if src.Exists == nil {
		return false
	}
	for _, g := range globs {
		if src.Exists(strings.TrimPrefix(g, "/")) {
			return true
		}
	}
	return false
}

// MatchGlob matches a repository path against a rules:changes or
// rules:exists pattern. GitLab uses File.fnmatch with FNM_PATHNAME |
// FNM_DOTMATCH | FNM_EXTGLOB (lib/gitlab/ci/build/rules/rule/clause/changes.rb
// and exists.rb): `*` and `?` stay within a segment, `**/` spans any number
// of directories, `{a,b}` are alternatives and dotfiles match like other
// files. doublestar has the same semantics and is also what gitlab-runner
// (and the built-in runner) use for artifact paths. A leading slash is
// ignored; a malformed pattern matches nothing.
func MatchGlob(pattern, name string) bool {
	ok, err := doublestar.Match(strings.TrimPrefix(pattern, "/"), name)
	return err == nil && ok
}

// policy is a validated only: or except:.
type policy struct {
	refs       []string
	hasRefs    bool
	variables  []string
	changes    []string
	hasChanges bool
	kubernetes bool
}

// satisfiedBy for only: every given clause must match.
func (p *policy) onlyMatch(src Source, vars map[string]string) bool {
	if p.hasRefs && !refsMatch(p.refs, src, vars) {
		return false
	}
	if len(p.variables) > 0 && !anyExpr(p.variables, vars) {
		return false
	}
	if p.hasChanges && !changesMatch(src, expandPaths(p.changes, vars)) {
		return false
	}
	if p.kubernetes && !kubernetesActive(vars) {
		return false
	}
	return true
}

// exceptMatch for except: any given clause that matches excludes the job.
func (p *policy) exceptMatch(src Source, vars map[string]string) bool {
	if p.hasRefs && refsMatch(p.refs, src, vars) {
		return true
	}
	if len(p.variables) > 0 && anyExpr(p.variables, vars) {
		return true
	}
	if p.hasChanges && changesMatch(src, expandPaths(p.changes, vars)) {
		return true
	}
	if p.kubernetes && kubernetesActive(vars) {
		return true
	}
	return false
}

func kubernetesActive(vars map[string]string) bool {
	return vars["CI_KUBERNETES_ACTIVE"] == "true"
}

func anyExpr(list []string, vars map[string]string) bool {
	for _, s := range list {
		if e, err := expr.Parse(s); err == nil && e.Truthy(lookupIn(vars)) {
			return true
		}
	}
	return false
}

// sourceName is Build::Policy::Refs#sanitized_source_name.
func sourceName(s string) string {
	switch s {
	case "merge_request_event":
		return "merge_request"
	case "external_pull_request_event":
		return "external_pull_request"
	}
	return s
}

func pluralize(s string) string {
	if strings.HasSuffix(s, "sh") || strings.HasSuffix(s, "s") {
		return s + "es"
	}
	return s + "s"
}

var refRegexLiteral = regexp.MustCompile(`^/(.+)/([ismU]*)$`)

// refsMatch implements Build::Policy::Refs for one list of patterns.
func refsMatch(patterns []string, src Source, vars map[string]string) bool {
	mr := src.PipelineSource == "merge_request_event"
	for _, p := range patterns {
		if i := strings.LastIndex(p, "@"); i > 0 && !strings.HasPrefix(p, "/") {
			if path, ok := vars["CI_PROJECT_PATH"]; ok && path != p[i+1:] {
				continue
			}
			p = p[:i]
		}
		switch {
		case p == "tags" && src.Tag:
			return true
		case p == "branches" && !src.Tag && !mr:
			return true
		}
		if src.PipelineSource != "" {
			name := sourceName(src.PipelineSource)
			if p == name || p == pluralize(name) {
				return true
			}
		}
		if m := refRegexLiteral.FindStringSubmatch(p); m != nil {
			flags := ""
			if m[2] != "" {
				flags = "(?" + m[2] + ")"
			}
			if re, err := regexp.Compile(flags + m[1]); err == nil && re.MatchString(src.Ref) {
				return true
			}
			continue
		}
		if p == src.Ref {
			return true
		}
	}
	return false
}
