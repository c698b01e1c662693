package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// View is the predicate view of a job with its artifacts.
func View(j *ci.Job, arts []*ci.Artifact) ci.JobView {
	v := ci.JobView{Kind: j.Kind, Status: j.Status, When: j.When, Retried: j.Retried, Archived: j.Archived,
		FailureReason: j.FailureReason, HasTrace: j.TraceSize > 0}
	for _, a := range arts {
		v.HasJobArtifacts = true
		if a.FileType == ci.ArtifactArchive {
			v.HasArtifacts = true
		}
		if a.FileType == "trace" {
			v.HasTrace = true
		}
	}
	return v
}

func (s *Service) view(ctx context.Context, j *ci.Job) (ci.JobView, error) {
	arts, err := s.store.ArtifactsByJobIDs(ctx, []int64{j.ID})
	if err != nil {
		return ci.JobView{}, err
	}
	return View(j, arts[j.ID]), nil
}

// supportsCanceling reports whether the runner manager holding a job can
// cancel gracefully (runs after_script), which makes cancel go through
// canceling.
func (s *Service) supportsCanceling(ctx context.Context, j *ci.Job) bool {
	if j.RunnerManagerID == 0 {
		return false
	}
	ms, err := s.store.RunnerManagersByIDs(ctx, []int64{j.RunnerManagerID})
	if err != nil {
		return false
	}
	m := ms[j.RunnerManagerID]
	return m != nil && m.Features["cancel_gracefully"]
}

// CancelJob cancels a job the way POST …/cancel does: never an error for a
// job in the wrong state; force moves canceling to canceled only.
func (s *Service) CancelJob(ctx context.Context, j *ci.Job, force bool) (*ci.Job, error) {
	return s.cancelJob(ctx, j, force, true, true)
}

// cancelJob is CancelJob; process=false leaves processing the pipeline to
// the caller, so CancelPipeline cancels later-stage created jobs instead of
// letting an intermediate Process skip them (GitLab cancels the whole batch
// first and processes asynchronously).
//
// cascade also cancels a canceled bridge's downstream pipeline
// (Ci::CancelPipelineService's cascade_to_children); auto-cancel of
// redundant pipelines does not cascade, it visits each child by its own
// setting.
func (s *Service) cancelJob(ctx context.Context, j *ci.Job, force, process, cascade bool) (*ci.Job, error) {
	for attempt := 0; attempt < 3; attempt++ {
		var err error
		if force {
			err = s.transition(ctx, j, ci.EventForceCancel, ci.Guards{}, nil)
		} else {
			ev := ci.EventCancel
			if j.Kind == ci.KindBridge {
				ev = ci.EventToCanceled
				if !j.Status.Cancelable() {
					return j, nil
				}
			}
			err = s.transition(ctx, j, ev, ci.Guards{SupportsCanceling: s.supportsCanceling(ctx, j)}, nil)
		}
		switch {
		case err == nil:
			if j.Kind == ci.KindBuild && j.Status.Complete() {
				// A hard cancel ends the job here: the runner's next call
				// is refused, so archive the log now.
				if _, err := s.ArchiveTrace(ctx, j); err != nil {
					s.log.Warn("archive trace", "job", j.ID, "err", err)
				}
			}
			if process {
				if err := s.Process(ctx, j.PipelineID); err != nil {
					return nil, err
				}
			}
			if cascade && j.Kind == ci.KindBridge && j.DownstreamPipelineID != 0 {
				if _, err := s.CancelPipeline(ctx, j.DownstreamPipelineID); err != nil {
					return nil, err
				}
			}
			return s.store.JobByID(ctx, j.ID)
		case errors.Is(err, ci.ErrInvalidTransition):
			return j, nil
		case isStale(err):
			if j, err = s.store.JobByID(ctx, j.ID); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	return j, nil
}

// RetryJob clones a finished job as GitLab's RetryJobService does and
// returns the new job.
func (s *Service) RetryJob(ctx context.Context, j *ci.Job, userID int64, vars []ci.Variable) (*ci.Job, error) {
	v, err := s.view(ctx, j)
	if err != nil {
		return nil, err
	}
	if !v.Retryable() {
		return nil, ci.ErrNotRetryable
	}
	// Only a retry of the job itself enqueues an action at once
	// (RetryJobService#execute passes enqueue_if_actionable).
	clone := s.clone(j, userID, true)
	if vars != nil {
		clone.JobVariables = vars
	}
	// The check above read the job before the pipeline's lock: the store
	// asks again under it, so of concurrent retries one clones and the
	// others find the job retried.
	done, err := s.store.RetryJobs(ctx, j.PipelineID, []*ci.Job{j}, []*ci.Job{clone}, stillRetryable)
	if err != nil {
		return nil, err
	}
	if len(done) == 0 {
		return nil, ci.ErrNotRetryable
	}
	if err := s.afterRevive(ctx, j.PipelineID, clone.ID); err != nil {
		return nil, err
	}
	return s.store.JobByID(ctx, clone.ID)
}

// stillRetryable is the retry rule as the store applies it under the
// pipeline's lock, to the job as stored then: a job retried meanwhile is
// not retryable (ci.JobView.Retryable). Artifacts play no part in it.
func stillRetryable(j *ci.Job) bool { return View(j, nil).Retryable() }

// clone copies a job for a retry: a new job in created, the same
// definition, the acting user. With enqueue an action (manual or delayed)
// job goes to pending at once instead of back to manual or scheduled, as
// GitLab's RetryJobService#clone! with enqueue_if_actionable.
func (s *Service) clone(j *ci.Job, userID int64, enqueue bool) *ci.Job {
	c := &ci.Job{
		ProjectID: j.ProjectID, PipelineID: j.PipelineID, Kind: j.Kind, Name: j.Name, Stage: j.Stage,
		StageIdx: j.StageIdx, Status: ci.StatusCreated, Ref: j.Ref, Tag: j.Tag, When: j.When,
		AllowFailure: j.AllowFailure, UserID: userID, Tags: j.Tags, Definition: j.Definition,
		ResourceGroup: j.ResourceGroup, Interruptible: j.Interruptible, RetryCount: j.RetryCount + 1,
	}
	if userID == 0 {
		c.UserID = j.UserID
	}
	v := ci.JobView{Kind: j.Kind, When: j.When}
	if v.Action() {
		c.JobVariables = slices.Clone(j.JobVariables)
		c.EnqueueImmediately = enqueue
	}
	return c
}

// afterRevive re-opens the skipped jobs after revived ones and processes.
func (s *Service) afterRevive(ctx context.Context, pipelineID int64, ids ...int64) error {
	jobs, err := s.store.PipelineJobs(ctx, pipelineID)
	if err != nil {
		return err
	}
	procs := make([]ci.ProcJob, 0, len(jobs))
	byID := map[int64]*ci.Job{}
	for _, j := range jobs {
		procs = append(procs, s.procJob(j))
		byID[j.ID] = j
	}
	for _, ch := range ci.ResetSkipped(procs, ids...) {
		if err := s.reopen(ctx, byID[ch.ID]); err != nil {
			return err
		}
	}
	if err := s.Process(ctx, pipelineID); err != nil {
		return err
	}
	p, err := s.store.PipelineByID(ctx, pipelineID)
	if err != nil {
		return err
	}
	if p.ParentJobID != 0 {
		return s.resetSourceBridge(ctx, p)
	}
	return nil
}

// resetSourceBridge puts a dependent bridge back to running when its
// downstream pipeline comes alive again after a retry.
func (s *Service) resetSourceBridge(ctx context.Context, p *ci.Pipeline) error {
	b, err := s.store.JobByID(ctx, p.ParentJobID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	d, err := Definition(b)
	if err != nil || d.Trigger == nil || d.Trigger.Strategy == "" || !b.Status.Complete() || p.Status.Complete() {
		return err
	}
	if err := s.moveBridge(ctx, b, ci.StatusRunning, func(b *ci.Job) { b.FinishedAt = nil }); err != nil {
		return err
	}
	return s.Process(ctx, b.PipelineID)
}

// reopen moves a skipped job back to created (the process event), for
// processing to decide it again; a lost compare-and-set is left alone.
func (s *Service) reopen(ctx context.Context, j *ci.Job) error {
	err := s.transition(ctx, j, ci.EventProcess, ci.Guards{}, func(j *ci.Job) {
		j.FinishedAt, j.StartedAt, j.QueuedAt = nil, nil, nil
	})
	if err != nil && !isStale(err) && !errors.Is(err, ci.ErrInvalidTransition) {
		return err
	}
	return nil
}

// PlayJob starts a manual or delayed job (POST …/play). A finished action
// is retried instead, returning the new job.
func (s *Service) PlayJob(ctx context.Context, j *ci.Job, userID int64, vars []ci.Variable) (*ci.Job, error) {
	v, err := s.view(ctx, j)
	if err != nil {
		return nil, err
	}
	if !v.Playable() {
		return nil, ci.ErrUnplayable
	}
	if j.Status.Complete() || j.Status == ci.StatusCanceling {
		if vars == nil {
			vars = []ci.Variable{}
		}
		return s.RetryJob(ctx, j, userID, vars)
	}
	if vars == nil {
		vars = []ci.Variable{}
	}
	ev := ci.EventEnqueue
	if j.Kind == ci.KindBridge {
		ev = ci.EventToPending
	}
	g := ci.Guards{HasResourceGroup: j.ResourceGroup != ""}
	err = s.transition(ctx, j, ev, g, func(j *ci.Job) {
		j.UserID, j.JobVariables, j.ScheduledAt = userID, vars, nil
	})
	if err != nil {
		if errors.Is(err, ci.ErrInvalidTransition) || isStale(err) {
			return nil, ci.ErrUnplayable
		}
		return nil, err
	}
	if j.Kind == ci.KindBridge {
		if err := s.triggerDownstream(ctx, j); err != nil {
			return nil, err
		}
	}
	if err := s.afterRevive(ctx, j.PipelineID, j.ID); err != nil {
		return nil, err
	}
	return s.store.JobByID(ctx, j.ID)
}

// EraseJob removes a finished job's artifacts and log (POST …/erase).
func (s *Service) EraseJob(ctx context.Context, j *ci.Job, userID int64) (*ci.Job, error) {
	v, err := s.view(ctx, j)
	if err != nil {
		return nil, err
	}
	if !v.Erasable() {
		return nil, ci.ErrNotErasable
	}
	keys, err := s.store.DeleteArtifacts(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	s.deleteBlobs(ctx, keys)
	if err := s.store.DeleteTrace(ctx, j.ID); err != nil {
		return nil, err
	}
	now := s.Now()
	j.ErasedAt, j.ErasedBy, j.ArtifactsExpireAt = &now, userID, nil
	if err := s.store.UpdateJob(ctx, j, j.Status); err != nil {
		return nil, err
	}
	return s.store.JobByID(ctx, j.ID)
}

func (s *Service) deleteBlobs(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := s.blobs.Delete(ctx, k); err != nil {
			s.log.Warn("delete blob", "key", k, "err", err)
		}
	}
}

// CancelPipeline cancels every cancelable job of a pipeline and of its
// downstream pipelines.
func (s *Service) CancelPipeline(ctx context.Context, pipelineID int64) (*ci.Pipeline, error) {
	jobs, err := s.store.PipelineJobs(ctx, pipelineID)
	if err != nil {
		return nil, err
	}
	if err := s.cancelJobs(ctx, pipelineID, jobs, true); err != nil {
		return nil, err
	}
	return s.store.PipelineByID(ctx, pipelineID)
}

// cancelJobs cancels the latest cancelable jobs among jobs, then processes
// the pipeline once.
func (s *Service) cancelJobs(ctx context.Context, pipelineID int64, jobs []*ci.Job, cascade bool) error {
	for _, j := range jobs {
		if j.Retried || !j.Status.Cancelable() {
			continue
		}
		if _, err := s.cancelJob(ctx, j, false, false, cascade); err != nil {
			return err
		}
	}
	return s.Process(ctx, pipelineID)
}

// RetryPipeline retries every latest failed or canceled build and re-opens
// skipped jobs (POST …/retry).
func (s *Service) RetryPipeline(ctx context.Context, pipelineID, userID int64) (*ci.Pipeline, error) {
	jobs, err := s.store.PipelineJobs(ctx, pipelineID)
	if err != nil {
		return nil, err
	}
	var sources, clones []*ci.Job
	for _, j := range jobs {
		if !failedBuild(j) {
			continue
		}
		v, err := s.view(ctx, j)
		if err != nil {
			return nil, err
		}
		if !v.Retryable() {
			continue
		}
		// A pipeline retry recreates an action job as an action: it
		// waits to be played again (RetryPipelineService clones without
		// enqueue_if_actionable).
		sources = append(sources, j)
		clones = append(clones, s.clone(j, userID, false))
	}
	// Every latest skipped job goes back to created.
	for _, j := range jobs {
		if j.Retried || j.Status != ci.StatusSkipped {
			continue
		}
		if err := s.reopen(ctx, j); err != nil {
			return nil, err
		}
	}
	if len(clones) > 0 {
		// Under the pipeline's lock, so that concurrent pipeline retries
		// clone each job once (Ci::RetryPipelineService skips a job that
		// is no longer retryable).
		if clones, err = s.store.RetryJobs(ctx, pipelineID, sources, clones, func(j *ci.Job) bool {
			return failedBuild(j) && stillRetryable(j)
		}); err != nil {
			return nil, err
		}
	}
	ids := make([]int64, 0, len(clones))
	for _, c := range clones {
		ids = append(ids, c.ID)
	}
	if err := s.afterRevive(ctx, pipelineID, ids...); err != nil {
		return nil, err
	}
	return s.store.PipelineByID(ctx, pipelineID)
}

// failedBuild reports whether a pipeline retry retries j: a latest build
// that failed or was canceled (Ci::Pipeline#retryable_builds).
func failedBuild(j *ci.Job) bool {
	return !j.Retried && j.Kind == ci.KindBuild && (j.Status == ci.StatusFailed || j.Status == ci.StatusCanceled)
}

// DeletePipeline removes a pipeline, its jobs, logs and artifacts.
func (s *Service) DeletePipeline(ctx context.Context, p *ci.Pipeline) error {
	jobs, err := s.store.PipelineJobs(ctx, p.ID)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	arts, err := s.store.ArtifactsByJobIDs(ctx, ids)
	if err != nil {
		return err
	}
	if err := s.store.DeletePipeline(ctx, p.ID); err != nil {
		return fmt.Errorf("delete pipeline: %w", err)
	}
	for _, as := range arts {
		for _, a := range as {
			s.deleteBlobs(ctx, []string{a.BlobKey})
		}
	}
	if err := s.Repo(p.ProjectID).DeleteRef(ctx, fmt.Sprintf("refs/pipelines/%d", p.ID)); err != nil {
		s.log.Debug("delete persistent ref", "pipeline", p.ID, "err", err)
	}
	return nil
}
