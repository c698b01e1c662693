package ciconfig

import (
	"encoding/json"
	"strings"
)

// triggerEntries are the keys of trigger: in hash form (Entry::Trigger,
// lib/gitlab/ci/config/entry/trigger.rb): a child pipeline
// (inTriggerInclude) or another project's pipeline (inTriggerProject).
// project is required and read first. The first error rejects the trigger.
var triggerEntries = entries[*Trigger]{
	{key: "include", in: inTriggerInclude, nulls: true, decode: (*Trigger).decodeInclude},
	{key: "project", in: inTriggerProject},
	{key: "branch", in: inTriggerProject, nulls: true, decode: attrOf(aString, func(t *Trigger) *string { return &t.Branch })},
	{key: "strategy", in: inTriggerInclude | inTriggerProject, nulls: true, decode: attrOf(triggerStrategy, func(t *Trigger) *string { return &t.Strategy })},
	{key: "forward", in: inTriggerInclude | inTriggerProject, nulls: true, decode: func(t *Trigger, f field) bool {
		fh, ok := hashOf(f.v, f.path(), f.val, forwardEntries, anywhere)
		return ok && forwardEntries.decode(t, f.v, f.path(), fh, anywhere, true)
	}},
	{key: "inputs", in: inTriggerInclude | inTriggerProject, decode: func(t *Trigger, f field) bool {
		if _, isHash := f.val.(*omap); !isHash {
			f.nodeError("should be a hash")
			return false
		}
		t.Inputs = json.RawMessage(toJSON(f.val))
		return true
	}},
}

var triggerStrategy = kind[string]{
	func(x any) (string, bool) { s, _ := x.(string); return s, s == "depend" || s == "mirror" },
	"should be depend or mirror",
}

// forwardEntries are the keys of trigger:forward.
var forwardEntries = entries[*Trigger]{
	{key: "yaml_variables", nulls: true, decode: attrOf(aBoolean, func(t *Trigger) *bool { return &t.ForwardYAMLVariables })},
	{key: "pipeline_variables", nulls: true, decode: attrOf(aBoolean, func(t *Trigger) *bool { return &t.ForwardPipelineVariables })},
}

// trigger validates trigger: of a bridge.
func (v *validator) trigger(loc string, val any) *Trigger {
	tr := &Trigger{ForwardYAMLVariables: true}
	switch t := val.(type) {
	case string:
		tr.Project = t
		return tr
	case *omap:
		in := inTriggerProject
		if t.has("include") {
			in = inTriggerInclude
		}
		if v.rejectUnknown(loc, triggerEntries.unknown(t, in)) {
			return nil
		}
		if in == inTriggerProject {
			p, ok := requiredString(v, loc, t, "project")
			if !ok {
				return nil
			}
			tr.Project = p
		}
		if !triggerEntries.decode(tr, v, loc, t, in, true) {
			return nil
		}
		return tr
	}
	v.add(loc, "config should be a hash or a string")
	return nil
}

// decodeInclude reads trigger:include: the child pipeline's files.
func (tr *Trigger) decodeInclude(f field) bool {
	var items []any
	switch t := f.val.(type) {
	case string:
		tr.Include = []string{strings.TrimLeft(t, "/")}
		return true
	case []any:
		items = t
	case *omap:
		items = []any{t}
	default:
		f.nodeError("should be an array or a string")
		return false
	}
	for _, it := range items {
		switch t := it.(type) {
		case string:
			tr.Include = append(tr.Include, strings.TrimLeft(t, "/"))
		case *omap:
			switch {
			case t.has("local") && t.has("inputs"):
				// Kept whole, so its inputs reach the included file.
				tr.IncludeOther = append(tr.IncludeOther, toJSON(t))
			case t.has("local"):
				l, _ := t.get("local")
				tr.Include = append(tr.Include, strings.TrimLeft(rubyToS(l), "/"))
			case t.has("artifact"):
				if !t.has("job") {
					f.nodeError("must specify the job where to fetch the artifact from")
					return false
				}
				a, _ := t.get("artifact")
				j, _ := t.get("job")
				tr.IncludeArtifact, tr.IncludeJob = rubyToS(a), rubyToS(j)
			case t.has("project"), t.has("template"), t.has("remote"), t.has("component"):
				// Accepted as GitLab does; Gantry resolves only local and
				// artifact child configs, the rest fails at trigger time.
				tr.IncludeOther = append(tr.IncludeOther, toJSON(t))
			default:
				f.nodeError("contains unknown keys: %s", strings.Join(t.keys, ", "))
				return false
			}
		default:
			f.nodeError("should be an array or a string")
			return false
		}
	}
	return true
}
