package ci

import "time"

// The `when` values of a job (docs/ci-yaml.md, "`when` values"). An empty When means
// WhenOnSuccess, as GitLab's Processable#when defaults it.
const (
	WhenOnSuccess = "on_success"
	WhenOnFailure = "on_failure"
	WhenAlways    = "always"
	WhenManual    = "manual"
	WhenDelayed   = "delayed"
)

// JobView is what the Jobs API predicates (docs/job-state.md, "Predicates") need to know
// about one job or bridge.
type JobView struct {
	Kind   Kind
	Status Status
	// When is the job's `when`; "" means on_success.
	When     string
	Retried  bool
	Archived bool
	// FailureReason is the enum name; meaningful only when failed.
	FailureReason string
	// HasArtifacts: a live (unexpired, present) artifacts archive.
	HasArtifacts bool
	// HasJobArtifacts: any job_artifacts row (reports, metadata, trace...).
	HasJobArtifacts bool
	HasTrace        bool
}

// Action reports whether the job is an action: when manual or delayed for
// builds, only manual for bridges (bridges cannot be delayed).
func (j JobView) Action() bool {
	if j.Kind == KindBridge {
		return j.When == WhenManual
	}
	return j.When == WhenManual || j.When == WhenDelayed
}

// Retryable mirrors Processable#retryable? (plus Bridge's extra refusals):
// a finished or canceling job that is neither retried, archived nor a
// rejected deployment.
func (j JobView) Retryable() bool {
	if j.Retried || j.Archived || j.FailureReason == FailureDeploymentRejected {
		return false
	}
	// Retrying these would only hit the same loop or depth limit again.
	if j.Kind == KindBridge && j.Status == StatusFailed &&
		(j.FailureReason == FailurePipelineLoopDetected || j.FailureReason == FailureReachedMaxDescendantDepth) {
		return false
	}
	switch j.Status {
	case StatusSuccess, StatusFailed, StatusCanceled, StatusCanceling:
		return true
	}
	return false
}

// Playable reports whether POST /play is allowed. A build action that
// already finished stays playable (play then retries it); a bridge only
// while manual.
func (j JobView) Playable() bool {
	if !j.Action() || j.Archived {
		return false
	}
	if j.Kind == KindBridge {
		return j.Status == StatusManual
	}
	return j.Status == StatusManual || j.Status == StatusScheduled || j.Retryable()
}

// Erasable reports whether POST /erase is allowed: a completed build with
// something to erase. Bridges have nothing to erase.
func (j JobView) Erasable() bool {
	if j.Kind != KindBuild {
		return false
	}
	return j.Status.Complete() && (j.HasArtifacts || j.HasJobArtifacts || j.HasTrace)
}

// Cancelable is Build#cancelable?: active or created and not canceling. It
// is narrower than the cancel event (manual and scheduled jobs can still be
// canceled); the UI uses it, the API does not. Bridges answer false.
func (j JobView) Cancelable() bool {
	if j.Kind != KindBuild {
		return false
	}
	return (j.Status.Active() || j.Status == StatusCreated) && j.Status != StatusCanceling
}

// ForceCancelable is Build#force_cancelable?: canceling, because builds
// always support force cancel. Bridges answer false.
func (j JobView) ForceCancelable() bool {
	return j.Kind == KindBuild && j.Status == StatusCanceling
}

// Duration is CommitStatus#duration in seconds: nil before the job started,
// then (finishedAt or now) - startedAt, so it grows while the job runs.
func Duration(startedAt, finishedAt *time.Time, now time.Time) *float64 {
	if startedAt == nil {
		return nil
	}
	return seconds(*startedAt, firstTime(now, finishedAt))
}

// QueuedDuration is the time spent queued in seconds: nil without queuedAt,
// then (startedAt or finishedAt or now) - queuedAt, growing while pending.
func QueuedDuration(queuedAt, startedAt, finishedAt *time.Time, now time.Time) *float64 {
	if queuedAt == nil {
		return nil
	}
	return seconds(*queuedAt, firstTime(now, startedAt, finishedAt))
}

// firstTime returns the first non-nil time, or def.
func firstTime(def time.Time, ts ...*time.Time) time.Time {
	for _, t := range ts {
		if t != nil {
			return *t
		}
	}
	return def
}

func seconds(from, to time.Time) *float64 {
	d := to.Sub(from).Seconds()
	return &d
}
