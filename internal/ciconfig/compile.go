package ciconfig

import (
	"context"
	"errors"
	"strings"
)

// Compiling runs four phases, one file each (docs/ci-yaml.md):
//
//	load.go      load: YAML text to ordered values (anchors, merge keys, !reference tags, limits)
//	expand.go    expand: include: (include.go), extends:, !reference
//	check.go     check: every keyword through its entry (entry*.go), then
//	             parallel expansion and the logical checks (stages, needs, cycles)
//	evaluate.go  evaluate: workflow:rules and each job's rules or only/except
//
// Lint (lint.go) stops after the check phase.

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

// Compile loads, validates and evaluates a configuration for one pipeline.
// Errors are *Error with GitLab's messages (use Errors[0] for pipeline
// creation); they match ErrWorkflowFiltered and ErrNoJobs with errors.Is.
// When ctx ends first the error wraps ctx.Err() and is no *Error: the work
// stops because nobody waits for it.
func Compile(ctx context.Context, src Source) (*Plan, error) {
	c, err := analyze(ctx, src)
	if err != nil {
		return nil, err
	}
	return c.evaluate()
}

// compiler holds one analysis of a configuration.
type compiler struct {
	src    Source
	v      validator
	merged *omap
	// includes are the included files, for Lint.
	includes []Include

	stages           []string
	globalVars       []Variable
	hasWorkflowRules bool
	workflowRules    []*rule
	workflowName     string
	workflowCancel   *AutoCancel
	// defaults is the default: hash, defaultJob its decoded values and
	// defaultSet the keys jobs may inherit (default: and the deprecated
	// top-level ones).
	defaults   *omap
	defaultJob *Job
	defaultSet []string
	specs      []*jobSpec
	instances  []*instance
	byName     map[string]*instance
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

// analyze runs the load, expand and check phases (docs/ci-yaml.md).
func analyze(ctx context.Context, src Source) (*compiler, error) {
	return analyzeWithin(newBudget(ctx), src)
}

// analyzeWithin is analyze with the limits of b.
func analyzeWithin(b *budget, src Source) (*compiler, error) {
	c := &compiler{src: src, byName: map[string]*instance{}}
	if err := b.check(); err != nil {
		return nil, configError(err)
	}
	root, header, err := loadYAML(src.Content)
	if err != nil {
		return nil, configError(err)
	}
	if root, err = interpolateFile(root, header, inputsOmap(src.Inputs), src.Variables); err != nil {
		return nil, configError(err)
	}
	if root, c.includes, err = expand(b, src, root); err != nil {
		return c, configError(err)
	}
	if err := b.check(); err != nil {
		return c, configError(err)
	}
	c.merged = root
	c.checkRoot(root)
	if len(c.v.errs) > 0 {
		return c, &Error{Errors: c.v.errs}
	}
	c.expandParallel()
	if err := c.logicalChecks(); err != nil {
		return c, &Error{Errors: []string{err.Error()}}
	}
	return c, nil
}

// configError turns a load error into an *Error; the end of the caller's
// context stays a plain error.
func configError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var le *loadError
	if errors.As(err, &le) {
		return &Error{Errors: []string{le.msg}}
	}
	return &Error{Errors: []string{err.Error()}}
}
