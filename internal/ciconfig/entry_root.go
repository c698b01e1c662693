package ciconfig

import "slices"

// rootEntries are the top-level keywords (Entry::Root,
// lib/gitlab/ci/config/entry/root.rb; types and spec included so that valid
// configs are accepted). Every other top-level key is a job. The order is
// the order of validation: default: first, as the deprecated top-level
// defaults only count when default: lacks them.
var rootEntries = entries[*compiler]{
	{key: "default", in: inRoot, nulls: true, absent: true, decode: (*compiler).decodeDefault},
	{key: "include", in: inRoot}, // expanded before the check phase (include.go)
	{key: "before_script", in: inRoot, nulls: true, decode: (*compiler).decodeTopLevelDefault},
	{key: "image", in: inRoot, nulls: true, decode: (*compiler).decodeTopLevelDefault},
	{key: "services", in: inRoot, nulls: true, decode: (*compiler).decodeTopLevelDefault},
	{key: "after_script", in: inRoot, nulls: true, decode: (*compiler).decodeTopLevelDefault},
	{key: "cache", in: inRoot, nulls: true, decode: (*compiler).decodeTopLevelDefault},
	{key: "stages", in: inRoot, nulls: true, absent: true, decode: (*compiler).decodeStages},
	{key: "types", in: inRoot}, // the old name of stages, read by the stages entry
	{key: "variables", in: inRoot, nulls: true, decode: func(c *compiler, f field) bool {
		c.globalVars = f.v.variables(f.path(), f.val, inRoot)
		return true
	}},
	{key: "workflow", in: inRoot, decode: (*compiler).decodeWorkflow},
	{key: "spec", in: inRoot}, // the header document's keyword (load.go, include.go)
}

// workflowEntries are the keywords of workflow: (Entry::Workflow).
var workflowEntries = entries[*compiler]{
	{key: "name", in: inWorkflow, nulls: true, decode: func(c *compiler, f field) bool {
		s, isStr := f.val.(string)
		if !isStr || len(s) > 255 {
			f.attrError("should be a string")
		}
		c.workflowName = s
		return true
	}},
	{key: "rules", in: inWorkflow, decode: func(c *compiler, f field) bool {
		c.hasWorkflowRules = true
		c.workflowRules, _ = f.v.rules(f.path(), f.val, inWorkflowRule, []string{"always", "never"})
		return true
	}},
	{key: "auto_cancel", in: inWorkflow, nulls: true, decode: func(c *compiler, f field) bool {
		ac, ok := f.v.autoCancel(f.path(), f.val)
		c.workflowCancel = ac
		return ok
	}},
}

// isJobKey tells whether a top-level key is a job (or a hidden one).
func isJobKey(k string) bool { return rootEntries.lookup(k, inRoot) == nil }

// decodeDefault reads default: once, with its own locations; jobs get copies
// of the decoded values (copyDefaults).
func (c *compiler) decodeDefault(f field) bool {
	defaults := newOmap()
	switch t := f.val.(type) {
	case *omap:
		f.v.rejectUnknown(f.path(), jobEntries.unknown(t, inDefault))
		defaults = t
	case nil:
	default:
		f.nodeError("should be a hash")
	}
	c.defaults = defaults
	c.defaultJob = &Job{}
	jobEntries.decodeKeys(&jobDecoder{c: c, j: c.defaultJob}, f.v, f.path(), defaults, inDefault)
	c.defaultSet = slices.Clone(defaults.keys)
	return true
}

// decodeTopLevelDefault reads a deprecated top-level default (image:,
// cache:, ...), which counts only when default: lacks the key.
func (c *compiler) decodeTopLevelDefault(f field) bool {
	if c.defaults.has(f.key) {
		return true
	}
	if e := jobEntries.lookup(f.key, inDefault); f.val != nil {
		e.decode(&jobDecoder{c: c, j: c.defaultJob}, field{v: f.v, key: f.key, val: f.val, present: true})
	}
	c.defaultSet = append(c.defaultSet, f.key)
	return true
}

// decodeStages reads stages: (or its old name types:), always wrapped by
// .pre and .post.
func (c *compiler) decodeStages(f field) bool {
	stages := []string{"build", "test", "deploy"}
	val, has := f.val, f.present
	if !has {
		val, has = f.parent.get("types")
	}
	if has && val != nil {
		if list, ok := nestedStrings(val); ok {
			stages = list
		} else {
			f.nodeError("should be an array of strings or a nested array of strings up to %d levels deep", maxNestingLevel)
		}
	}
	c.stages = []string{".pre"}
	for _, s := range stages {
		if s != ".pre" && s != ".post" {
			c.stages = append(c.stages, s)
		}
	}
	c.stages = append(c.stages, ".post")
	return true
}

// decodeWorkflow reads workflow:.
func (c *compiler) decodeWorkflow(f field) bool {
	// Unknown keys do not stop the known ones from being read.
	wh, _ := hashOf(f.v, f.path(), f.val, workflowEntries, inWorkflow)
	return wh != nil && workflowEntries.decode(c, f.v, f.path(), wh, inWorkflow, false)
}
