package ciconfig

import (
	"context"
	"fmt"
	"time"
)

// Limits of the expand phase. GitLab bounds a configuration by the memory
// of the whole expanded tree (ci_max_total_yaml_size_bytes, checked by
// External::Mapper::Verifier#verify_max_total_pipeline_size!) and by an
// execution deadline (Gitlab::Ci::Config::TIMEOUT_SECONDS, checked by
// External::Context#check_execution_time!). docs/limits.md lists them.
const (
	// maxTotalYAMLSize is GitLab's default ci_max_total_yaml_size_bytes:
	// max_yaml_size_bytes times ci_max_includes. It bounds the included
	// files together and the configuration once extends: and !reference
	// are expanded, in the units of the loader's size model (approxSize).
	maxTotalYAMLSize = maxYAMLSize * maxIncludes
	// configTimeout is Gitlab::Ci::Config::TIMEOUT_SECONDS (the default of
	// GITLAB_CI_CONFIG_FETCH_TIMEOUT_SECONDS).
	configTimeout = 30 * time.Second

	msgTotalTooBig = "Total size of combined CI/CD configuration is too big"
	msgTimeout     = "Request timed out when fetching configuration files."
	// checkEvery is how many steps pass between two looks at the clock and
	// the caller's context.
	checkEvery = 256
)

// budget is what one compilation may spend: expanded size, work steps and
// time. Every step of the expand phase is counted so that the work done
// on any input is bounded by maxSteps, whatever the clock says; the
// deadline and the caller's context (a client that went away) stop it
// early.
type budget struct {
	ctx      context.Context
	deadline time.Time
	// maxSize bounds the included files together and the expanded tree;
	// maxSteps bounds the nodes the expand phase visits. A node visited
	// appears at least once in the expanded tree, where it costs nodeCost
	// or more, so maxSteps = maxSize/nodeCost never stops a configuration
	// that fits in maxSize.
	maxSize, maxSteps int
	files             int // bytes of included files
	steps             int
}

func newBudget(ctx context.Context) *budget {
	return &budget{ctx: ctx, deadline: time.Now().Add(configTimeout),
		maxSize: maxTotalYAMLSize, maxSteps: maxTotalYAMLSize / nodeCost}
}

// work counts n steps and, every checkEvery steps, looks at the deadline
// and the context.
func (b *budget) work(n int) error {
	if n > b.maxSteps-b.steps {
		return &loadError{msgTotalTooBig}
	}
	before := b.steps
	b.steps += n
	if before/checkEvery != b.steps/checkEvery {
		return b.check()
	}
	return nil
}

// check fails when the caller's context ended (an error wrapping
// ctx.Err(), not a configuration error: nobody waits for the answer) or
// when the deadline passed (GitLab's timeout message).
func (b *budget) check() error {
	if err := b.ctx.Err(); err != nil {
		return fmt.Errorf("compile config: %w", err)
	}
	if !time.Now().Before(b.deadline) {
		return &loadError{msgTimeout}
	}
	return nil
}

// addFile charges an included file's size, as GitLab adds every file to
// Context#total_file_size_in_bytes.
func (b *budget) addFile(n int) error {
	b.files = satAdd(b.files, n, b.maxSize)
	if b.files > b.maxSize {
		return &loadError{msgTotalTooBig}
	}
	return nil
}

// satAdd adds sizes, saturating just above limit so that doubling
// references cannot overflow.
func satAdd(a, b, limit int) int {
	if a > limit || b > limit || a+b > limit {
		return limit + 1
	}
	return a + b
}

// merge is ActiveSupport's Hash#deep_merge, with its work counted (one
// step per key of over, each a key of the merged hash): hashes merge
// recursively, anything else in over replaces the value of base. Neither
// input changes.
func (b *budget) merge(base, over *omap) (*omap, error) {
	if err := b.work(1 + over.len()); err != nil {
		return nil, err
	}
	out := cloneOmap(base)
	for _, k := range over.keys {
		ov := over.m[k]
		if bh, ok := out.m[k].(*omap); ok {
			if oh, ok := ov.(*omap); ok {
				m, err := b.merge(bh, oh)
				if err != nil {
					return nil, err
				}
				out.set(k, m)
				continue
			}
		}
		out.set(k, ov)
	}
	return out, nil
}
