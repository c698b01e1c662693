package ciconfig

import (
	"cmp"
	"slices"
	"strings"
)

// jobDecoder is what a job's keywords decode into. For default: only j is
// set (default: allows only keywords that need nothing else).
type jobDecoder struct {
	c      *compiler
	s      *jobSpec
	j      *Job
	bridge bool
}

// jobEntries are the keywords of jobs (Entry::Processable, Entry::Job,
// Entry::Bridge) and of default: (Entry::Default), in GitLab's validation
// order. Keywords without a decoder are accepted as GitLab does (EE keys
// included) and not used by Gantry.
var jobEntries = entries[*jobDecoder]{
	{key: "extends", in: inJob, nulls: true, decode: func(_ *jobDecoder, f field) bool {
		if _, ok := stringOrList(f.val); !ok {
			f.attrError("should be an array of strings or a string")
			return false
		}
		return true
	}},
	{key: "when", in: inJob, absent: true, decode: (*jobDecoder).when},
	{key: "start_in", in: inBuild, nulls: true, absent: true, decode: (*jobDecoder).startIn},
	{key: "allow_failure", in: inJob, absent: true, decode: (*jobDecoder).allowFailure},
	{key: "stage", in: inJob, absent: true, decode: (*jobDecoder).stage},
	{key: "type", in: inBuild}, // the old name of stage, read by the stage entry
	{key: "resource_group", in: inJob, decode: attrOf(aString, func(d *jobDecoder) *string { return &d.j.ResourceGroup })},
	{key: "variables", in: inJob, nulls: true, decode: func(d *jobDecoder, f field) bool {
		d.j.Variables = f.v.variables(f.path(), f.val, inJob)
		return true
	}},
	{key: "inherit", in: inJob, decode: func(d *jobDecoder, f field) bool { return f.v.inherit(f, d.s) }},
	{key: "rules", in: inJob, decode: (*jobDecoder).rules},
	{key: "only", in: inJob, decode: func(d *jobDecoder, f field) bool {
		d.s.only, d.s.onlyDefined = f.v.policy(f.path(), f.val, true), true
		return true
	}},
	{key: "except", in: inJob, decode: func(d *jobDecoder, f field) bool {
		d.s.except = f.v.policy(f.path(), f.val, false)
		return true
	}},
	{key: "needs", in: inJob, nulls: true, decode: func(d *jobDecoder, f field) bool {
		if f.val == nil {
			f.nodeError("can't be blank")
			return false
		}
		needs, ok := f.v.needs(f.path(), f.val)
		if ok {
			d.j.Needs, d.s.needsSet = needs, true
		}
		return ok
	}},
	{key: "environment", in: inJob, decode: func(d *jobDecoder, f field) bool { return f.v.environment(f.path(), f.val, d.j) }},
	{key: "interruptible", in: inJob | inDefault,
		decode:  nodeOf(aBoolean, func(d *jobDecoder) *bool { return &d.j.Interruptible }),
		inherit: func(j, d *Job) { j.Interruptible = d.Interruptible }},
	{key: "parallel", in: inJob, decode: (*jobDecoder).parallel},
	{key: "trigger", in: inBridge, absent: true, decode: (*jobDecoder).trigger},
	{key: "manual_confirmation", in: inJob},
	{key: "script", in: inBuild, nulls: true, decode: func(d *jobDecoder, f field) bool {
		d.j.Script = f.v.commands(f.path(), f.val)
		if f.val == nil || (len(d.j.Script) == 0 && isEmptyScript(f.val)) {
			f.attrError("can't be blank")
			return false
		}
		return true
	}},
	{key: "run", in: inBuild}, // CI steps: accepted, run by no Gantry runner
	{key: "dependencies", in: inBuild, decode: (*jobDecoder).dependencies},
	{key: "coverage", in: inBuild, decode: func(d *jobDecoder, f field) bool {
		cv, isStr := f.val.(string)
		if !isStr || !strings.HasPrefix(cv, "/") || !strings.HasSuffix(cv, "/") || len(cv) < 2 {
			f.nodeError("must be a regular expression with re2 syntax")
			return false
		}
		d.j.Coverage = cv[1 : len(cv)-1]
		return true
	}},
	{key: "tags", in: inBuild | inDefault,
		decode:  nodeOf(stringArray, func(d *jobDecoder) *[]string { return &d.j.Tags }),
		inherit: func(j, d *Job) { j.Tags = d.Tags }},
	{key: "before_script", in: inBuild | inDefault,
		decode:  func(d *jobDecoder, f field) bool { d.j.BeforeScript = f.v.commands(f.path(), f.val); return true },
		inherit: func(j, d *Job) { j.BeforeScript = d.BeforeScript }},
	{key: "after_script", in: inBuild | inDefault,
		decode:  func(d *jobDecoder, f field) bool { d.j.AfterScript = f.v.commands(f.path(), f.val); return true },
		inherit: func(j, d *Job) { j.AfterScript = d.AfterScript }},
	{key: "image", in: inBuild | inDefault,
		decode:  func(d *jobDecoder, f field) bool { d.j.Image = f.v.image(f.path(), f.val); return true },
		inherit: func(j, d *Job) { j.Image = d.Image }},
	{key: "services", in: inBuild | inDefault,
		decode:  func(d *jobDecoder, f field) bool { d.j.Services = f.v.services(f.path(), f.val); return true },
		inherit: func(j, d *Job) { j.Services = d.Services }},
	{key: "artifacts", in: inBuild | inDefault,
		decode:  func(d *jobDecoder, f field) bool { d.j.Artifacts = f.v.artifacts(f.path(), f.val); return true },
		inherit: func(j, d *Job) { j.Artifacts = d.Artifacts }},
	{key: "cache", in: inBuild | inDefault,
		decode:  func(d *jobDecoder, f field) bool { d.j.Cache = f.v.cache(f.path(), f.val); return true },
		inherit: func(j, d *Job) { j.Cache = d.Cache }},
	{key: "timeout", in: inBuild | inDefault, decode: (*jobDecoder).timeout,
		inherit: func(j, d *Job) { j.Timeout = d.Timeout }},
	{key: "retry", in: inBuild | inDefault,
		decode:  func(d *jobDecoder, f field) bool { d.j.Retry = f.v.retry(f.path(), f.val); return true },
		inherit: func(j, d *Job) { j.Retry = d.Retry }},
	{key: "hooks", in: inBuild | inDefault},
	{key: "id_tokens", in: inBuild | inDefault},
	{key: "identity", in: inBuild | inDefault},
	{key: "release", in: inBuild},
	{key: "publish", in: inBuild},
	{key: "pages", in: inBuild},
	{key: "secrets", in: inBuild},
	{key: "dast_configuration", in: inBuild},
}

var (
	jobWhen    = oneOf("on_success", "on_failure", "always", "manual", "delayed")
	bridgeWhen = oneOf("on_success", "on_failure", "always", "manual")
)

// when is the job-level when: (on_success when unset).
func (d *jobDecoder) when(f field) bool {
	ok := true
	if f.present {
		k := jobWhen
		if d.bridge {
			k = bridgeWhen
		}
		ok = attr(f, k, &d.s.jobWhen)
	}
	d.j.When = cmp.Or(d.s.jobWhen, "on_success")
	return ok
}

// startIn is start_in: of a delayed job; with rules: the rules set it.
func (d *jobDecoder) startIn(f field) bool {
	switch {
	case d.s.hasRules:
	case f.present && d.s.jobWhen != "delayed":
		f.attrError("must be blank")
		return false
	case f.present:
		var ok bool
		d.j.StartIn, ok = startIn(f)
		return ok
	case d.s.jobWhen == "delayed":
		f.attrError("should be a duration")
		return false
	}
	return true
}

// allowFailure is allow_failure: (a boolean, or exit_codes for jobs); a
// job-level when: manual without it allows failure.
func (d *jobDecoder) allowFailure(f field) bool {
	set := f.present && d.decodeAllowFailure(f)
	if !set {
		d.j.AllowFailure = d.s.jobWhen == "manual"
	}
	return set || !f.present
}

func (d *jobDecoder) decodeAllowFailure(f field) bool {
	switch t := f.val.(type) {
	case bool:
		d.j.AllowFailure = t
		return true
	case *omap:
		if d.bridge {
			break
		}
		if f.v.rejectUnknown(f.path(), unknownKeys(t, []string{"exit_codes"})) {
			return false
		}
		ec, _ := t.get("exit_codes")
		return attr(f.sub("exit_codes", ec), intArray, &d.j.AllowFailureExitCodes)
	}
	if d.bridge {
		f.attrError("should be a boolean value")
	} else {
		f.attrError("should be a hash or a boolean value")
	}
	return false
}

// stage is stage: (or its old name type:); jobs without it go to test.
func (d *jobDecoder) stage(f field) bool {
	if f.present {
		return node(f, aString, &d.j.Stage)
	}
	if x, ok := f.parent.get("type"); ok {
		if st, isStr := x.(string); isStr {
			d.j.Stage = st
		}
	}
	return true
}

// rules is a job's rules:. A last rule with only when: (not never) and no
// workflow:rules gets GitLab's duplicate-pipelines warning.
func (d *jobDecoder) rules(f field) bool {
	var ok bool
	d.s.rules, ok = f.v.rules(f.path(), f.val, inJobRule, ruleWhen)
	if !d.c.hasWorkflowRules && len(d.s.rules) > 0 {
		last := d.s.rules[len(d.s.rules)-1]
		if len(last.keys) == 1 && last.keys[0] == "when" && last.when != "never" {
			f.v.warnings = append(f.v.warnings, f.loc+" may allow multiple pipelines to run for a single action due to `rules:when` clause with no `workflow:rules` - "+msgRulesWarningURL)
		}
	}
	return ok
}

// trigger is trigger: of a bridge; a bridge without it needs a
// needs:pipeline.
func (d *jobDecoder) trigger(f field) bool {
	if f.present {
		d.j.Trigger = f.v.trigger(f.path(), f.val)
		return d.j.Trigger != nil
	}
	if !slices.ContainsFunc(d.j.Needs, func(n Need) bool { return n.Pipeline != "" && n.Job == "" }) {
		f.v.add(f.loc, "config should contain either a trigger or a needs:pipeline")
		return false
	}
	return true
}

// dependencies must be part of needs: when the job has needs.
func (d *jobDecoder) dependencies(f field) bool {
	if !attr(f, stringArray, &d.j.Dependencies) {
		return false
	}
	if !d.s.needsSet {
		return true
	}
	var missing []string
	for _, dep := range d.j.Dependencies {
		if !slices.ContainsFunc(d.j.Needs, func(n Need) bool { return n.Job == dep }) {
			missing = append(missing, dep)
		}
	}
	if len(missing) > 0 {
		f.attrError("the %s should be part of needs", strings.Join(missing, ", "))
		return false
	}
	return true
}

func (d *jobDecoder) timeout(f field) bool {
	secs, ok := durationValue(f.val)
	switch {
	case !ok:
		f.nodeError("should be a duration")
	case secs > limitMonth:
		f.nodeError("should not exceed the limit")
	default:
		d.j.Timeout = secs
		return true
	}
	return false
}

// parallel is parallel: (a count, or matrix:).
func (d *jobDecoder) parallel(f field) bool {
	switch t := f.val.(type) {
	case int64:
		switch {
		case d.bridge:
			f.nodeError("cannot use the \"parallel: <number>\" keyword on trigger jobs")
		case t < 1:
			f.nodeError("must be greater than or equal to 1")
		case t > parallelLimit:
			f.nodeError("must be less than or equal to %d", parallelLimit)
		default:
			d.s.parallel = int(t)
			return true
		}
	case *omap:
		if f.v.rejectUnknown(f.path(), unknownKeys(t, []string{"matrix"})) {
			return false
		}
		m, _ := t.get("matrix")
		combos, ok := f.v.matrix(f.path()+":matrix", m)
		if ok {
			d.s.matrix = combos
		}
		return ok
	default:
		f.attrError("should be an integer or a hash")
	}
	return false
}

// copyDefaults copies into a job the default: keys it lacks and inherits
// (no deep merge, Entry::Default / Entry::Inherit::Default).
func (c *compiler) copyDefaults(s *jobSpec, h *omap) {
	for _, k := range c.defaultSet {
		if h.has(k) || s.noDefaults || (s.inheritDefaults != nil && !slices.Contains(s.inheritDefaults, k)) {
			continue
		}
		if e := jobEntries.lookup(k, inDefault); e != nil && e.inherit != nil {
			e.inherit(&s.job, c.defaultJob)
		}
	}
}

func isEmptyScript(v any) bool {
	switch t := v.(type) {
	case string:
		return t == ""
	case []any:
		return len(flatten(t)) == 0
	}
	return false
}

// inheritEntries are the keywords of inherit: (Entry::Inherit).
var inheritEntries = entries[*jobSpec]{
	{key: "default", nulls: true, decode: func(s *jobSpec, f field) bool { return inheritList(f, &s.noDefaults, &s.inheritDefaults) }},
	{key: "variables", nulls: true, decode: func(s *jobSpec, f field) bool { return inheritList(f, &s.noGlobals, &s.inheritVars) }},
}

func (v *validator) inherit(f field, s *jobSpec) bool {
	ih, ok := f.val.(*omap)
	if !ok {
		f.nodeError("should be a hash")
		return false
	}
	if v.rejectUnknown(f.path(), inheritEntries.unknown(ih, anywhere)) {
		return false
	}
	return inheritEntries.decode(s, v, f.path(), ih, anywhere, false)
}

// inheritList reads inherit:default or inherit:variables: false (none),
// true (all) or the list of names to inherit.
func inheritList(f field, none *bool, list *[]string) bool {
	if b, ok := f.val.(bool); ok {
		*none = !b
		return true
	}
	l, ok := stringList(f.val)
	if !ok {
		f.nodeError("should be a boolean value or an array of strings")
		return false
	}
	*list = l
	return true
}
