package ci

import (
	"errors"
	"fmt"
	"time"
)

// Kind tells builds (runner jobs) from bridges (trigger jobs); their state
// machines differ, so every transition function takes it.
type Kind uint8

// The two kinds of processable, and external statuses. KindBuild is the
// zero value because almost every job is a build.
const (
	KindBuild Kind = iota
	KindBridge
	// KindExternal is a status an external system reports through
	// POST /projects/:id/statuses/:sha (GitLab's GenericCommitStatus): it
	// has CommitStatus's state machine only, counts in its pipeline's
	// status, and is never processed, picked by a runner or listed by the
	// Jobs API.
	KindExternal
)

// ExternalStage and ExternalStageIdx place external statuses in their own
// last stage (GenericCommitStatus::EXTERNAL_STAGE_IDX).
const (
	ExternalStage    = "external"
	ExternalStageIdx = 1_000_000
)

// String returns "build", "bridge" or "generic".
func (k Kind) String() string {
	switch k {
	case KindBuild:
		return "build"
	case KindBridge:
		return "bridge"
	case KindExternal:
		return "generic"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Event is a state-machine event, named as in GitLab so logs and audit
// entries read the same.
type Event string

// Events shared by builds and bridges (CommitStatus, Processable, Build in
// GitLab). For bridges EventSkip and EventSuccess are permissive: any status.
const (
	EventProcess                   Event = "process"
	EventEnqueue                   Event = "enqueue"
	EventEnqueueScheduled          Event = "enqueue_scheduled"
	EventEnqueueWaitingForResource Event = "enqueue_waiting_for_resource"
	EventEnqueuePreparing          Event = "enqueue_preparing" // builds only
	EventActionize                 Event = "actionize"
	EventSchedule                  Event = "schedule"   // builds only
	EventUnschedule                Event = "unschedule" // builds only
	EventRun                       Event = "run"
	EventSkip                      Event = "skip"
	EventDrop                      Event = "drop"
	EventSuccess                   Event = "success"
	EventCancel                    Event = "cancel"
	EventForceCancel               Event = "force_cancel" // builds only
)

// Bridge-only events. The EventTo* ones move a bridge from any status to the
// named one; bridges mirror a downstream pipeline, so GitLab lets them jump.
const (
	EventToCreated    Event = "created"
	EventToPending    Event = "pending"
	EventToManual     Event = "manual"
	EventToScheduled  Event = "scheduled"
	EventToCanceled   Event = "canceled"
	EventToFailed     Event = "failed"
	EventStartCancel  Event = "start_cancel"
	EventFinishCancel Event = "finish_cancel"
)

// AllEvents lists every event either kind knows, builds' first.
var AllEvents = []Event{
	EventProcess, EventEnqueue, EventEnqueueScheduled, EventEnqueueWaitingForResource,
	EventEnqueuePreparing, EventActionize, EventSchedule, EventUnschedule, EventRun,
	EventSkip, EventDrop, EventSuccess, EventCancel, EventForceCancel,
	EventToCreated, EventToPending, EventToManual, EventToScheduled, EventToCanceled,
	EventToFailed, EventStartCancel, EventFinishCancel,
}

// Guards carries the facts the conditional transitions look at, so Fire can
// stay a pure function.
type Guards struct {
	// HasResourceGroup routes enqueues through waiting_for_resource.
	HasResourceGroup bool
	// UnmetPrerequisites routes build enqueues through preparing and holds
	// enqueue_preparing back.
	UnmetPrerequisites bool
	// SupportsCanceling: the runner manager runs after_script on cancel, so
	// a running build goes to canceling rather than straight to canceled.
	SupportsCanceling bool
	// ScheduledAt and Now gate enqueue_scheduled: a build only leaves
	// scheduled once ScheduledAt is nil or before Now.
	ScheduledAt *time.Time
	Now         time.Time
}

// ErrInvalidTransition is returned (wrapped) when an event does not apply to
// a status, or a guard halts it. GitLab's non-bang events then leave the
// record unchanged, so Fire returns the unchanged status alongside it.
var ErrInvalidTransition = errors.New("invalid status transition")

// Fire applies ev to a job of the given kind in status from. It returns the
// new status, or from and an error wrapping ErrInvalidTransition.
func Fire(kind Kind, from Status, ev Event, g Guards) (Status, error) {
	var to Status
	switch {
	case !validStatus(from):
		// Unknown statuses have no transitions; without this check the
		// "everything not completed" sets would accept them.
	case kind == KindBuild:
		to = fireBuild(from, ev, g)
	case kind == KindBridge:
		to = fireBridge(from, ev, g)
	case kind == KindExternal:
		to = fireCommon(kind, from, ev, g)
	}
	if to == "" {
		return from, fmt.Errorf("%w: cannot %s a %s in status %q", ErrInvalidTransition, ev, kind, from)
	}
	return to, nil
}

// enqueueTarget is where an enqueue lands. GitLab evaluates the branches in
// definition order (CommitStatus, Processable, Build), so a resource group
// wins over unmet prerequisites.
func enqueueTarget(kind Kind, g Guards) Status {
	switch {
	case g.HasResourceGroup:
		return StatusWaitingForResource
	case g.UnmetPrerequisites && kind == KindBuild:
		return StatusPreparing
	}
	return StatusPending
}

// fireCommon holds the events builds and bridges inherit from CommitStatus
// and Processable. It returns "" when the event does not apply.
func fireCommon(kind Kind, from Status, ev Event, g Guards) Status {
	switch ev {
	case EventProcess:
		if from == StatusSkipped || from == StatusManual {
			return StatusCreated
		}
	case EventEnqueue:
		switch from {
		case StatusCreated, StatusSkipped, StatusManual, StatusScheduled:
			return enqueueTarget(kind, g)
		}
	case EventEnqueueWaitingForResource:
		if from == StatusWaitingForResource {
			// A resource was assigned; prerequisites may still be missing.
			if g.UnmetPrerequisites && kind == KindBuild {
				return StatusPreparing
			}
			return StatusPending
		}
	case EventActionize:
		if from == StatusCreated {
			return StatusManual
		}
	case EventRun:
		if from == StatusPending {
			return StatusRunning
		}
	case EventSkip:
		switch from {
		case StatusCreated, StatusWaitingForResource, StatusPreparing, StatusPending:
			return StatusSkipped
		}
	case EventDrop:
		switch from {
		case StatusCanceling:
			// The runner reported back on a job being canceled: it stays canceled.
			return StatusCanceled
		case StatusCreated, StatusWaitingForResource, StatusPreparing, StatusWaitingForCallback,
			StatusPending, StatusRunning, StatusManual, StatusScheduled:
			return StatusFailed
		}
	case EventSuccess:
		switch from {
		case StatusCanceling:
			return StatusCanceled
		case StatusCreated, StatusWaitingForResource, StatusPreparing, StatusWaitingForCallback,
			StatusPending, StatusRunning:
			return StatusSuccess
		}
	case EventCancel:
		// Only builds have a runner manager that can cancel gracefully.
		if from == StatusRunning && g.SupportsCanceling && kind == KindBuild {
			return StatusCanceling
		}
		if from.Cancelable() {
			return StatusCanceled
		}
	}
	return ""
}

func fireBuild(from Status, ev Event, g Guards) Status {
	switch ev {
	case EventEnqueueScheduled:
		if from != StatusScheduled {
			return ""
		}
		// Build's before_transition halts the event until the time has come.
		if g.ScheduledAt != nil && !g.ScheduledAt.Before(g.Now) {
			return ""
		}
		return enqueueTarget(KindBuild, g)
	case EventEnqueuePreparing:
		if from == StatusPreparing && !g.UnmetPrerequisites {
			return StatusPending
		}
		return ""
	case EventSchedule:
		if from == StatusCreated {
			return StatusScheduled
		}
		return ""
	case EventUnschedule:
		if from == StatusScheduled {
			return StatusManual
		}
		return ""
	case EventForceCancel:
		// supports_force_cancel? is always true for builds.
		if from == StatusCanceling {
			return StatusCanceled
		}
		return ""
	}
	return fireCommon(KindBuild, from, ev, g)
}

func fireBridge(from Status, ev Event, g Guards) Status {
	switch ev {
	case EventToCreated:
		return StatusCreated
	case EventToPending:
		return StatusPending
	case EventToManual:
		return StatusManual
	case EventToScheduled:
		return StatusScheduled
	case EventSkip:
		return StatusSkipped
	case EventSuccess:
		return StatusSuccess
	case EventToCanceled:
		return StatusCanceled
	case EventToFailed:
		return StatusFailed
	case EventStartCancel:
		if from.Cancelable() {
			return StatusCanceling
		}
		return ""
	case EventFinishCancel:
		if from.Cancelable() || from == StatusCanceling {
			return StatusCanceled
		}
		return ""
	case EventEnqueueScheduled:
		// Only Processable's branch exists for bridges: without a resource
		// group there is nowhere to go (bridges are never scheduled anyway).
		if from == StatusScheduled && g.HasResourceGroup {
			return StatusWaitingForResource
		}
		return ""
	case EventEnqueuePreparing, EventSchedule, EventUnschedule, EventForceCancel:
		return ""
	}
	return fireCommon(KindBridge, from, ev, g)
}

func validStatus(s Status) bool {
	_, ok := ParseStatus(string(s))
	return ok
}

// Effect lists the timestamp and side-effect bookkeeping a transition
// implies (GitLab's before/after_transition hooks; docs/job-state.md, "What a
// transition sets"). The
// caller owns the clock and the storage.
type Effect struct {
	// SetQueuedAt: queued_at = now (entering pending from a waiting status).
	SetQueuedAt bool
	// SetStartedAt: started_at = now.
	SetStartedAt bool
	// SetFinishedAt: finished_at = now (entering success, failed, canceled).
	SetFinishedAt bool
	// SetScheduledAt: scheduled_at = now + start_in (created → scheduled).
	SetScheduledAt bool
	// ClearScheduledAt: scheduled_at = nil (a build leaving scheduled).
	ClearScheduledAt bool
	// SetWaitingForResourceAt: waiting_for_resource_at = now.
	SetWaitingForResourceAt bool
	// TriggerDownstream: a bridge reached pending from created, manual or
	// waiting_for_resource, so its downstream pipeline must be created.
	TriggerDownstream bool
}

// Effects reports what a job of the given kind must record when it moves
// from one status to another. It does not check that the move is legal.
func Effects(kind Kind, from, to Status) Effect {
	var e Effect
	if to == StatusPending {
		switch from {
		case StatusCreated, StatusWaitingForResource, StatusPreparing,
			StatusSkipped, StatusManual, StatusScheduled:
			e.SetQueuedAt = true
		}
	}
	// Inherited by bridges too, so a bridge's started_at moves again on run.
	if to == StatusRunning {
		switch from {
		case StatusCreated, StatusPreparing, StatusPending:
			e.SetStartedAt = true
		}
	}
	if kind == KindBridge && to == StatusPending {
		switch from {
		case StatusCreated, StatusManual, StatusWaitingForResource:
			e.SetStartedAt = true
			e.TriggerDownstream = true
		}
	}
	switch to {
	case StatusSuccess, StatusFailed, StatusCanceled:
		e.SetFinishedAt = true
	case StatusWaitingForResource:
		e.SetWaitingForResourceAt = true
	}
	if kind == KindBuild {
		e.SetScheduledAt = from == StatusCreated && to == StatusScheduled
		e.ClearScheduledAt = from == StatusScheduled && to != StatusScheduled
	}
	return e
}

// Fire moves the job through the status machine: it fires ev and, when the
// event applies, records the new status with what the move implies (see
// Apply). It returns the status the job had; on ErrInvalidTransition the
// job is left unchanged. Every job status change in Gantry goes through
// Fire or, for moves already decided by the machine (Process), Apply.
func (j *Job) Fire(ev Event, g Guards) (from Status, err error) {
	from = j.Status
	to, err := Fire(j.Kind, from, ev, g)
	if err != nil {
		return from, fmt.Errorf("job %d: %w", j.ID, err)
	}
	j.Apply(to, g.Now)
	return from, nil
}

// FireAll fires several events in turn, as one move (a bridge following
// its downstream pipeline may need two). On an error the job is restored.
func (j *Job) FireAll(g Guards, evs ...Event) (from Status, err error) {
	saved := *j
	from = j.Status
	for _, ev := range evs {
		if _, err := j.Fire(ev, g); err != nil {
			*j = saved
			return from, err
		}
	}
	return from, nil
}

// Apply records a move the status machine decided: the status, and the
// timestamps and failure reason bookkeeping of Effects at time now.
func (j *Job) Apply(to Status, now time.Time) {
	e := Effects(j.Kind, j.Status, to)
	j.Status = to
	if e.SetQueuedAt {
		j.QueuedAt = &now
	}
	if e.SetStartedAt {
		j.StartedAt = &now
	}
	if e.SetFinishedAt {
		j.FinishedAt = &now
	}
	if e.ClearScheduledAt {
		j.ScheduledAt = nil
	}
	if to != StatusFailed {
		j.FailureReason = ""
	}
}

// BridgeEvents are the events that move a bridge from its status to the
// status its downstream pipeline asks for (BridgeStatusFromDownstream, or
// running again when a finished downstream pipeline is retried: GitLab's
// Ci::Pipeline#reset_source_bridge! makes it pending, and it runs since its
// downstream pipeline exists). nil means no move.
func BridgeEvents(from, to Status) []Event {
	if from == to {
		return nil
	}
	switch to {
	case StatusCreated:
		return []Event{EventToCreated}
	case StatusPending:
		return []Event{EventToPending}
	case StatusRunning:
		if from == StatusPending {
			return []Event{EventRun}
		}
		return []Event{EventToPending, EventRun}
	case StatusSuccess:
		return []Event{EventSuccess}
	case StatusFailed:
		return []Event{EventToFailed}
	case StatusCanceled:
		return []Event{EventToCanceled}
	case StatusManual:
		return []Event{EventToManual}
	case StatusScheduled:
		return []Event{EventToScheduled}
	case StatusSkipped:
		return []Event{EventSkip}
	}
	return nil
}

// StartNeedsProcessing reports whether a job starting (pending → running)
// in a pipeline of the given status can change anything processing
// decides. Jobs wait only for their predecessors to complete, so a start
// moves no other job; and a running pipeline stays running, since a
// composite with a running job and no canceling one is running
// (Ci::Status::Composite). Only a pipeline not yet running must be
// processed.
func StartNeedsProcessing(pipeline Status) bool { return pipeline != StatusRunning }
