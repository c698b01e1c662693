package api

import (
	"context"
	"fmt"
	"github.com/gantryci/gantry/internal/access"
	"net/http"
	"slices"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// The jobs a runner ran, as lib/api/ci/runners.rb serves them.

// runnerJobs is GET /runners/:runner_id/jobs.
func (s *Server) runnerJobs(q *req) error {
	id, err := runnerIDParam(q)
	if err != nil {
		return err
	}
	systemID := q.p.Str("system_id")
	var statuses []ci.Status
	if q.p.Has("status") {
		// Ci::Build::AVAILABLE_STATUSES: any job status.
		st, ok := ci.ParseStatus(q.p.Str("status"))
		if !ok {
			return ci.Invalid("status does not have a valid value")
		}
		statuses = []ci.Status{st}
	}
	orderBy := q.p.Str("order_by")
	if q.p.Has("order_by") && orderBy != "id" {
		return ci.Invalid("order_by does not have a valid value")
	}
	sortDir := "desc"
	if q.p.Has("sort") {
		sortDir = q.p.Str("sort")
		if sortDir != "asc" && sortDir != "desc" {
			return ci.Invalid("sort does not have a valid value")
		}
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	ctx := q.ctx()
	r, err := s.managedRunner(ctx, q.caller, id)
	if err != nil {
		return err
	}
	var managerID int64
	if systemID != "" {
		ms, err := s.store.ListRunnerManagers(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("runner managers: %w", err)
		}
		managerID = -1 // an unknown system_id matches no job
		for _, m := range ms {
			if m.SystemID == systemID {
				managerID = m.ID
			}
		}
	}
	// Non-admins see the jobs of projects where they are reporters.
	canRead := map[int64]bool{}
	visible := func(pid int64) (bool, error) {
		if q.caller.Admin() {
			return true, nil
		}
		if v, ok := canRead[pid]; ok {
			return v, nil
		}
		lvl, err := s.policy.RoleByID(ctx, q.caller, pid)
		if err != nil {
			return false, fmt.Errorf("job project access: %w", err)
		}
		canRead[pid] = access.HasRole(lvl, access.ReadRunnerJobs)
		return canRead[pid], nil
	}
	jobs, err := s.scanRunnerJobs(ctx, r.ID, managerID, statuses, visible)
	if err != nil {
		return err
	}
	// RunnerJobsFinder sorts by id desc unless order_by is given; sort
	// alone changes nothing.
	if orderBy == "id" && sortDir == "asc" {
		slices.Reverse(jobs)
	}
	total := len(jobs)
	lo, hi := pg.bounds(total)
	if systemID != "" {
		// GitLab skips the count when filtering by manager.
		s.offsetHeaders(q, pg, hi < total, -1)
	} else {
		s.offsetHeaders(q, pg, hi < total, total)
	}
	return s.writeRunnerJobs(q, jobs[lo:hi])
}

// scanRunnerJobs returns the builds runner ran (and manager, when not 0),
// newest first, that visible allows.
func (s *Server) scanRunnerJobs(ctx context.Context, runnerID, managerID int64, statuses []ci.Status,
	visible func(int64) (bool, error)) ([]*ci.Job, error) {
	jobs, err := s.store.ListJobs(ctx, store.JobFilter{Kind: store.BuildsOnly, Statuses: statuses,
		RunnerID: runnerID, RunnerManagerID: managerID, Brief: true})
	if err != nil {
		return nil, fmt.Errorf("runner jobs: %w", err)
	}
	out := jobs[:0]
	for _, j := range jobs {
		ok, err := visible(j.ProjectID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, j)
		}
	}
	return out, nil
}

// writeRunnerJobs renders JobBasicWithProject, loading what the entities
// embed one project at a time.
func (s *Server) writeRunnerJobs(q *req, jobs []*ci.Job) error {
	ctx := q.ctx()
	byProject := map[int64][]*ci.Job{}
	for _, j := range jobs {
		byProject[j.ProjectID] = append(byProject[j.ProjectID], j)
	}
	rendered := make(map[int64]*JobBasicWithProject, len(jobs))
	for pid, pjobs := range byProject {
		p, err := s.store.ProjectByID(ctx, pid)
		if err != nil {
			return fmt.Errorf("job project %d: %w", pid, err)
		}
		set, err := s.loadJobSet(ctx, p, pjobs)
		if err != nil {
			return err
		}
		ident, err := s.projectIdentity(q, p)
		if err != nil {
			return err
		}
		for _, j := range pjobs {
			rendered[j.ID] = &JobBasicWithProject{JobBasic: s.jobBasic(set, j), Project: ident}
		}
	}
	out := make([]*JobBasicWithProject, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, rendered[j.ID])
	}
	return q.json(http.StatusOK, out)
}
