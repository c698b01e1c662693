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
	inheritable("interruptible", inJob|inDefault, func(j *Job) *bool { return &j.Interruptible }, nodeKind(aBoolean)),
	{key: "parallel", in: inJob, decode: (*jobDecoder).parallel},
	{key: "trigger", in: inBridge, absent: true, decode: (*jobDecoder).trigger},
	{key: "manual_confirmation", in: inBuild, decode: attrOf(aString, func(d *jobDecoder) *string { return &d.j.ManualConfirmation })},
	{key: "script", in: inBuild, nulls: true, decode: func(d *jobDecoder, f field) bool {
		d.j.Script = f.v.commands(f.path(), f.val)
		if f.val == nil || (len(d.j.Script) == 0 && isEmptyScript(f.val)) {
			f.attrError("can't be blank")
			return false
		}
		return true
	}},
	{key: "run", in: inBuild, decode: (*jobDecoder).run},
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
	inheritable("tags", inBuild|inDefault, func(j *Job) *[]string { return &j.Tags }, nodeKind(stringArray)),
	inheritable("before_script", inBuild|inDefault, func(j *Job) *[]string { return &j.BeforeScript }, by((*validator).commands)),
	inheritable("after_script", inBuild|inDefault, func(j *Job) *[]string { return &j.AfterScript }, by((*validator).commands)),
	inheritable("image", inBuild|inDefault, func(j *Job) **Image { return &j.Image }, by((*validator).image)),
	inheritable("services", inBuild|inDefault, func(j *Job) *[]Image { return &j.Services }, by((*validator).services)),
	inheritable("artifacts", inBuild|inDefault, func(j *Job) **Artifacts { return &j.Artifacts }, by((*validator).artifacts)),
	inheritable("cache", inBuild|inDefault, func(j *Job) *[]Cache { return &j.Cache }, by((*validator).cache)),
	inheritable("timeout", inBuild|inDefault, func(j *Job) *int { return &j.Timeout }, decodeTimeout),
	inheritable("retry", inBuild|inDefault, func(j *Job) **Retry { return &j.Retry }, by((*validator).retry)),
	inheritable("hooks", inBuild|inDefault, func(j *Job) **Hooks { return &j.Hooks }, decodeHooks),
	inheritable("id_tokens", inBuild|inDefault, func(j *Job) *[]string { return &j.IDTokens }, decodeIDTokens),
	{key: "identity", in: inBuild | inDefault},
	{key: "release", in: inBuild, decode: (*jobDecoder).release},
	{key: "pages", in: inBuild, decode: (*jobDecoder).pages},
	{key: "publish", in: inBuild, decode: (*jobDecoder).publish},
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
	if d.s.hasRules {
		return true
	}
	return startIn(f, d.s.jobWhen == "delayed", &d.j.StartIn, "start in must be blank", "start in should be a duration")
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

// run is CI/CD steps (GitLab's step runner): exclusive with script:, and
// refused, since neither the built-in runner nor Gantry's runner payload
// carries steps; a job would otherwise run nothing and succeed.
func (d *jobDecoder) run(f field) bool {
	if f.parent.has("script") {
		f.v.add(f.loc, "config these keys cannot be used together: script, run")
		return false
	}
	// Gantry's own sentence: kept out of add(), which lowercases.
	f.v.errs = append(f.v.errs, f.loc+" run is not supported by this server: CI/CD steps need GitLab's step runner; use script")
	return false
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

// decodeTimeout is timeout: in seconds, at most a month.
func decodeTimeout(f field, dst *int) bool {
	secs, ok := durationValue(f.val)
	switch {
	case !ok:
		f.nodeError("should be a duration")
	case secs > limitMonth:
		f.nodeError("should not exceed the limit")
	default:
		*dst = secs
		return true
	}
	return false
}

// inheritable is a job keyword that default: may set too: dec decodes it
// into the Job field sel picks, and a job lacking the key gets default's
// value (no deep merge).
func inheritable[V any](key string, in scope, sel func(*Job) *V, dec func(field, *V) bool) entry[*jobDecoder] {
	return entry[*jobDecoder]{
		key:     key,
		in:      in,
		decode:  func(d *jobDecoder, f field) bool { return dec(f, sel(d.j)) },
		inherit: func(j, def *Job) { *sel(j) = *sel(def) },
	}
}

// by adapts a validator method (which reports its own errors) to a decoder.
func by[V any](m func(*validator, string, any) V) func(field, *V) bool {
	return func(f field, dst *V) bool { *dst = m(f.v, f.path(), f.val); return true }
}

// nodeKind adapts a kind to an entry-style decoder.
func nodeKind[V any](k kind[V]) func(field, *V) bool {
	return func(f field, dst *V) bool { return node(f, k, dst) }
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
	ih, ok := hashOf(v, f.path(), f.val, inheritEntries, anywhere)
	return ok && inheritEntries.decode(s, v, f.path(), ih, anywhere, false)
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
