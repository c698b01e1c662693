// Package ci is Gantry's domain core: job and pipeline statuses, the status
// machine, the predicates the Jobs API relies on, and the pure rules of
// pipeline processing. It performs no I/O and imports nothing else of Gantry.
package ci

// Status is the status of a job, bridge or pipeline, spelled as GitLab does.
type Status string

// The 13 statuses, in GitLab's declaration order (HasStatus::AVAILABLE_STATUSES).
const (
	StatusCreated            Status = "created"
	StatusWaitingForResource Status = "waiting_for_resource"
	StatusPreparing          Status = "preparing"
	StatusWaitingForCallback Status = "waiting_for_callback"
	StatusPending            Status = "pending"
	StatusRunning            Status = "running"
	StatusSuccess            Status = "success"
	StatusFailed             Status = "failed"
	StatusCanceling          Status = "canceling"
	StatusCanceled           Status = "canceled"
	StatusSkipped            Status = "skipped"
	StatusManual             Status = "manual"
	StatusScheduled          Status = "scheduled"
)

// AllStatuses lists every status in declaration order; it is also the set of
// values the Jobs API's scope parameter accepts.
var AllStatuses = []Status{
	StatusCreated, StatusWaitingForResource, StatusPreparing, StatusWaitingForCallback,
	StatusPending, StatusRunning, StatusSuccess, StatusFailed, StatusCanceling,
	StatusCanceled, StatusSkipped, StatusManual, StatusScheduled,
}

// ParseStatus reports whether s names one of the 13 statuses.
func ParseStatus(s string) (Status, bool) {
	for _, st := range AllStatuses {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// Active reports whether the status is one of ACTIVE: waiting_for_resource,
// preparing, waiting_for_callback, pending, running.
func (s Status) Active() bool {
	switch s {
	case StatusWaitingForResource, StatusPreparing, StatusWaitingForCallback, StatusPending, StatusRunning:
		return true
	}
	return false
}

// Complete reports whether the status is one of COMPLETED: success, failed,
// canceled, skipped.
func (s Status) Complete() bool {
	switch s {
	case StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped:
		return true
	}
	return false
}

// Started reports whether the status is one of STARTED: running, success, failed.
func (s Status) Started() bool {
	return s == StatusRunning || s == StatusSuccess || s == StatusFailed
}

// Blocked reports whether the status is one of BLOCKED: manual, scheduled.
func (s Status) Blocked() bool { return s == StatusManual || s == StatusScheduled }

// Executing reports whether a runner holds the job: running or canceling.
func (s Status) Executing() bool { return s == StatusRunning || s == StatusCanceling }

// Cancelable reports whether the status is in CANCELABLE_STATUSES: everything
// but the completed statuses and canceling.
func (s Status) Cancelable() bool {
	return !s.Complete() && s != StatusCanceling
}
