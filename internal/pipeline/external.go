package pipeline

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// StatusReport is what an external system reports through
// POST /projects/:id/statuses/:sha.
type StatusReport struct {
	Project *ci.Project
	UserID  int64
	// Role is the caller's role: the pipeline's ref may be protected.
	Role ci.AccessLevel
	// SHA names the commit (any revision git resolves).
	SHA string
	// State is one of pending, running, success, failed, canceled, skipped.
	State string
	// Ref is the branch or tag; "" takes the matching pipeline's ref, else
	// the first branch that contains the commit.
	Ref string
	// Name is name, else context, else "default".
	Name string
	// PipelineID picks one of the commit's pipelines (0: the newest).
	PipelineID int64
	// TargetURL, Description and Coverage are updated only when given.
	TargetURL, Description *string
	Coverage               *float64
}

// statusEvents are the events each reported state fires, in GitLab's
// CreateCommitStatusService#apply_job_state!: "running" first tries a
// non-bang enqueue (a pending status goes straight on to run).
var statusEvents = map[string][]ci.Event{
	"pending":  {ci.EventEnqueue},
	"running":  {ci.EventEnqueue, ci.EventRun},
	"success":  {ci.EventSuccess},
	"failed":   {ci.EventDrop},
	"canceled": {ci.EventCancel},
	"skipped":  {ci.EventSkip},
}

// ValidStatusState reports whether s is a state ReportStatus accepts.
func ValidStatusState(s string) bool { _, ok := statusEvents[s]; return ok }

// ReportStatus records an external system's status as a job of kind
// ci.KindExternal in the newest pipeline of the commit (and ref), creating
// a pipeline of source "external" when there is none, as GitLab's
// Ci::CreateCommitStatusService does. A pending or running status of the
// same name, ref and user is moved on; otherwise a new one replaces older
// statuses of that name (update_older_statuses_retried!). The pipeline is
// then processed, so its status reflects the report.
func (s *Service) ReportStatus(ctx context.Context, r StatusReport) (*ci.Job, error) {
	evs, ok := statusEvents[r.State]
	if !ok {
		return nil, ci.Invalid("state does not have a valid value")
	}
	repo := s.Repo(r.Project.ID)
	if _, err := os.Stat(repo.Dir); err != nil {
		return nil, ci.NotFound("Commit")
	}
	commit, err := repo.Commit(ctx, r.SHA)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ci.NotFound("Commit")
	} else if err != nil {
		return nil, fmt.Errorf("commit %s: %w", r.SHA, err)
	}
	if r.Name == "" {
		r.Name = "default"
	}
	// One report per project and commit at a time in this process
	// (GitLab's lease api:commit_statuses:project:<id>:sha:<sha>); across
	// coordinators the job's compare-and-set answers 409 instead.
	unlock := s.reportLock(r.Project.ID, commit.ID)
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()

	matching, err := s.matchingPipeline(ctx, r, commit.ID)
	if err != nil {
		return nil, err
	}
	if r.PipelineID != 0 && matching == nil {
		return nil, ci.NotFound("Pipeline for pipeline_id, sha and ref")
	}
	ref := r.Ref
	if ref == "" && matching != nil {
		ref = matching.Ref
	}
	if ref == "" {
		branches, _, err := repo.RefsContaining(ctx, commit.ID)
		if err != nil {
			return nil, fmt.Errorf("refs containing %s: %w", commit.ID, err)
		}
		if len(branches) == 0 {
			return nil, ci.NotFound("References for commit")
		}
		ref = branches[0]
	}
	rules, err := s.store.ProtectedRefs(ctx, r.Project.ID)
	if err != nil {
		return nil, fmt.Errorf("protected refs: %w", err)
	}
	pl := matching
	if pl == nil {
		tag := false
		if ok, err := repo.BranchExists(ctx, ref); err == nil && !ok {
			tag, _ = repo.TagExists(ctx, ref)
		}
		pl = &ci.Pipeline{ProjectID: r.Project.ID, Ref: ref, Tag: tag, SHA: commit.ID, BeforeSHA: ZeroSHA,
			Source: "external", Status: ci.StatusCreated, UserID: r.UserID, Protected: rules.Protected(ref, tag)}
	}
	// update_pipeline on the pipeline: a developer, and one who may update
	// its ref when that is protected (Ci::PipelinePolicy's protected_ref).
	if r.Role < ci.Developer || (pl.Protected && !rules.CanUpdate(pl.Ref, pl.Tag, r.Role)) {
		return nil, ci.ErrForbidden
	}
	if pl.ID == 0 {
		committed := commit.CommittedDate.UTC()
		pl.CommittedAt = &committed
		if err := s.store.SaveCommit(ctx, r.Project.ID, toStoreCommit(commit)); err != nil {
			return nil, err
		}
		if err := s.store.CreatePipeline(ctx, pl, nil); err != nil {
			return nil, err
		}
	}
	j, err := s.externalStatus(ctx, pl, ref, r)
	if err != nil {
		return nil, err
	}
	fresh := j.ID == 0
	saved := *j
	if r.TargetURL != nil {
		j.TargetURL = r.TargetURL
	}
	if r.Description != nil {
		j.Description = r.Description
	}
	if r.Coverage != nil {
		j.Coverage = r.Coverage
	}
	if err := fireReported(j, evs, s.Now()); err != nil {
		return nil, err
	}
	if fresh {
		err = s.store.InsertJobs(ctx, []*ci.Job{j}, []string{j.Name})
	} else {
		err = s.store.UpdateJob(ctx, j, saved.Status)
	}
	if isStale(err) {
		return nil, &ci.Error{Code: ci.EConflict, Message: "Another update to this commit status is in progress"}
	} else if err != nil {
		return nil, err
	}
	unlock()
	locked = false
	if err := s.Process(ctx, pl.ID); err != nil {
		return nil, err
	}
	return j, nil
}

// reportLock serialises status reports of one commit of a project; it is
// apart from the processing locks, which a report takes afterwards.
func (s *Service) reportLock(projectID int64, sha string) func() {
	h := fnv.New32a()
	_, _ = fmt.Fprint(h, projectID, sha)
	m := &s.reportLocks[h.Sum32()%uint32(len(s.reportLocks))]
	m.Lock()
	return m.Unlock
}

// fireReported moves j through the status machine as the reported state
// asks. GitLab's bang events fail with the state_machines message, which
// clients match ("Cannot transition status via :run from :running").
func fireReported(j *ci.Job, evs []ci.Event, now time.Time) error {
	g := ci.Guards{Now: now}
	for i, ev := range evs {
		from, err := j.Fire(ev, g)
		if err == nil {
			continue
		}
		if len(evs) > 1 && i == 0 {
			// running's enqueue is the non-bang kind: a no-op when it does
			// not apply.
			continue
		}
		return &ci.Error{Code: ci.EBadRequest, Message: fmt.Sprintf(
			"Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via \"%s\")", ev, from, ev)}
	}
	if j.Status == ci.StatusFailed {
		j.FailureReason = "api_failure"
	}
	return nil
}

// matchingPipeline is CreateCommitStatusService#first_matching_pipeline:
// the newest pipeline of the commit, of the ref and id when given.
func (s *Service) matchingPipeline(ctx context.Context, r StatusReport, sha string) (*ci.Pipeline, error) {
	if r.PipelineID != 0 {
		p, err := s.store.PipelineByID(ctx, r.PipelineID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		if p.ProjectID != r.Project.ID || p.SHA != sha || (r.Ref != "" && p.Ref != r.Ref) {
			return nil, nil
		}
		return p, nil
	}
	pls, err := s.store.ListPipelines(ctx, store.PipelineFilter{ProjectID: r.Project.ID, SHA: sha, Ref: r.Ref, Limit: 1})
	if err != nil || len(pls) == 0 {
		return nil, err
	}
	return pls[0], nil
}

// externalStatus finds the pending or running external status of the
// pipeline with the report's name, ref and user, or a new one (id 0, in
// created) in the external stage.
func (s *Service) externalStatus(ctx context.Context, pl *ci.Pipeline, ref string, r StatusReport) (*ci.Job, error) {
	jobs, err := s.store.PipelineJobs(ctx, pl.ID)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.Kind == ci.KindExternal && !j.Retried && j.Name == r.Name && j.Ref == ref && j.UserID == r.UserID &&
			(j.Status == ci.StatusPending || j.Status == ci.StatusRunning) {
			return j, nil
		}
	}
	return &ci.Job{ProjectID: pl.ProjectID, PipelineID: pl.ID, Kind: ci.KindExternal, Name: r.Name,
		Stage: ci.ExternalStage, StageIdx: ci.ExternalStageIdx, Status: ci.StatusCreated, Ref: pl.Ref, Tag: pl.Tag,
		When: ci.WhenOnSuccess, UserID: r.UserID}, nil
}
