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
				if rn.CanTake(o, func() bool { return true }) {
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

// RunnerQueue is what a runner could take of the pending builds.
type RunnerQueue struct {
	// Count is how many pending builds the runner could take.
	Count int
	// Only are the pending builds no other available runner could take,
	// oldest first (at most maxOnly).
	Only []*ci.Job
}

// maxOnly bounds the builds RunnerQueues lists per runner.
const maxOnly = 20

// RunnerQueues reads the pending builds (the oldest maxQueueScan) and says,
// for each runner, how many it could take and which only it could take
// among the available runners (online, not paused). The matching rule is
// ci.Runner.CanTake, the one PendingReason and the claim use. The runners
// page shows it.
func (s *Service) RunnerQueues(ctx context.Context, runners []*ci.Runner, all []*ci.Runner) (map[int64]*RunnerQueue, error) {
	pending, err := s.store.ListJobs(ctx, store.JobFilter{Kind: store.BuildsOnly, Statuses: []ci.Status{ci.StatusPending},
		Asc: true, Brief: true, Limit: maxQueueScan})
	if err != nil {
		return nil, err
	}
	protected := map[int64]bool{}
	var perr error
	isProtected := func(j *ci.Job) func() bool {
		return func() bool {
			if p, ok := protected[j.PipelineID]; ok {
				return p
			}
			pl, err := s.store.PipelineByID(ctx, j.PipelineID)
			if err != nil {
				perr = err
				return false
			}
			protected[j.PipelineID] = pl.Protected
			return pl.Protected
		}
	}
	now := time.Now().UTC()
	var avail []*ci.Runner
	for _, r := range all {
		if r.Available(now) {
			avail = append(avail, r)
		}
	}
	qs := map[int64]*RunnerQueue{}
	for _, r := range runners {
		q := &RunnerQueue{}
		qs[r.ID] = q
		for _, j := range pending {
			if !r.CanTake(j, isProtected(j)) {
				continue
			}
			q.Count++
			if len(q.Only) >= maxOnly {
				continue
			}
			only := true
			for _, o := range avail {
				if o.ID != r.ID && o.CanTake(j, isProtected(j)) {
					only = false
					break
				}
			}
			if only {
				q.Only = append(q.Only, j)
			}
		}
	}
	return qs, perr
}
