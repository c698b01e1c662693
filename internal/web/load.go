package web

import (
	"errors"

	"github.com/gantryci/gantry/internal/access"
	"strconv"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// project loads the path's project and asks the policy for action a: an
// unknown project and an invisible one are the same 404.
func (s *Server) project(pg *page, a access.Action) (*ci.Project, error) {
	p, err := s.st.ProjectByPath(pg.ctx(), pg.r.PathValue("namespace"), pg.r.PathValue("project"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ci.ErrProjectNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := s.policy.Can(pg.ctx(), pg.caller(), p, a); err != nil {
		return nil, err
	}
	return p, nil
}

// can asks the policy without failing the page: it drives which buttons
// a page shows.
func (s *Server) can(pg *page, p *ci.Project, a access.Action) (bool, error) {
	return allowed(s.policy.Can(pg.ctx(), pg.caller(), p, a))
}

// canJob is can for an action on one job (Ci::BuildPolicy's rules too).
func (s *Server) canJob(pg *page, p *ci.Project, j *ci.Job, a access.Action) (bool, error) {
	return allowed(s.policy.CanJob(pg.ctx(), pg.caller(), p, j, a))
}

// mustJob asks the policy about an action on a job, failing the page.
func (s *Server) mustJob(pg *page, p *ci.Project, j *ci.Job, a access.Action) error {
	return s.policy.CanJob(pg.ctx(), pg.caller(), p, j, a)
}

func pathID(pg *page) (int64, error) {
	id, err := strconv.ParseInt(pg.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, ci.ErrNotFoundGeneric
	}
	return id, nil
}

// pipelineOf loads the path's pipeline of project p.
func (s *Server) pipelineOf(pg *page, p *ci.Project) (*ci.Pipeline, error) {
	id, err := pathID(pg)
	if err != nil {
		return nil, err
	}
	pl, err := s.st.PipelineByID(pg.ctx(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && pl.ProjectID != p.ID) {
		return nil, ci.ErrNotFoundGeneric
	}
	return pl, err
}

// jobOf loads the path's job of project p.
func (s *Server) jobOf(pg *page, p *ci.Project) (*ci.Job, error) {
	id, err := pathID(pg)
	if err != nil {
		return nil, err
	}
	j, err := s.st.JobByID(pg.ctx(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && j.ProjectID != p.ID) {
		return nil, ci.ErrNotFoundGeneric
	}
	return j, err
}

func (s *Server) userID(pg *page) int64 {
	if pg.user == nil {
		return 0
	}
	return pg.user.ID
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// projectJob loads the path's project and job and asks the policy for
// action a on that job (Ci::BuildPolicy's per-job rules included).
func (s *Server) projectJob(pg *page, a access.Action) (*ci.Project, *ci.Job, error) {
	p, err := s.project(pg, access.ReadBuild)
	if err != nil {
		return nil, nil, err
	}
	j, err := s.jobOf(pg, p)
	if err != nil {
		return nil, nil, err
	}
	if err := s.mustJob(pg, p, j, a); err != nil {
		return nil, nil, err
	}
	return p, j, nil
}

// cursor is the keyset paging cursor ?before=ID (0 for the first page).
func cursor(pg *page) (int64, error) {
	c := pg.r.URL.Query().Get("before")
	if c == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(c, 10, 64)
	if err != nil || id <= 0 {
		return 0, ci.BadRequest("before is invalid")
	}
	return id, nil
}

// page cuts a list fetched with one extra row to a page, returning the
// next page's cursor (0 on the last page).
func cutPage[T any](rows []T, id func(T) int64) ([]T, int64) {
	if len(rows) <= pageSize {
		return rows, 0
	}
	rows = rows[:pageSize]
	return rows, id(rows[pageSize-1])
}
