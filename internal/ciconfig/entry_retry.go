package ciconfig

import (
	"slices"
	"strings"
)

// retryWhen are the failure reasons retry:when accepts
// (Entry::Retry::FullRetry, lib/gitlab/ci/config/entry/retry.rb).
var retryWhen = []string{"always", "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure", "runner_system_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout", "archived_failure", "unmet_prerequisites", "scheduler_failure", "data_integrity_failure", "missing_dependency_failure", "forward_deployment_failure", "user_blocked", "project_deleted", "ci_quota_exceeded", "pipeline_loop_detected", "no_matching_runner", "trace_size_exceeded", "builds_disabled", "environment_creation_failure", "deployment_rejected", "failed_outdated_deployment_job", "protected_environment_failure", "insufficient_bridge_permissions", "downstream_bridge_project_not_found", "invalid_bridge_trigger", "upstream_bridge_project_not_found", "insufficient_upstream_permissions", "bridge_pipeline_is_child_pipeline", "downstream_pipeline_creation_failed", "secrets_provider_not_found", "reached_max_descendant_pipelines_depth", "ip_restriction_failure", "reached_max_pipeline_hierarchy_size", "reached_downstream_pipeline_trigger_rate_limit"}

// retryEntries are the keys of retry: in hash form. The first error
// rejects the retry.
var retryEntries = entries[*Retry]{
	{key: "max", nulls: true, decode: func(r *Retry, f field) bool {
		n, isInt := f.val.(int64)
		if !isInt {
			f.attrError("config has to be an integer")
			return false
		}
		if msg := retryMaxError(n); msg != "" {
			f.attrError("config %s", msg)
			return false
		}
		r.Max = int(n)
		return true
	}},
	{key: "when", nulls: true, decode: func(r *Retry, f field) bool {
		l, isList := stringOrList(f.val)
		if !isList {
			f.attrError("should be a string or an array of strings")
			return false
		}
		var bad []string
		for _, w := range l {
			if !slices.Contains(retryWhen, w) {
				bad = append(bad, w)
			}
		}
		if len(bad) == 0 {
			r.When = l
			return true
		}
		if _, single := f.val.(string); single {
			f.attrError("unknown value: %s", bad[0])
		} else {
			f.attrError("contains unknown values: %s", strings.Join(bad, ", "))
		}
		return false
	}},
	{key: "exit_codes", nulls: true, decode: attrOf(intArray, func(r *Retry) *[]int { return &r.ExitCodes })},
}

// retryMaxError is what is wrong with a retry count, "" when nothing.
func retryMaxError(n int64) string {
	switch {
	case n < 0:
		return "must be greater than or equal to 0"
	case n > 2:
		return "must be less than or equal to 2"
	}
	return ""
}

// retry validates retry: (a count or a hash).
func (v *validator) retry(loc string, val any) *Retry {
	switch t := val.(type) {
	case int64:
		if msg := retryMaxError(t); msg != "" {
			v.add(loc, "config %s", msg)
			return nil
		}
		return &Retry{Max: int(t)}
	case *omap:
		if v.rejectUnknown(loc, retryEntries.unknown(t, anywhere)) {
			return nil
		}
		r := &Retry{}
		if !retryEntries.decode(r, v, loc, t, anywhere, true) {
			return nil
		}
		return r
	}
	v.add(loc, "config has to be either an integer or a hash")
	return nil
}
