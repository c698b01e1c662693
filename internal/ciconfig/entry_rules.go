package ciconfig

import (
	"slices"
	"strings"

	"github.com/gantryci/gantry/internal/ciconfig/expr"
)

// ruleWhen are the when: values of a job's rules (workflow rules allow
// only always and never).
var ruleWhen = []string{"on_success", "on_failure", "always", "never", "manual", "delayed"}

// ruleDecoder is what a rules: item decodes into.
type ruleDecoder struct {
	r    *rule
	when []string // the allowed when: values
}

// ruleEntries are the keywords of a rules: item (Entry::Rules::Rule, and
// Entry::Workflow's rule for workflow:rules). A rule stops at its first
// error and is then dropped.
var ruleEntries = entries[*ruleDecoder]{
	{key: "if", in: inRules, nulls: true, decode: func(d *ruleDecoder, f field) bool {
		s, isStr := f.val.(string)
		if !isStr || !expr.Valid(s) {
			f.attrError("invalid expression syntax")
			return false
		}
		d.r.ifExpr, d.r.hasIf = s, true
		return true
	}},
	// null changes/exists are absent (the entry factory's Unspecified).
	{key: "changes", in: inRules, decode: (*ruleDecoder).changes},
	{key: "exists", in: inRules, decode: (*ruleDecoder).exists},
	{key: "when", in: inRules, nulls: true, decode: func(d *ruleDecoder, f field) bool {
		s, isStr := f.val.(string)
		if !isStr || !slices.Contains(d.when, s) {
			f.attrError("unknown value: %s", f.text())
			return false
		}
		d.r.when = s
		return true
	}},
	{key: "start_in", in: inRules, nulls: true, absent: true, decode: func(d *ruleDecoder, f field) bool {
		return startIn(f, d.r.when == "delayed", &d.r.startIn, "config contains disallowed keys: start_in", "start in can't be blank")
	}},
	{key: "allow_failure", in: inRules, nulls: true, decode: func(d *ruleDecoder, f field) bool { return optBool(f, &d.r.allowFailure) }},
	{key: "interruptible", in: inJobRule, nulls: true, decode: func(d *ruleDecoder, f field) bool { return optBool(f, &d.r.interruptible) }},
	{key: "variables", in: inRules, nulls: true, decode: func(d *ruleDecoder, f field) bool {
		d.r.variables = f.v.variables(f.path(), f.val, inJobRule)
		return true
	}},
	{key: "needs", in: inRules, nulls: true, decode: func(d *ruleDecoder, f field) bool {
		n, ok := f.v.needs(f.path(), f.val)
		if ok {
			d.r.needs, d.r.hasNeeds = n, true
		}
		return ok
	}},
	{key: "auto_cancel", in: inWorkflowRule, nulls: true, decode: func(d *ruleDecoder, f field) bool {
		ac, ok := f.v.autoCancel(f.path(), f.val)
		d.r.autoCancel = ac
		return ok
	}},
}

// changes is rules:changes (Entry::Rules::Rule::Changes): an array of
// globs, or a hash of paths (required) and compare_to.
func (d *ruleDecoder) changes(f field) bool {
	paths := f.val
	switch t := f.val.(type) {
	case []any:
	case *omap:
		if f.v.rejectUnknown(f.path(), unknownKeys(t, []string{"paths", "compare_to"})) {
			return false
		}
		var ok bool
		if paths, ok = t.get("paths"); !ok {
			f.nodeError("missing required keys: paths")
			return false
		}
		if c, ok := t.get("compare_to"); ok && c != nil {
			s, isStr := c.(string)
			if !isStr {
				f.v.add(f.path(), "compare to should be a string")
				return false
			}
			d.r.compareTo = &s
		}
	default:
		f.v.add(f.path(), "should be an array or a hash")
		return false
	}
	l, isList := stringList(paths)
	form := "config " // SimpleChanges reports as an entry, ComplexChanges as the paths attribute
	if _, isHash := f.val.(*omap); isHash {
		form = "paths "
	}
	switch {
	case !isList:
		f.v.add(f.path(), "%sshould be an array of strings", form)
	case len(l) > maxNeeds:
		f.v.add(f.path(), "%shas too many entries (maximum 50)", form)
	default:
		d.r.changes, d.r.hasChanges = l, true
		return true
	}
	return false
}

// exists is rules:exists (Entry::Rules::Rule::Exists): a glob, an array of
// globs, or a hash of paths (required), project and ref (ref only with
// project).
func (d *ruleDecoder) exists(f field) bool {
	switch t := f.val.(type) {
	case string:
		d.r.exists, d.r.hasExists = []string{t}, true
		return true
	case []any:
		l, ok := stringList(t)
		switch {
		case !ok:
			f.nodeError("should be an array of strings")
		case len(l) > maxNeeds:
			f.nodeError("has too many entries (maximum 50)")
		default:
			d.r.exists, d.r.hasExists = l, true
			return true
		}
		return false
	case *omap:
		if f.v.rejectUnknown(f.path(), unknownKeys(t, []string{"paths", "project", "ref"})) {
			return false
		}
		paths, ok := t.get("paths")
		if !ok {
			f.nodeError("missing required keys: paths")
			return false
		}
		if t.has("ref") && !t.has("project") {
			f.nodeError("missing required keys: project")
			return false
		}
		l, isList := stringList(paths)
		switch {
		case paths != nil && !isList:
			f.v.add(f.path(), "paths should be an array of strings")
			return false
		case len(l) > maxNeeds:
			f.v.add(f.path(), "paths has too many entries (maximum 50)")
			return false
		}
		for _, k := range []string{"project", "ref"} {
			x, _ := t.get(k)
			s, isStr := x.(string)
			if x != nil && !isStr {
				f.v.add(f.path(), "%s should be a string", k)
				return false
			}
			if k == "project" {
				d.r.existsProject = s
			} else {
				d.r.existsRef = s
			}
		}
		d.r.exists, d.r.hasExists = l, true
		if d.r.exists == nil {
			d.r.exists = []string{}
		}
		return true
	}
	f.v.add(f.path(), "should be a string, an array of strings, or a hash")
	return false
}

// rules validates a rules: list of a job (in inJobRule) or of workflow:
// (inWorkflowRule) and returns the valid rules.
func (v *validator) rules(loc string, val any, in scope, allowedWhen []string) ([]*rule, bool) {
	owner := strings.TrimSuffix(loc, ":rules")
	arr, ok := val.([]any)
	if !ok || nestingDepth(val) > maxNestingLevel {
		v.add(owner, "rules should be an array containing hashes and arrays of hashes")
		return nil, false
	}
	var out []*rule
	good := true
	for _, e := range flatten(arr) {
		rloc := loc + ":rule"
		h, ok := e.(*omap)
		if !ok {
			v.add(owner, "rules should be an array containing hashes and arrays of hashes")
			return nil, false
		}
		if h.len() == 0 {
			v.add(rloc, "config can't be blank")
			good = false
			continue
		}
		if v.rejectUnknown(rloc, ruleEntries.unknown(h, in)) {
			good = false
			continue
		}
		r := &rule{keys: h.keys}
		if !ruleEntries.decode(&ruleDecoder{r: r, when: allowedWhen}, v, rloc, h, in, true) {
			good = false
			continue
		}
		out = append(out, r)
	}
	return out, good
}

// policyDecoder is what only: or except: decodes into.
type policyDecoder struct {
	p    *policy
	only bool
}

// policyEntries are the keywords of the hash form of only:/except:
// (Entry::Policy). The first error rejects the policy.
var policyEntries = entries[*policyDecoder]{
	{key: "refs", nulls: true, absent: true, decode: func(d *policyDecoder, f field) bool {
		if !f.present {
			if d.only {
				// Policy.default deep-merges {refs: [branches, tags]} under only:.
				d.p.refs, d.p.hasRefs = []string{"branches", "tags"}, true
			}
			return true
		}
		refs, ok := stringOrList(f.val)
		if !ok {
			f.attrError("should be an array of strings or regular expressions using re2 syntax")
			return false
		}
		d.p.refs, d.p.hasRefs = refs, true
		return true
	}},
	{key: "variables", nulls: true, decode: func(d *policyDecoder, f field) bool {
		if !attr(f, stringArray, &d.p.variables) {
			return false
		}
		if slices.ContainsFunc(d.p.variables, func(s string) bool { return !expr.Valid(s) }) {
			f.attrError("invalid expression syntax")
			return false
		}
		return true
	}},
	{key: "changes", nulls: true, decode: func(d *policyDecoder, f field) bool {
		d.p.hasChanges = attr(f, stringArray, &d.p.changes)
		return d.p.hasChanges
	}},
	{key: "kubernetes", nulls: true, decode: func(d *policyDecoder, f field) bool {
		if f.val != "active" {
			f.attrError("unknown value: %s", f.text())
			return false
		}
		d.p.kubernetes = true
		return true
	}},
}

// policy validates only:/except:.
func (v *validator) policy(loc string, val any, isOnly bool) *policy {
	p := &policy{}
	switch t := val.(type) {
	case []any, string:
		refs, ok := stringOrList(t)
		if !ok {
			v.add(loc, "config should be an array of strings or regular expressions using re2 syntax")
			return nil
		}
		p.refs, p.hasRefs = refs, true
		return p
	case *omap:
		if t.len() == 0 {
			v.add(loc, "config can't be blank")
			return nil
		}
		if v.rejectUnknown(loc, policyEntries.unknown(t, anywhere)) {
			return nil
		}
		if !policyEntries.decode(&policyDecoder{p: p, only: isOnly}, v, loc, t, anywhere, true) {
			return nil
		}
		return p
	}
	v.add(loc, "has to be either an array of conditions or a hash")
	return nil
}
