package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/ci"
)

// ScheduleAccess answers the role of a user who may create pipelines in
// the project (create_pipeline), or an error when they may not. internal/app
// installs the access policy's answer.
type ScheduleAccess func(ctx context.Context, u *ci.User, p *ci.Project) (ci.AccessLevel, error)

// SetScheduleAccess installs the check the scheduler asks before running
// a schedule for its owner. Without it nobody may.
func (s *Service) SetScheduleAccess(fn ScheduleAccess) { s.scheduleAccess = fn }

// ErrScheduleOwnerUnavailable is RunPipelineScheduleWorker's "Pipeline
// schedule owner is no longer available to schedule the pipeline": the
// schedule has been deactivated.
var ErrScheduleOwnerUnavailable = errors.New("pipeline schedule owner is no longer available to schedule the pipeline")

// dueScheduleBatch bounds the schedules one tick looks at; more wait for
// the next tick.
const dueScheduleBatch = 100

// RunSchedules runs due pipeline schedules every interval until ctx ends
// (PipelineScheduleWorker). Every coordinator runs it: the claim in the
// store lets exactly one of them run each due schedule.
func (s *Service) RunSchedules(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.RunDueSchedules(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunDueSchedules does one tick: every active schedule whose next_run_at
// has passed is claimed (next_run_at moves to the cron line's next time
// after now, so a schedule missed for several periods runs once, not once
// per missed period) and, if this coordinator won the claim, run for its
// owner. It returns how many schedules it ran.
func (s *Service) RunDueSchedules(ctx context.Context) int {
	now := s.Now()
	due, err := s.store.DuePipelineSchedules(ctx, now, dueScheduleBatch)
	s.logErr("due pipeline schedules", err)
	ran := 0
	for _, sc := range due {
		next, ok := sc.NextRun(now)
		if !ok {
			// Only a line validated on save is stored; one that no longer
			// parses (or never fires again) cannot be run.
			s.logErr("pipeline schedule", fmt.Errorf("schedule %d: cron %q in %q does not fire", sc.ID, sc.Cron, sc.CronTimezone))
			s.logErr("deactivate pipeline schedule", s.store.DeactivatePipelineSchedule(ctx, sc.ID, now))
			continue
		}
		won, err := s.store.ClaimPipelineSchedule(ctx, sc.ID, *sc.NextRunAt, next, now)
		if err != nil {
			s.logErr("claim pipeline schedule", err)
			continue
		}
		if !won {
			s.log.Debug("pipeline schedule claimed by another coordinator", "schedule", sc.ID)
			continue
		}
		sc.NextRunAt = &next
		ran++
		if _, err := s.RunSchedule(ctx, sc, sc.OwnerID); err != nil {
			s.log.Warn("Failed to create a scheduled pipeline", "schedule_id", sc.ID, "err", err)
		}
	}
	return ran
}

// RunSchedule creates the schedule's pipeline as user userID (the owner
// when scheduled, the caller for play), following RunPipelineScheduleWorker:
// an owner who may no longer create pipelines in the project deactivates
// the schedule; otherwise the pipeline is created from the schedule's ref
// with source "schedule", its variables and inputs, and configuration
// errors saved as a failed pipeline (save_on_errors). A pipeline that
// cannot be created (the ref is gone, a protected ref the user may not
// update) is an error for the log; the schedule stays as it is.
func (s *Service) RunSchedule(ctx context.Context, sc *ci.PipelineSchedule, userID int64) (*ci.Pipeline, error) {
	p, err := s.store.ProjectByID(ctx, sc.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("project of schedule %d: %w", sc.ID, err)
	}
	if _, err := s.scheduleRole(ctx, sc.OwnerID, p); err != nil {
		if derr := s.store.DeactivatePipelineSchedule(ctx, sc.ID, s.Now()); derr != nil {
			return nil, derr
		}
		sc.Active = false
		return nil, fmt.Errorf("%w: %w", ErrScheduleOwnerUnavailable, err)
	}
	role, err := s.scheduleRole(ctx, userID, p)
	if err != nil {
		return nil, fmt.Errorf("user %d: %w", userID, err)
	}
	vars, err := s.store.ScheduleVariables(ctx, sc.ID)
	if err != nil {
		return nil, err
	}
	req := CreateRequest{Project: p, Source: "schedule", UserID: userID, SaveOnErrors: true, Role: role,
		ScheduleID: sc.ID, ScheduleDescription: sc.Description}
	if name, tag, ok := ci.SplitFullRef(sc.Ref); ok {
		req.Ref, req.Tag, req.RefKnown = name, tag, true
	} else {
		// A short ref kept as given (it matched no branch or tag once).
		req.Ref = sc.Ref
	}
	for _, v := range vars {
		req.Variables = append(req.Variables, ci.Variable{Key: v.Key, Value: v.Value, VariableType: v.VariableType})
	}
	if len(sc.Inputs) > 0 {
		req.Inputs = make(map[string]any, len(sc.Inputs))
		for _, in := range sc.Inputs {
			req.Inputs[in.Name] = in.Value
		}
	}
	pl, err := s.Create(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("schedule %d: %w", sc.ID, err)
	}
	return pl, nil
}

// scheduleRole is the user's role if they may create pipelines in p.
func (s *Service) scheduleRole(ctx context.Context, userID int64, p *ci.Project) (ci.AccessLevel, error) {
	if userID == 0 || s.scheduleAccess == nil {
		return ci.NoAccess, ci.ErrForbidden
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return ci.NoAccess, fmt.Errorf("user %d: %w", userID, err)
	}
	return s.scheduleAccess(ctx, u, p)
}
