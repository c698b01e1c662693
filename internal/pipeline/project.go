package pipeline

import (
	"context"
	"fmt"
	"os"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// DeleteProject removes a project as GitLab's Projects::DestroyService
// does, but at once rather than in a worker: its unfinished jobs fail with
// failure_reason project_deleted through the status machine
// (Ci::AbortPipelinesService), so a runner working on one is refused at
// its next update and stops; then every row of the project goes, the
// blobs of its artifacts and archived logs are deleted, and its
// repository is removed from disk.
func (s *Service) DeleteProject(ctx context.Context, p *ci.Project) error {
	for {
		jobs, err := s.store.ListJobs(ctx, store.JobFilter{ProjectID: p.ID, Limit: 500, Statuses: []ci.Status{
			ci.StatusCreated, ci.StatusWaitingForResource, ci.StatusPreparing, ci.StatusWaitingForCallback,
			ci.StatusPending, ci.StatusRunning, ci.StatusCanceling, ci.StatusManual, ci.StatusScheduled}})
		if err != nil {
			return err
		}
		moved := 0
		for _, j := range jobs {
			// Written without processing the pipeline: it is deleted next.
			err := s.move(ctx, j, ci.Guards{}, func(j *ci.Job) {
				if j.Status == ci.StatusFailed {
					j.FailureReason = ci.FailureProjectDeleted
				}
			}, ci.EventDrop)
			if err == nil {
				moved++
			}
		}
		if moved == 0 || len(jobs) < 500 {
			break
		}
	}
	keys, err := s.store.DeleteProject(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("delete project %d: %w", p.ID, err)
	}
	s.deleteBlobs(ctx, keys)
	if err := os.RemoveAll(s.RepoDir(p.ID)); err != nil {
		s.log.Warn("remove repository", "project", p.ID, "err", err)
	}
	return nil
}
