package ciconfig

import (
	"fmt"
	"slices"
	"strings"
)

// The check phase: every keyword of the merged configuration goes through
// its entry (entry*.go) with GitLab's messages, then parallel jobs are
// expanded and the logical checks run (stages, dependencies, needs, cycles:
// YamlProcessor#validate_job!, lib/gitlab/ci/yaml_processor.rb).

// checkRoot checks the top-level keywords in Entry::Root order, then the
// jobs in config order.
func (c *compiler) checkRoot(root *omap) {
	v := &c.v
	rootEntries.decode(c, v, "", root, inRoot, false)
	visible := 0
	var jobs []string
	for _, k := range root.keys {
		if !isJobKey(k) {
			continue
		}
		if !strings.HasPrefix(k, ".") {
			visible++
		}
		jobs = append(jobs, k)
	}
	if visible == 0 {
		v.add("jobs", "config should contain at least one visible job")
	}
	for _, name := range jobs {
		val := root.m[name]
		switch {
		case root.nonString[name]:
			v.add("jobs:"+name, "name should be a symbol")
		case strings.HasPrefix(name, "."):
			if val == nil {
				v.add("jobs:"+name, "config can't be blank")
			}
		default:
			c.checkJob(name, val)
		}
	}
}

// checkJob checks one visible job (Entry::Job or Entry::Bridge) and records
// its spec.
func (c *compiler) checkJob(name string, val any) {
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
	kind := inBuild
	if isBridge {
		kind = inBridge
	}
	v.rejectUnknown(loc, jobEntries.unknown(h, kind))
	s := &jobSpec{name: name}
	s.job = Job{Name: name, Bridge: isBridge, Stage: "test"}
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
	jobEntries.decode(&jobDecoder{c: c, s: s, j: &s.job, bridge: isBridge}, v, loc, h, kind, false)
	if isBuild {
		c.copyDefaults(s, h)
		c.warnUnsupported(loc, h, &s.job)
	}
	c.specs = append(c.specs, s)
}

// warnUnsupported adds a warning (shown by CI Lint and on the pipeline)
// for keywords GitLab carries out and Gantry accepts without doing so, so
// that a job relying on them does not fail silently.
func (c *compiler) warnUnsupported(loc string, h *omap, j *Job) {
	add := func(what string) { c.v.warnings = append(c.v.warnings, loc+" "+what) }
	if len(j.IDTokens) > 0 {
		add("id_tokens are not issued by this server: the job gets no " + strings.Join(j.IDTokens, ", ") + " variable")
	}
	if j.Release != nil {
		add("release is not created by this server: it has no Releases API")
	}
	pv, hasPages := h.get("pages")
	if j.Pages || (j.Name == "pages" && (!hasPages || pv != false)) {
		add("pages are not deployed by this server: the job's artifacts are kept as usual")
	}
	for _, kw := range [][2]string{{"secrets", "secrets are not fetched"}, {"identity", "identity is not federated"}} {
		if x, ok := h.get(kw[0]); ok && x != nil {
			add(kw[1] + " by this server (a GitLab Premium feature)")
		}
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
