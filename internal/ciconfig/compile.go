package ciconfig

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Messages of pipeline creation (chain/evaluate_workflow_rules.rb,
// chain/populate.rb) and of the seed step.
const (
	msgWorkflowFiltered = "Pipeline filtered out by workflow rules."
	msgNoJobs           = "Pipeline will not run for the selected trigger. The rules configuration prevented any jobs from being added to the pipeline."
	msgRulesWarningURL  = "read more: https://docs.gitlab.com/ee/ci/troubleshooting.html#pipeline-warnings"
)

var (
	// ErrWorkflowFiltered is matched (errors.Is) by the *Error Compile returns
	// when workflow:rules keep no pipeline.
	ErrWorkflowFiltered = errors.New(msgWorkflowFiltered)
	// ErrNoJobs is matched by the *Error Compile returns when rules leave no
	// job outside .pre/.post (failure_reason filtered_by_rules).
	ErrNoJobs = errors.New(msgNoJobs)
)

// Error is a configuration error. Errors holds GitLab's messages: all syntax
// errors, or the single logical/seed error. Pipeline creation keeps Errors[0].
type Error struct {
	Errors []string
	kind   error
}

// Error joins the messages with newlines.
func (e *Error) Error() string { return strings.Join(e.Errors, "\n") }

// Unwrap exposes ErrWorkflowFiltered or ErrNoJobs when one applies.
func (e *Error) Unwrap() error { return e.kind }

// LintResult is the answer of the CI Lint API.
type LintResult struct {
	Valid      bool     `json:"valid"`
	Errors     []string `json:"errors"`
	Warnings   []string `json:"warnings"`
	MergedYAML string   `json:"merged_yaml"`
	// Jobs are all jobs of the configuration (parallel jobs expanded) with
	// their static when/allow_failure, for include_jobs.
	Jobs []*Job `json:"jobs,omitempty"`
}

// maxLintWarnings is the number of warnings the Lint API reports.
const maxLintWarnings = 25

// Compile loads, validates and evaluates a configuration for one pipeline.
// Errors are *Error with GitLab's messages (use Errors[0] for pipeline
// creation); they match ErrWorkflowFiltered and ErrNoJobs with errors.Is.
func Compile(src Source) (*Plan, error) {
	c, err := analyze(src)
	if err != nil {
		return nil, err
	}
	return c.evaluate()
}

// Lint validates without evaluating rules against a real ref.
func Lint(src Source) LintResult {
	res := LintResult{Errors: []string{}, Warnings: []string{}}
	c, err := analyze(src)
	if c != nil && c.merged != nil {
		res.MergedYAML = dumpYAML(c.merged)
	}
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			res.Errors = ce.Errors
		} else {
			res.Errors = []string{err.Error()}
		}
		if c != nil {
			res.Warnings = capWarnings(c.v.warnings)
		}
		return res
	}
	res.Valid = true
	res.Warnings = capWarnings(c.v.warnings)
	for _, in := range c.instances {
		j := in.job
		res.Jobs = append(res.Jobs, &j)
	}
	return res
}

func capWarnings(w []string) []string {
	if len(w) > maxLintWarnings {
		w = w[:maxLintWarnings]
	}
	return append([]string{}, w...)
}

// compiler holds one analysis of a configuration.
type compiler struct {
	src    Source
	v      validator
	merged *omap

	stages           []string
	globalVars       []Variable
	hasWorkflowRules bool
	workflowRules    []*rule
	workflowName     string
	workflowCancel   *AutoCancel
	defaultJob       *Job
	defaultSet       []string
	specs            []*jobSpec
	instances        []*instance
	byName           map[string]*instance
}

// jobSpec is a validated job before parallel expansion and rules.
type jobSpec struct {
	name        string
	job         Job
	jobWhen     string // job-level when:, "" when unset
	hasRules    bool
	rules       []*rule
	only        *policy
	except      *policy
	onlyDefined bool
	// inheritVars is nil for all globals, or the list allowed.
	inheritVars []string
	noGlobals   bool
	// inheritDefaults is nil for all default: keys, or the list allowed.
	inheritDefaults []string
	noDefaults      bool
	parallel        int
	matrix          [][]Variable
	needsSet        bool
	// parallelNames are the expanded instance names, for needs/dependencies.
	parallelNames []string
}

// instance is one expanded (parallel) job.
type instance struct {
	spec       *jobSpec
	job        Job
	matrixVars []Variable
}

// analyze runs everything up to the logical checks (creation steps 3-7).
func analyze(src Source) (*compiler, error) {
	c := &compiler{src: src, byName: map[string]*instance{}}
	root, _, err := loadYAML(src.Content)
	if err != nil {
		return nil, configError(err)
	}
	inc := &includer{src: src}
	root, err = inc.expand(root, 0)
	if err != nil {
		return nil, configError(err)
	}
	if err := applyExtends(root); err != nil {
		return nil, configError(err)
	}
	if err := resolveReferences(root); err != nil {
		return nil, configError(err)
	}
	c.merged = root
	c.validateRoot(root)
	if len(c.v.errs) > 0 {
		return c, &Error{Errors: c.v.errs}
	}
	c.expandParallel()
	if err := c.logicalChecks(); err != nil {
		return c, &Error{Errors: []string{err.Error()}}
	}
	return c, nil
}

func configError(err error) error {
	var le *loadError
	if errors.As(err, &le) {
		return &Error{Errors: []string{le.msg}}
	}
	return &Error{Errors: []string{err.Error()}}
}

// validateRoot validates global keys in Entry::Root order, then the jobs.
func (c *compiler) validateRoot(root *omap) {
	v := &c.v
	var defaults *omap
	if d, ok := root.get("default"); ok {
		dh, isHash := d.(*omap)
		switch {
		case isHash:
			if bad := unknownKeys(dh, defaultKeys); len(bad) > 0 {
				v.add("default", "config contains unknown keys: %s", strings.Join(bad, ", "))
			}
			defaults = dh
		case d != nil:
			v.add("default", "config should be a hash")
		}
	}
	if defaults == nil {
		defaults = newOmap()
	}
	// Defaults are validated once, with their own locations, and copied
	// into jobs as parsed values.
	c.defaultJob = &Job{}
	c.applyKeys("default", defaults, c.defaultJob, nil)
	c.defaultSet = slices.Clone(defaults.keys)
	// Deprecated top-level keys are defaults too, when default: lacks them.
	for _, k := range []string{"before_script", "image", "services", "after_script", "cache"} {
		if x, ok := root.get(k); ok && !defaults.has(k) {
			one := newOmap()
			one.set(k, x)
			c.applyKeys("", one, c.defaultJob, nil)
			c.defaultSet = append(c.defaultSet, k)
		}
	}

	stages := []string{"build", "test", "deploy"}
	sv, hasStages := root.get("stages")
	if !hasStages {
		sv, hasStages = root.get("types")
	}
	if hasStages && sv != nil {
		arr, ok := sv.([]any)
		list := []string{}
		if ok && nestingDepth(sv) <= maxNestingLevel {
			for _, e := range flatten(arr) {
				s, isStr := e.(string)
				if !isStr {
					ok = false
					break
				}
				list = append(list, s)
			}
		}
		if ok {
			stages = list
		} else {
			v.add("stages", "config should be an array of strings or a nested array of strings up to %d levels deep", maxNestingLevel)
		}
	}
	c.stages = []string{".pre"}
	for _, s := range stages {
		if s != ".pre" && s != ".post" {
			c.stages = append(c.stages, s)
		}
	}
	c.stages = append(c.stages, ".post")

	if gv, ok := root.get("variables"); ok {
		c.globalVars = v.variables("variables", gv, []string{"value", "description", "expand", "options"})
	}
	if wv, ok := root.get("workflow"); ok && wv != nil {
		wh, isHash := wv.(*omap)
		if !isHash {
			v.add("workflow", "config should be a hash")
		} else {
			if bad := unknownKeys(wh, workflowKeys); len(bad) > 0 {
				v.add("workflow", "config contains unknown keys: %s", strings.Join(bad, ", "))
			}
			if n, ok := wh.get("name"); ok {
				s, isStr := n.(string)
				if !isStr || len(s) > 255 {
					v.add("workflow", "name should be a string")
				}
				c.workflowName = s
			}
			if ac, ok := wh.get("auto_cancel"); ok && ac != nil {
				c.workflowCancel, _ = v.autoCancel("workflow:auto_cancel", ac)
			}
			if r, ok := wh.get("rules"); ok && r != nil {
				c.hasWorkflowRules = true
				c.workflowRules, _ = v.rules("workflow:rules", r, workflowRuleKeys, []string{"always", "never"}, false)
			}
		}
	}

	visible := 0
	type pending struct {
		name string
		val  any
	}
	var jobs []pending
	for _, k := range root.keys {
		if slices.Contains(rootKeys, k) {
			continue
		}
		if !strings.HasPrefix(k, ".") {
			visible++
		}
		jobs = append(jobs, pending{k, root.m[k]})
	}
	if visible == 0 {
		v.add("jobs", "config should contain at least one visible job")
	}
	for _, p := range jobs {
		if root.nonString[p.name] {
			v.add("jobs:"+p.name, "name should be a symbol")
			continue
		}
		if strings.HasPrefix(p.name, ".") {
			if p.val == nil {
				v.add("jobs:"+p.name, "config can't be blank")
			}
			continue
		}
		c.validateJob(p.name, p.val, defaults)
	}
}

// validateJob validates one visible job and records its spec.
func (c *compiler) validateJob(name string, val any, defaults *omap) {
	v := &c.v
	loc := "jobs:" + name
	if name == "" {
		v.add(loc, "name can't be blank")
		return
	}
	h, isHash := val.(*omap)
	isBuild := isHash && (h.has("script") || h.has("run"))
	isBridge := isHash && !isBuild && (h.has("trigger") || h.has("needs"))
	if !isBuild && !isBridge {
		v.add("jobs", "%s config should implement the script:, run:, or trigger: keyword", humanize(name))
		return
	}
	if len(name) > maxJobNameLen {
		v.add(loc, "name is too long (maximum is %d characters)", maxJobNameLen)
	}
	if isBuild {
		if bad := unknownKeys(h, buildKeys, processableKeys); len(bad) > 0 {
			v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
		}
	} else {
		if bad := unknownKeys(h, bridgeKeys, processableKeys); len(bad) > 0 {
			v.add(loc, "config contains unknown keys: %s", strings.Join(bad, ", "))
		}
	}
	s := &jobSpec{name: name}
	j := &s.job
	j.Name = name
	j.Bridge = isBridge
	j.Stage = "test"

	rv, hasRules := h.get("rules")
	s.hasRules = hasRules && rv != nil
	if s.hasRules {
		var bad []string
		for _, k := range []string{"only", "except", "start_in"} {
			if x, ok := h.get(k); ok && x != nil {
				bad = append(bad, k)
			}
		}
		if len(bad) > 0 {
			v.add(loc, "config key may not be used with `rules`: %s", strings.Join(bad, ", "))
		}
	}
	if x, ok := h.get("extends"); ok {
		if _, good := extendsList(x); !good {
			v.add(loc, "extends should be an array of strings or a string")
		}
	}
	if x, ok := h.get("when"); ok && x != nil {
		allowed := jobWhen
		if isBridge {
			allowed = bridgeWhen
		}
		w, isStr := x.(string)
		if !isStr || !slices.Contains(allowed, w) {
			v.add(loc, "when should be one of: %s", strings.Join(allowed, ", "))
		} else {
			s.jobWhen = w
		}
	}
	j.When = s.jobWhen
	if j.When == "" {
		j.When = "on_success"
	}
	if x, ok := h.get("start_in"); ok && !s.hasRules {
		if s.jobWhen != "delayed" {
			v.add(loc, "start in must be blank")
		} else if secs, good := durationValue(x); !good {
			v.add(loc, "start in should be a duration")
		} else if secs > limitWeek {
			v.add(loc, "start in should not exceed the limit")
		} else {
			j.StartIn = rubyToS(x)
		}
	} else if s.jobWhen == "delayed" && !s.hasRules {
		v.add(loc, "start in should be a duration")
	}

	// allow_failure: job-level value, or true for a job-level manual job.
	afSet := false
	if x, ok := h.get("allow_failure"); ok && x != nil {
		switch t := x.(type) {
		case bool:
			j.AllowFailure, afSet = t, true
		case *omap:
			if isBridge {
				v.add(loc, "allow failure should be a boolean value")
				break
			}
			if bad := unknownKeys(t, []string{"exit_codes"}); len(bad) > 0 {
				v.add(loc+":allow_failure", "config contains unknown keys: %s", strings.Join(bad, ", "))
				break
			}
			ec, _ := t.get("exit_codes")
			codes, good := intList(ec)
			if !good {
				v.add(loc+":allow_failure", "exit codes should be an array of integers or an integer")
				break
			}
			j.AllowFailureExitCodes, afSet = codes, true
		default:
			if isBridge {
				v.add(loc, "allow failure should be a boolean value")
			} else {
				v.add(loc, "allow failure should be a hash or a boolean value")
			}
		}
	}
	if !afSet {
		j.AllowFailure = s.jobWhen == "manual"
	}

	if x, ok := h.get("stage"); ok && x != nil {
		st, isStr := x.(string)
		if !isStr {
			v.add(loc+":stage", "config should be a string")
		} else {
			j.Stage = st
		}
	} else if x, ok := h.get("type"); ok && x != nil {
		if st, isStr := x.(string); isStr {
			j.Stage = st
		}
	}
	if x, ok := h.get("resource_group"); ok && x != nil {
		rg, isStr := x.(string)
		if !isStr {
			v.add(loc, "resource group should be a string")
		} else {
			j.ResourceGroup = rg
		}
	}
	if x, ok := h.get("variables"); ok {
		j.Variables = v.variables(loc+":variables", x, []string{"value", "expand"})
	}
	if x, ok := h.get("inherit"); ok && x != nil {
		c.inherit(loc, x, s, h, defaults)
	}
	if s.hasRules {
		s.rules, _ = v.rules(loc+":rules", rv, ruleKeys, ruleWhen, true)
		if !c.hasWorkflowRules && len(s.rules) > 0 {
			last := s.rules[len(s.rules)-1]
			if len(last.keys) == 1 && last.keys[0] == "when" && last.when != "never" {
				c.v.warnings = append(c.v.warnings, loc+" may allow multiple pipelines to run for a single action due to `rules:when` clause with no `workflow:rules` - "+msgRulesWarningURL)
			}
		}
	}
	if x, ok := h.get("only"); ok && x != nil {
		s.only, s.onlyDefined = v.policy(loc+":only", x, true), true
	}
	if x, ok := h.get("except"); ok && x != nil {
		s.except = v.policy(loc+":except", x, false)
	}
	if x, ok := h.get("needs"); ok {
		if x == nil {
			v.add(loc+":needs", "config can't be blank")
		} else {
			needs, good := v.needs(loc+":needs", x)
			if good {
				j.Needs, s.needsSet = needs, true
				if len(needs) > maxNeeds {
					// Seed error in GitLab; reported here as it is static.
				}
			}
		}
	}
	if x, ok := h.get("environment"); ok && x != nil {
		v.environment(loc+":environment", x, j)
	}
	if x, ok := h.get("interruptible"); ok && x != nil {
		b, isBool := x.(bool)
		if !isBool {
			v.add(loc+":interruptible", "config should be a boolean value")
		}
		j.Interruptible = b
	}
	if x, ok := h.get("parallel"); ok && x != nil {
		c.parallel(loc, x, s, isBridge)
	}

	if isBridge {
		if x, ok := h.get("trigger"); ok && x != nil {
			j.Trigger = v.trigger(loc+":trigger", x)
		} else {
			bridgeNeed := false
			for _, n := range j.Needs {
				if n.Pipeline != "" && n.Job == "" {
					bridgeNeed = true
				}
			}
			if !bridgeNeed {
				v.add(loc, "config should contain either a trigger or a needs:pipeline")
			}
		}
		if x, ok := h.get("inherit"); ok && x != nil {
			_ = x
		}
		c.specs = append(c.specs, s)
		return
	}

	script, _ := h.get("script")
	if !h.has("script") {
		script, _ = h.get("run")
	}
	if h.has("script") {
		j.Script = v.commands(loc+":script", script)
		if script == nil || (len(j.Script) == 0 && isEmptyScript(script)) {
			v.add(loc, "script can't be blank")
		}
	}
	if x, ok := h.get("dependencies"); ok && x != nil {
		l, good := stringList(x)
		if !good {
			v.add(loc, "dependencies should be an array of strings")
		} else {
			j.Dependencies = l
			if s.needsSet {
				var missing []string
				for _, d := range l {
					if !slices.ContainsFunc(j.Needs, func(n Need) bool { return n.Job == d }) {
						missing = append(missing, d)
					}
				}
				if len(missing) > 0 {
					v.add(loc, "dependencies the %s should be part of needs", strings.Join(missing, ", "))
				}
			}
		}
	}
	if x, ok := h.get("coverage"); ok && x != nil {
		cv, isStr := x.(string)
		if !isStr || !strings.HasPrefix(cv, "/") || !strings.HasSuffix(cv, "/") || len(cv) < 2 {
			v.add(loc+":coverage", "config must be a regular expression with re2 syntax")
		} else {
			j.Coverage = cv[1 : len(cv)-1]
		}
	}
	if x, ok := h.get("tags"); ok && x != nil {
		l, good := stringList(x)
		if !good {
			v.add(loc+":tags", "config should be an array of strings")
		} else {
			j.Tags = l
		}
	}
	own := newOmap()
	for _, k := range []string{"before_script", "after_script", "image", "services", "artifacts", "cache", "timeout", "retry"} {
		if x, ok := h.get(k); ok {
			own.set(k, x)
		}
	}
	c.applyKeys(loc, own, j, h)
	// default: copies a key only when the job lacks it (no deep merge).
	for _, k := range c.defaultSet {
		if h.has(k) || s.noDefaults || (s.inheritDefaults != nil && !slices.Contains(s.inheritDefaults, k)) {
			continue
		}
		copyDefault(j, c.defaultJob, k)
	}
	c.specs = append(c.specs, s)
}

// copyDefault copies one parsed default: key into a job.
func copyDefault(j, d *Job, key string) {
	switch key {
	case "before_script":
		j.BeforeScript = d.BeforeScript
	case "after_script":
		j.AfterScript = d.AfterScript
	case "image":
		j.Image = d.Image
	case "services":
		j.Services = d.Services
	case "artifacts":
		j.Artifacts = d.Artifacts
	case "cache":
		j.Cache = d.Cache
	case "timeout":
		j.Timeout = d.Timeout
	case "retry":
		j.Retry = d.Retry
	case "tags":
		j.Tags = d.Tags
	case "interruptible":
		j.Interruptible = d.Interruptible
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

// applyKeys validates and sets the keys that default: can supply.
func (c *compiler) applyKeys(loc string, h *omap, j *Job, jobCfg *omap) {
	v := &c.v
	for _, k := range h.keys {
		x := h.m[k]
		if x == nil {
			continue
		}
		kloc := k
		if loc != "" {
			kloc = loc + ":" + k
		}
		switch k {
		case "before_script":
			j.BeforeScript = v.commands(kloc, x)
		case "after_script":
			j.AfterScript = v.commands(kloc, x)
		case "image":
			j.Image = v.image(kloc, x)
		case "services":
			j.Services = v.services(kloc, x)
		case "artifacts":
			j.Artifacts = v.artifacts(kloc, x)
		case "cache":
			j.Cache = v.cache(kloc, x)
		case "timeout":
			secs, good := durationValue(x)
			switch {
			case !good:
				v.add(kloc, "config should be a duration")
			case secs > limitMonth:
				v.add(kloc, "config should not exceed the limit")
			default:
				j.Timeout = secs
			}
		case "retry":
			j.Retry = v.retry(kloc, x)
		case "tags":
			if l, good := stringList(x); good {
				j.Tags = l
			} else {
				v.add(kloc, "config should be an array of strings")
			}
		case "interruptible":
			if b, good := x.(bool); good {
				j.Interruptible = b
			} else {
				v.add(kloc, "config should be a boolean value")
			}
		}
	}
}

// inherit reads inherit:default and inherit:variables.
func (c *compiler) inherit(loc string, x any, s *jobSpec, h, defaults *omap) {
	v := &c.v
	ih, ok := x.(*omap)
	if !ok {
		v.add(loc+":inherit", "config should be a hash")
		return
	}
	if bad := unknownKeys(ih, []string{"default", "variables"}); len(bad) > 0 {
		v.add(loc+":inherit", "config contains unknown keys: %s", strings.Join(bad, ", "))
		return
	}
	if d, ok := ih.get("default"); ok {
		switch t := d.(type) {
		case bool:
			s.noDefaults = !t
		default:
			l, good := stringList(t)
			if !good {
				v.add(loc+":inherit:default", "config should be a boolean value or an array of strings")
				break
			}
			s.inheritDefaults = l
		}
	}
	if d, ok := ih.get("variables"); ok {
		switch t := d.(type) {
		case bool:
			s.noGlobals = !t
		default:
			l, good := stringList(t)
			if !good {
				v.add(loc+":inherit:variables", "config should be a boolean value or an array of strings")
				break
			}
			s.inheritVars = l
		}
	}
}

// parallel validates parallel: (count or matrix).
func (c *compiler) parallel(loc string, x any, s *jobSpec, isBridge bool) {
	v := &c.v
	switch t := x.(type) {
	case int64:
		if isBridge {
			v.add(loc+":parallel", "config cannot use the \"parallel: <number>\" keyword on trigger jobs")
			return
		}
		if t < 1 {
			v.add(loc+":parallel", "config must be greater than or equal to 1")
			return
		}
		if t > parallelLimit {
			v.add(loc+":parallel", "config must be less than or equal to %d", parallelLimit)
			return
		}
		s.parallel = int(t)
	case *omap:
		if bad := unknownKeys(t, []string{"matrix"}); len(bad) > 0 {
			v.add(loc+":parallel", "config contains unknown keys: %s", strings.Join(bad, ", "))
			return
		}
		m, _ := t.get("matrix")
		combos, good := v.matrix(loc+":parallel:matrix", m)
		if good {
			s.matrix = combos
		}
	default:
		v.add(loc, "parallel should be an integer or a hash")
	}
}

// matrixName is MatrixStrategy#name: "job: [v1, v2]".
func matrixName(job string, vars []Variable) string {
	vals := make([]string, len(vars))
	for i, kv := range vars {
		vals[i] = kv.Value
	}
	return job + ": [" + strings.Join(vals, ", ") + "]"
}

// expandParallel builds the instances (Config::Normalizer).
func (c *compiler) expandParallel() {
	for _, s := range c.specs {
		switch {
		case s.parallel > 0:
			for i := 1; i <= s.parallel; i++ {
				j := s.job
				j.Name = fmt.Sprintf("%s %d/%d", s.name, i, s.parallel)
				j.ParallelIndex, j.ParallelTotal = i, s.parallel
				s.parallelNames = append(s.parallelNames, j.Name)
				c.addInstance(&instance{spec: s, job: j})
			}
		case len(s.matrix) > 0:
			for i, combo := range s.matrix {
				j := s.job
				j.Name = matrixName(s.name, combo)
				j.ParallelIndex, j.ParallelTotal = i+1, len(s.matrix)
				j.Variables = overlayVars(j.Variables, combo)
				s.parallelNames = append(s.parallelNames, j.Name)
				c.addInstance(&instance{spec: s, job: j, matrixVars: combo})
			}
		default:
			c.addInstance(&instance{spec: s, job: s.job})
		}
	}
	specByName := map[string]*jobSpec{}
	for _, s := range c.specs {
		specByName[s.name] = s
	}
	for _, in := range c.instances {
		in.job.Needs = expandNeeds(in.job.Needs, specByName)
		in.job.Dependencies = expandNames(in.job.Dependencies, specByName)
		for _, r := range in.spec.rules {
			_ = r
		}
	}
}

func (c *compiler) addInstance(in *instance) {
	in.job.StageIdx = slices.Index(c.stages, in.job.Stage)
	c.instances = append(c.instances, in)
	c.byName[in.job.Name] = in
}

// expandNeeds replaces a need on a parallel job by needs on all its
// instances (or on the instances selected by needs:parallel:matrix).
func expandNeeds(needs []Need, specs map[string]*jobSpec) []Need {
	if needs == nil {
		return nil
	}
	out := []Need{}
	for _, n := range needs {
		s := specs[n.Job]
		if s == nil || len(s.parallelNames) == 0 {
			n.matrix = nil
			out = append(out, n)
			continue
		}
		names := s.parallelNames
		if n.matrix != nil {
			names = nil
			for _, combo := range n.matrix {
				names = append(names, matrixName(n.Job, combo))
			}
		}
		for _, name := range names {
			e := n
			e.Job, e.matrix = name, nil
			out = append(out, e)
		}
	}
	return out
}

func expandNames(names []string, specs map[string]*jobSpec) []string {
	if names == nil {
		return nil
	}
	out := []string{}
	for _, n := range names {
		if s := specs[n]; s != nil && len(s.parallelNames) > 0 {
			out = append(out, s.parallelNames...)
		} else {
			out = append(out, n)
		}
	}
	return out
}

// logicalChecks are YamlProcessor#validate_job! and the DAG check; the first
// error aborts.
func (c *compiler) logicalChecks() error {
	avail := strings.Join(c.stages, ", ")
	for _, in := range c.instances {
		j := &in.job
		if !slices.Contains(c.stages, j.Stage) {
			return fmt.Errorf("%s job: chosen stage %s does not exist; available stages are %s", j.Name, j.Stage, avail)
		}
		for _, d := range j.Dependencies {
			if err := c.checkDependency(j, d, "dependency", false); err != nil {
				return err
			}
		}
		if err := c.checkNeeds(j, j.Needs); err != nil {
			return err
		}
		for _, r := range in.spec.rules {
			if r.hasNeeds {
				if err := c.checkNeeds(j, expandNeeds(r.needs, c.specMap())); err != nil {
					return err
				}
			}
		}
		if t := j.Trigger; t != nil && t.IncludeJob != "" {
			if err := c.checkDependency(j, t.IncludeJob, "dependency", false); err != nil {
				return err
			}
		}
		if j.EnvironmentOnStop != "" {
			if err := c.checkOnStop(j); err != nil {
				return err
			}
		}
	}
	return c.checkCycles()
}

func (c *compiler) specMap() map[string]*jobSpec {
	m := map[string]*jobSpec{}
	for _, s := range c.specs {
		m[s.name] = s
	}
	return m
}

func (c *compiler) checkNeeds(j *Job, needs []Need) error {
	seen := map[string]int{}
	var dup []string
	for _, n := range needs {
		if n.Job == "" {
			continue
		}
		if n.Project != "" || n.Pipeline != "" {
			continue
		}
		if err := c.checkDependency(j, n.Job, "need", n.Optional); err != nil {
			return err
		}
		seen[n.Job]++
		if seen[n.Job] == 2 {
			dup = append(dup, n.Job)
		}
	}
	if len(dup) > 0 {
		return fmt.Errorf("%s has the following needs duplicated: %s.", j.Name, strings.Join(dup, ", "))
	}
	return nil
}

func (c *compiler) checkDependency(j *Job, dep, kind string, optional bool) error {
	other, ok := c.byName[dep]
	if !ok {
		if optional {
			return nil
		}
		return fmt.Errorf("%s job: undefined %s: %s", j.Name, kind, dep)
	}
	if kind == "need" && len(dep) > maxNeedNameLen {
		return fmt.Errorf("%s job: need `%s` name is too long (maximum is %d characters)", j.Name, dep, maxNeedNameLen)
	}
	di := slices.Index(c.stages, other.job.Stage)
	if di < 0 || di > j.StageIdx {
		return fmt.Errorf("%s job: %s %s is not defined in current or prior stages", j.Name, kind, dep)
	}
	return nil
}

func (c *compiler) checkOnStop(j *Job) error {
	stop, ok := c.byName[j.EnvironmentOnStop]
	name := j.EnvironmentOnStop
	switch {
	case !ok:
		return fmt.Errorf("%s job: on_stop job %s is not defined", j.Name, name)
	case stop.job.Environment == "":
		return fmt.Errorf("%s job: on_stop job %s does not have environment defined", j.Name, name)
	case stop.job.Environment != j.Environment:
		return fmt.Errorf("%s job: on_stop job %s have different environment name", j.Name, name)
	case stop.job.EnvironmentAction != "stop":
		return fmt.Errorf("%s job: on_stop job %s needs to have action stop defined", j.Name, name)
	}
	return nil
}

// checkCycles mirrors Ruby's TSort over needs (Tarjan, strongly connected
// components listed in stack order).
func (c *compiler) checkCycles() error {
	graph := map[string][]string{}
	var order []string
	for _, in := range c.instances {
		order = append(order, in.job.Name)
		for _, n := range in.job.Needs {
			if n.Job == "" {
				continue
			}
			if n.Job == in.job.Name {
				return fmt.Errorf("The pipeline has circular dependencies: self-dependency: %s", n.Job)
			}
			graph[in.job.Name] = append(graph[in.job.Name], n.Job)
		}
	}
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	next := 0
	var cycle []string
	var strong func(n string)
	strong = func(n string) {
		index[n], low[n] = next, next
		next++
		stack = append(stack, n)
		onStack[n] = true
		for _, m := range graph[n] {
			if cycle != nil {
				return
			}
			if _, seen := index[m]; !seen {
				strong(m)
				low[n] = min(low[n], low[m])
			} else if onStack[m] {
				low[n] = min(low[n], index[m])
			}
		}
		if cycle == nil && low[n] == index[n] {
			i := slices.Index(stack, n)
			comp := slices.Clone(stack[i:])
			stack = stack[:i]
			for _, x := range comp {
				onStack[x] = false
			}
			if len(comp) > 1 {
				cycle = comp
			}
		}
	}
	for _, n := range order {
		if _, seen := index[n]; !seen {
			strong(n)
		}
		if cycle != nil {
			q := make([]string, len(cycle))
			for i, x := range cycle {
				q[i] = fmt.Sprintf("%q", x)
			}
			return fmt.Errorf("The pipeline has circular dependencies: topological sort failed: [%s]", strings.Join(q, ", "))
		}
	}
	return nil
}

// evaluate runs workflow:rules and the seed step (creation steps 8-10).
func (c *compiler) evaluate() (*Plan, error) {
	plan := &Plan{Stages: c.stages, Jobs: []*Job{}, Warnings: capWarnings(c.v.warnings)}
	globals := slices.Clone(c.globalVars)
	if c.hasWorkflowRules {
		wvars := c.ruleVars(globals, nil, true)
		var matched *rule
		for _, r := range c.workflowRules {
			if r.matches(c.src, wvars) {
				matched = r
				break
			}
		}
		if matched == nil || matched.when == "never" {
			return nil, &Error{Errors: []string{msgWorkflowFiltered}, kind: ErrWorkflowFiltered}
		}
		globals = overlayVars(globals, matched.variables)
		plan.AutoCancel = c.workflowCancel.merge(matched.autoCancel)
	} else {
		plan.AutoCancel = c.workflowCancel.merge(nil)
	}
	if len(globals) > 0 {
		plan.Variables = globals
	}
	if c.workflowName != "" {
		name := strings.TrimSpace(expandVars(c.workflowName, c.ruleVars(globals, nil, true)))
		plan.WorkflowName = name
	}

	kept := map[string]bool{}
	var jobs []*Job
	for _, in := range c.instances {
		j, ok := c.seed(in, globals)
		if !ok {
			continue
		}
		jobs = append(jobs, j)
		kept[j.Name] = true
	}
	var seedErrs []string
	for _, j := range jobs {
		if j.Needs == nil {
			continue
		}
		if len(j.Needs) > maxNeeds {
			seedErrs = append(seedErrs, fmt.Sprintf("%s: one job can only need %d others, but you have listed %d. See needs keyword documentation for more details", j.Name, maxNeeds, len(j.Needs)))
			continue
		}
		needs := []Need{}
		for _, n := range j.Needs {
			if n.Job == "" || n.Project != "" || n.Pipeline != "" || kept[n.Job] {
				needs = append(needs, n)
				continue
			}
			if n.Optional {
				continue
			}
			seedErrs = append(seedErrs, fmt.Sprintf("'%s' job needs '%s' job, but '%s' does not exist in the pipeline. This might be because of the only, except, or rules keywords. To need a job that sometimes does not exist in the pipeline, use needs:optional.", j.Name, n.Job, n.Job))
		}
		j.Needs = needs
	}
	if len(seedErrs) > 0 {
		return nil, &Error{Errors: []string{strings.Join(seedErrs, "\n")}}
	}
	real := false
	for _, j := range jobs {
		if j.Stage != ".pre" && j.Stage != ".post" {
			real = true
		}
	}
	if !real {
		return nil, &Error{Errors: []string{msgNoJobs}, kind: ErrNoJobs}
	}
	plan.Jobs = jobs
	return plan, nil
}

// seed evaluates rules or only/except of one instance (Seed::Build).
func (c *compiler) seed(in *instance, globals []Variable) (*Job, bool) {
	s := in.spec
	j := in.job
	inherited := c.inheritedGlobals(s, globals)
	vars := c.ruleVars(inherited, j.Variables, false)
	vars["CI_JOB_NAME"] = j.Name
	vars["CI_JOB_STAGE"] = j.Stage
	if j.ParallelTotal > 0 {
		vars["CI_NODE_INDEX"] = itoa(j.ParallelIndex)
		vars["CI_NODE_TOTAL"] = itoa(j.ParallelTotal)
	}
	if s.hasRules {
		var matched *rule
		for _, r := range s.rules {
			if r.matches(c.src, vars) {
				matched = r
				break
			}
		}
		if matched == nil || matched.when == "never" {
			return nil, false
		}
		if matched.when != "" {
			j.When = matched.when
		}
		if matched.startIn != "" {
			j.StartIn = matched.startIn
		}
		if matched.allowFailure != nil {
			j.AllowFailure = *matched.allowFailure
			j.AllowFailureExitCodes = nil
		}
		if matched.interruptible != nil {
			j.Interruptible = *matched.interruptible
		}
		if len(matched.variables) > 0 {
			j.Variables = overlayVars(j.Variables, matched.variables)
		}
		if matched.hasNeeds {
			j.Needs = expandNeeds(matched.needs, c.specMap())
		}
	} else {
		only := s.only
		if !s.onlyDefined && !c.hasWorkflowRules {
			only = &policy{refs: []string{"branches", "tags"}, hasRefs: true}
		}
		if only != nil && !only.onlyMatch(c.src, vars) {
			return nil, false
		}
		if s.except != nil && s.except.exceptMatch(c.src, vars) {
			return nil, false
		}
	}
	if j.When != "delayed" {
		j.StartIn = ""
	}
	j.YAMLVariables = overlayVars(inherited, j.Variables)
	return &j, true
}

func (c *compiler) inheritedGlobals(s *jobSpec, globals []Variable) []Variable {
	if s.noGlobals {
		return nil
	}
	if s.inheritVars == nil {
		return slices.Clone(globals)
	}
	var out []Variable
	for _, g := range globals {
		if slices.Contains(s.inheritVars, g.Key) {
			out = append(out, g)
		}
	}
	return out
}

// ruleVars builds the variables visible to rules:if. Source.Variables mixes
// predefined variables (CI_*, GITLAB_*), which YAML variables override, with
// project and pipeline variables, which win over YAML variables as in
// GitLab's variable precedence.
func (c *compiler) ruleVars(globals, job []Variable, workflow bool) map[string]string {
	out := make(map[string]string, len(c.src.Variables)+len(globals)+len(job))
	maps.Copy(out, c.src.Variables)
	if workflow {
		for k := range out {
			if strings.HasPrefix(k, "CI_JOB_") || strings.HasPrefix(k, "CI_BUILD_") {
				delete(out, k)
			}
		}
	}
	for _, v := range overlayVars(globals, job) {
		if _, user := c.src.Variables[v.Key]; user && !isPredefined(v.Key) {
			continue
		}
		out[v.Key] = v.Value
	}
	return out
}

func isPredefined(k string) bool {
	return strings.HasPrefix(k, "CI_") || strings.HasPrefix(k, "GITLAB_") || k == "CI"
}

// overlayVars returns base with over's variables replacing same-named ones
// in place and new ones appended.
func overlayVars(base, over []Variable) []Variable {
	if len(over) == 0 {
		return slices.Clone(base)
	}
	out := slices.Clone(base)
	for _, o := range over {
		i := slices.IndexFunc(out, func(v Variable) bool { return v.Key == o.Key })
		if i >= 0 {
			out[i] = o
		} else {
			out = append(out, o)
		}
	}
	return out
}

// expandVars expands $VAR and ${VAR} once (workflow:name).
func expandVars(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		brace := s[j] == '{'
		if brace {
			j++
		}
		k := j
		for k < len(s) && (s[k] == '_' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		if k == j || (brace && (k >= len(s) || s[k] != '}')) {
			b.WriteByte(s[i])
			continue
		}
		b.WriteString(vars[s[j:k]])
		if brace {
			k++
		}
		i = k - 1
	}
	return b.String()
}

// dumpYAML renders the merged configuration for Lint's merged_yaml, keeping
// key order, as GitLab's deep_stringify_keys.to_yaml (starting with ---).
func dumpYAML(root *omap) string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(toNode(root)); err != nil {
		return ""
	}
	_ = enc.Close()
	return "---\n" + b.String()
}

func toNode(v any) *yaml.Node {
	switch t := v.(type) {
	case *omap:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range t.keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, toNode(t.m[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range t {
			n.Content = append(n.Content, toNode(e))
		}
		return n
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: rubyToS(t)}
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: rubyToS(t)}
	case float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: rubyToS(t)}
	case *refTag:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t.String()}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v)}
}
