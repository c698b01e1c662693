package runner

import "github.com/gantryci/gantry/internal/runnerproto"

// The types in this file mirror the job payload that GitLab returns from
// POST /api/v4/jobs/request (docs/runner-protocol.md, "Job request payload"). Field
// types follow gitlab-runner's common/spec exactly, because a server written
// for gitlab-runner produces exactly these shapes.

// The job payload's types come from runnerproto, shared with the server.
type (
	Job        = runnerproto.Job
	JobInfo    = runnerproto.JobInfo
	GitInfo    = runnerproto.GitInfo
	RunnerInfo = runnerproto.RunnerInfo
	Variable   = runnerproto.Variable
	Step       = runnerproto.Step
	Artifact   = runnerproto.Artifact
	Cache      = runnerproto.Cache
	Dependency = runnerproto.Dependency
	Features   = runnerproto.Features
)

// Failure reasons reported in the final PUT.
const (
	reasonScriptFailure  = "script_failure"
	reasonSystemFailure  = "runner_system_failure"
	reasonTimeout        = "job_execution_timeout"
	reasonUnknown        = "unknown_failure"
	reasonJobCanceled    = "job_canceled"
	reasonUnsupported    = "runner_unsupported"
	reasonStuckOrTimeout = "stuck_or_timeout_failure"
)

// failureReason maps a runner-side reason onto the list the server accepts,
// as gitlab-runner's failure_reason_mapper does: a few reasons are always
// understood, others degrade to unknown_failure when the server did not
// list them.
func failureReason(f Features, reason string) string {
	switch reason {
	case reasonScriptFailure, reasonSystemFailure, reasonTimeout:
		return reason
	}
	if len(f.FailureReasons) == 0 {
		// An old server that lists nothing gets the reason unchanged.
		return reason
	}
	for _, r := range f.FailureReasons {
		if r == reason {
			return reason
		}
	}
	return reasonUnknown
}
