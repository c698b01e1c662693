package ciconfig

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/gantryci/gantry/internal/ciconfig/expr"
)

// rule is one validated rules: item.
type rule struct {
	ifExpr        string
	hasIf         bool
	changes       []string
	hasChanges    bool
	compareTo     *string // rules:changes:compare_to
	exists        []string
	hasExists     bool
	existsProject string // rules:exists:project ("" is the pipeline's project)
	existsRef     string // rules:exists:ref ("" is the default branch)
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
		if ch, isHash := v.(*omap); isHash {
			if c, ok := ch.get("compare_to"); ok {
				s := rubyToS(c)
				r.compareTo = &s
			}
		}
	}
	if v, ok := h.get("exists"); ok {
		r.exists, r.hasExists = changesPaths(v), true
		if ex, isHash := v.(*omap); isHash {
			p, _ := ex.get("project")
			ref, _ := ex.get("ref")
			r.existsProject, r.existsRef = rubyToS(p), rubyToS(ref)
		}
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
// An error is GitLab's Rules::Rule::Clause::ParseError: a compare_to or
// exists:project/ref that names nothing.
func (r *rule) matches(src Source, vars map[string]string) (bool, error) {
	if r.hasIf {
		e, err := expr.Parse(r.ifExpr)
		if err != nil {
			return false, nil
		}
		if !e.Truthy(lookupIn(vars)) {
			return false, nil
		}
	}
	if r.hasChanges {
		changed := src.ChangedFiles
		if r.compareTo != nil {
			var err error
			if changed, err = changedSince(src, expandExisting(*r.compareTo, vars)); err != nil {
				return false, err
			}
		}
		if !changesMatch(changed, expandPaths(r.changes, vars)) {
			return false, nil
		}
	}
	if r.hasExists {
		ok, err := r.existsMatch(src, vars)
		if !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// changedSince is Clause::Changes#find_compare_to_sha and
// Ci::Pipeline#modified_paths_since: the paths changed since the merge
// base with compare_to; always a known list.
func changedSince(src Source, ref string) ([]string, error) {
	if src.ChangedSince == nil {
		return nil, errCompareTo
	}
	files, err := src.ChangedSince(ref)
	if err != nil {
		return nil, errCompareTo
	}
	if files == nil {
		files = []string{}
	}
	return files, nil
}

var errCompareTo = errors.New("rules:changes:compare_to is not a valid ref")

// existsMatch is Clause::Exists: the pipeline's commit, or with project:
// that project at ref (default branch when absent), read as the
// pipeline's user.
func (r *rule) existsMatch(src Source, vars map[string]string) (bool, error) {
	globs := expandPaths(r.exists, vars)
	if r.existsProject == "" {
		return existsMatch(src, globs), nil
	}
	if len(globs) == 0 {
		return false, nil
	}
	project := expandExisting(r.existsProject, vars)
	if src.Projects == nil {
		return false, fmt.Errorf("rules:exists:project `%s` is not a valid project path", project)
	}
	// A project the user may not read is answered like a missing one:
	// Projects does not tell them apart (see docs/ci-yaml.md).
	sha, err := src.Projects.ResolveRef(project, "")
	if errors.Is(err, ErrProjectNotFound) {
		return false, fmt.Errorf("rules:exists:project `%s` is not a valid project path", project)
	}
	if r.existsRef != "" {
		ref := expandExisting(r.existsRef, vars)
		sha, err = src.Projects.ResolveRef(project, ref)
		if err != nil {
			return false, fmt.Errorf("rules:exists:ref `%s` is not a valid ref in project `%s`", ref, project)
		}
	}
	if err != nil || sha == "" {
		return false, nil // an empty project: nothing exists
	}
	files, err := src.Projects.ListFiles(project, sha)
	if err != nil {
		return false, nil
	}
	for _, g := range globs {
		g = strings.TrimPrefix(g, "/")
		for _, f := range files {
			if MatchGlob(g, f) {
				return true, nil
			}
		}
	}
	return false, nil
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
func changesMatch(changed []string, globs []string) bool {
	if changed == nil {
		return true
	}
	for _, g := range globs {
		for _, f := range changed {
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
	if p.hasChanges && !changesMatch(src.ChangedFiles, expandPaths(p.changes, vars)) {
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
	if p.hasChanges && changesMatch(src.ChangedFiles, expandPaths(p.changes, vars)) {
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
