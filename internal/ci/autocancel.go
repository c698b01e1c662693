package ci

// AutoCancelOnNewCommit is workflow:auto_cancel:on_new_commit: what a new
// pipeline of a branch cancels of the older ones (Ci::PipelineMetadata's
// auto_cancel_on_new_commit enum; docs/ci-auto-cancel.md).
type AutoCancelOnNewCommit string

// The on_new_commit values. The empty value reads as conservative, GitLab's
// default.
const (
	OnNewCommitConservative  AutoCancelOnNewCommit = "conservative"
	OnNewCommitInterruptible AutoCancelOnNewCommit = "interruptible"
	OnNewCommitNone          AutoCancelOnNewCommit = "none"
)

// AutoCancelOnJobFailure is workflow:auto_cancel:on_job_failure.
type AutoCancelOnJobFailure string

// The on_job_failure values. The empty value reads as none, GitLab's default.
const (
	OnJobFailureNone AutoCancelOnJobFailure = "none"
	OnJobFailureAll  AutoCancelOnJobFailure = "all"
)

// OnNewCommit is the pipeline's on_new_commit setting, conservative when
// unset (Ci::Pipeline#auto_cancel_on_new_commit).
func (p *Pipeline) OnNewCommit() AutoCancelOnNewCommit {
	if p.AutoCancelOnNewCommit == "" {
		return OnNewCommitConservative
	}
	return p.AutoCancelOnNewCommit
}

// OnJobFailure is the pipeline's on_job_failure setting, none when unset.
func (p *Pipeline) OnJobFailure() AutoCancelOnJobFailure {
	if p.AutoCancelOnJobFailure == "" {
		return OnJobFailureNone
	}
	return p.AutoCancelOnJobFailure
}

// RedundantJobs is what a newer pipeline of the branch cancels of an older
// one, by the OLDER pipeline's on_new_commit setting, as GitLab's
// Ci::PipelineCreation::CancelRedundantPipelinesService decides it:
//   - conservative: every cancelable job, unless a non-interruptible build
//     has started (running, success or failed: Ci::Pipeline's
//     conservative_interruptible scope, which looks at Ci::Build only, so
//     a running trigger job does not count), then nothing;
//   - interruptible: only the cancelable interruptible jobs, whatever ran
//     (the "safe cancellation" of Ci::CancelPipelineService);
//   - none: nothing.
//
// jobs are the older pipeline's jobs; retried ones are ignored.
func RedundantJobs(mode AutoCancelOnNewCommit, jobs []*Job) []*Job {
	var out []*Job
	switch mode {
	case OnNewCommitNone:
		return nil
	case OnNewCommitInterruptible:
		for _, j := range jobs {
			if !j.Retried && j.Interruptible && j.Status.Cancelable() {
				out = append(out, j)
			}
		}
		return out
	}
	for _, j := range jobs {
		if !j.Retried && j.Kind == KindBuild && !j.Interruptible && j.Status.Started() {
			return nil
		}
	}
	for _, j := range jobs {
		if !j.Retried && j.Status.Cancelable() {
			out = append(out, j)
		}
	}
	return out
}

// CancelsPipelineOnFailure reports whether the failure of j cancels the
// rest of its pipeline: on_job_failure: all, and the job may not fail
// (Ci::Processable's after_transition to failed skips allow_failure jobs)
// and is not about to be retried automatically (Ci::Build's
// can_auto_cancel_pipeline_on_job_failure?).
func CancelsPipelineOnFailure(p *Pipeline, j *Job, autoRetried bool) bool {
	return p.OnJobFailure() == OnJobFailureAll && j.Status == StatusFailed && !j.AllowFailure && !autoRetried
}
