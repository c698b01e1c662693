package pipeline

import (
	"context"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// maxQueueScan bounds the pending jobs read to place a job in its queue.
const maxQueueScan = 5000

// PendingReason explains why pending job j waits (ci.ExplainPending): it
// reads the runners and the older pending jobs that compete for the same
// runners. The job page and the API's pending_reason endpoint share it.
func (s *Service) PendingReason(ctx context.Context, j *ci.Job) (*ci.PendingReason, error) {
	runners, err := s.store.ListRunners(ctx, store.RunnerFilter{IncludeAll: true})
	if err != nil {
		return nil, err
	}
	pl, err := s.store.PipelineByID(ctx, j.PipelineID)
	if err != nil {
		return nil, err
	}
	var aheadErr error
	r := ci.ExplainPending(j, pl.Protected, runners, time.Now().UTC(), func(avail []*ci.Runner) int {
		older, err := s.store.ListJobs(ctx, store.JobFilter{Kind: store.BuildsOnly, Statuses: []ci.Status{ci.StatusPending},
			Asc: true, Brief: true, Limit: maxQueueScan})
		if err != nil {
			aheadErr = err
			return 0
		}
		n := 0
		for _, o := range older {
			if o.ID >= j.ID {
				break
			}
			for _, rn := range avail {
				if ci.RunnerServesProject(rn, o.ProjectID) && rn.Matches(o, func() bool { return true }) {
					n++
					break
				}
			}
		}
		return n
	})
	if aheadErr != nil {
		return nil, aheadErr
	}
	return &r, nil
}
