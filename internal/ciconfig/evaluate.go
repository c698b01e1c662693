package ciconfig

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The evaluate phase: workflow:rules, then each job's rules or only/except
// against the pipeline's ref and variables (Ci::Pipeline::Chain::
// EvaluateWorkflowRules, Seed::Build). docs/ci-yaml.md describes the order.

// evaluate runs workflow:rules, the seed step and the populate check.
func (c *compiler) evaluate() (*Plan, error) {
	plan := &Plan{Stages: c.stages, Jobs: []*Job{}, Warnings: capWarnings(c.v.warnings)}
	globals := slices.Clone(c.globalVars)
	if c.hasWorkflowRules {
		wvars := c.ruleVars(globals, nil, true)
		// A rule that fails to evaluate filters the pipeline out, as
		// Chain::EvaluateWorkflowRules only asks Rules::Result#pass?.
		matched, _ := firstMatch(c.workflowRules, c.src, wvars)
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
	var seedErrs []string
	for _, in := range c.instances {
		j, ok, err := c.seed(in, globals)
		if err != nil {
			// Seed::Build#rules_errors.
			seedErrs = append(seedErrs, fmt.Sprintf("Failed to parse rule for %s: %v", in.job.Name, err))
			continue
		}
		if !ok {
			continue
		}
		jobs = append(jobs, j)
		kept[j.Name] = true
	}
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
func (c *compiler) seed(in *instance, globals []Variable) (*Job, bool, error) {
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
		matched, err := firstMatch(s.rules, c.src, vars)
		if err != nil {
			return nil, false, err
		}
		if matched == nil || matched.when == "never" {
			return nil, false, nil
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
			return nil, false, nil
		}
		if s.except != nil && s.except.exceptMatch(c.src, vars) {
			return nil, false, nil
		}
	}
	if j.When != "delayed" {
		j.StartIn = ""
	}
	j.YAMLVariables = overlayVars(inherited, j.Variables)
	return &j, true, nil
}

// firstMatch is the first rule whose clauses all hold, or nil; a rule that
// fails to evaluate ends the walk (Gitlab::Ci::Build::Rules#evaluate).
func firstMatch(rules []*rule, src Source, vars map[string]string) (*rule, error) {
	for _, r := range rules {
		ok, err := r.matches(src, vars)
		if err != nil {
			return nil, err
		}
		if ok {
			return r, nil
		}
	}
	return nil, nil
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
