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
	{key: "changes", in: inRules, nulls: true, decode: func(d *ruleDecoder, f field) bool {
		paths := f.val
		if ch, isHash := f.val.(*omap); isHash {
			if f.v.rejectUnknown(f.path(), unknownKeys(ch, []string{"paths", "compare_to"})) {
				return false
			}
			paths, _ = ch.get("paths")
		}
		l, isList := stringList(paths)
		switch {
		case !isList:
			f.nodeError("should be an array of strings")
		case len(l) > maxNeeds:
			f.nodeError("has too many entries (maximum 50)")
		default:
			d.r.changes, d.r.hasChanges = l, true
			return true
		}
		return false
	}},
	{key: "exists", in: inRules, nulls: true, decode: func(d *ruleDecoder, f field) bool {
		paths := f.val
		if ch, isHash := f.val.(*omap); isHash {
			paths, _ = ch.get("paths")
		}
		l, isList := stringOrList(paths)
		if !isList {
			f.attrError("should be an array of strings")
			return false
		}
		d.r.exists, d.r.hasExists = l, true
		return true
	}},
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
