package pipeline

import (
	"context"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// resourceGroups lets the next waiting job of each resource group named by
// jobs run when the group is free: one job of a group at a time per project.
func (s *Service) resourceGroups(ctx context.Context, projectID int64, jobs []*ci.Job) error {
	seen := map[string]bool{}
	for _, j := range jobs {
		if j.ResourceGroup == "" || seen[j.ResourceGroup] {
			continue
		}
		seen[j.ResourceGroup] = true
		if err := s.assignResource(ctx, projectID, j.ResourceGroup); err != nil {
			return err
		}
	}
	return nil
}

// assignResource moves the oldest waiting_for_resource job of a group to
// pending when no job of the group holds the resource.
func (s *Service) assignResource(ctx context.Context, projectID int64, group string) error {
	busy, err := s.store.CountJobs(ctx, store.JobFilter{ProjectID: projectID, ResourceGroup: group,
		Statuses: []ci.Status{ci.StatusPending, ci.StatusRunning, ci.StatusCanceling}})
	if err != nil || busy > 0 {
		return err
	}
	waiting, err := s.store.ListJobs(ctx, store.JobFilter{ProjectID: projectID, ResourceGroup: group,
		Statuses: []ci.Status{ci.StatusWaitingForResource}, Asc: true, Limit: 1})
	if err != nil || len(waiting) == 0 {
		return err
	}
	j := waiting[0]
	from, err := j.Fire(ci.EventEnqueueWaitingForResource, ci.Guards{Now: s.Now()})
	if err != nil {
		return nil
	}
	// The count above is only a hint: the store re-checks that the group is
	// free in the same transaction as the update (another coordinator may
	// be assigning the group right now).
	if err := s.store.UpdateJobIfResourceFree(ctx, j, from); err != nil {
		if isStale(err) {
			return nil
		}
		return err
	}
	if j.Kind == ci.KindBridge {
		if err := s.triggerDownstream(ctx, j); err != nil {
			return err
		}
	}
	return s.Process(ctx, j.PipelineID)
}
