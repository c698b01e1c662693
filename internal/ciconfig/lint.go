package ciconfig

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// LintResult is the answer of the CI Lint API.
type LintResult struct {
	Valid      bool     `json:"valid"`
	Errors     []string `json:"errors"`
	Warnings   []string `json:"warnings"`
	MergedYAML string   `json:"merged_yaml"`
	// Includes lists the included files (Gitlab::Ci::Config#metadata).
	Includes []Include `json:"includes"`
	// Jobs are all jobs of the configuration (parallel jobs expanded) with
	// their static when/allow_failure, for include_jobs.
	Jobs []*Job `json:"jobs,omitempty"`
}

// maxLintWarnings is the number of warnings the Lint API reports.
const maxLintWarnings = 25

// Lint validates without evaluating rules against a real ref. When ctx
// ends first the result is invalid with ctx's error; callers check ctx.
func Lint(ctx context.Context, src Source) LintResult {
	res := LintResult{Errors: []string{}, Warnings: []string{}, Includes: []Include{}}
	c, err := analyze(ctx, src)
	if c != nil && c.includes != nil {
		res.Includes = c.includes
	}
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

// DryRun simulates pipeline creation (Ci::Lint#dry_run_validation): the
// configuration is checked and evaluated against src's ref and variables,
// and Jobs lists exactly the jobs the pipeline would get, with when and
// allow_failure after rules. A pipeline creation error (workflow:rules,
// no jobs, seed errors) makes the result invalid with that one message.
func DryRun(ctx context.Context, src Source) LintResult {
	res := LintResult{Errors: []string{}, Warnings: []string{}, Includes: []Include{}}
	c, err := analyze(ctx, src)
	if c != nil && c.includes != nil {
		res.Includes = c.includes
	}
	var plan *Plan
	if err == nil {
		plan, err = c.evaluate()
	}
	if c != nil && c.merged != nil && err == nil {
		res.MergedYAML = dumpYAML(c.merged)
	}
	if c != nil {
		res.Warnings = capWarnings(c.v.warnings)
	}
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) && len(ce.Errors) > 0 {
			// Pipeline creation keeps the first error.
			res.Errors = ce.Errors[:1]
		} else {
			res.Errors = []string{err.Error()}
		}
		return res
	}
	res.Valid = true
	res.Jobs = plan.Jobs
	return res
}

func capWarnings(w []string) []string {
	if len(w) > maxLintWarnings {
		w = w[:maxLintWarnings]
	}
	return append([]string{}, w...)
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
