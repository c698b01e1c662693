package web

import (
	"github.com/gantryci/gantry/internal/access"
	"net/http"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

const pageSize = 30

// pipelineRow is one line of the pipelines list.
type pipelineRow struct {
	Pipeline *ci.Pipeline
	User     *ci.User
	Duration time.Duration
	Stages   []stageCol
}

type pipelinesView struct {
	Project  *ci.Project
	Rows     []pipelineRow
	Status   string
	Ref      string
	Statuses []ci.Status
	// Next is the keyset cursor of the next page, 0 on the last.
	Next int64
	// Live is the stream of the list's region, "" for none.
	Live string
}

func (v pipelinesView) project() (*ci.Project, string) { return v.Project, "pipelines" }

// pipelinesPage is GET /:namespace/:project and …/-/pipelines: the
// pipelines newest first, filtered by status and ref, paged by id.
func (s *Server) pipelinesPage(pg *page) error {
	p, err := s.project(pg, access.ReadPipeline)
	if err != nil {
		return err
	}
	if isLive(pg) {
		return s.liveRegion(pg, "pipelines", func() (any, func(Change) bool, error) {
			v, err := s.pipelinesView(pg, p)
			return v, func(c Change) bool { return c.ProjectID == p.ID }, err
		})
	}
	v, err := s.pipelinesView(pg, p)
	if err != nil {
		return err
	}
	v.Live = liveURL(pg)
	s.render(pg, http.StatusOK, "pipelines", "Pipelines · "+p.FullPath(), v)
	return nil
}

// pipelinesView reads the list the page's query asks for.
func (s *Server) pipelinesView(pg *page, p *ci.Project) (pipelinesView, error) {
	q := pg.r.URL.Query()
	v := pipelinesView{Project: p, Ref: q.Get("ref"), Status: q.Get("status"),
		Statuses: []ci.Status{ci.StatusRunning, ci.StatusPending, ci.StatusSuccess, ci.StatusFailed, ci.StatusCanceled, ci.StatusSkipped, ci.StatusManual, ci.StatusCreated}}
	f := store.PipelineFilter{ProjectID: p.ID, Ref: v.Ref, Limit: pageSize + 1, ExcludeChildren: true}
	if v.Status != "" {
		st, ok := ci.ParseStatus(v.Status)
		if !ok {
			return v, ci.BadRequest("status is invalid")
		}
		f.Statuses = []ci.Status{st}
	}
	var err error
	if f.BeforeID, err = cursor(pg); err != nil {
		return v, err
	}
	pls, err := s.st.ListPipelines(pg.ctx(), f)
	if err != nil {
		return v, err
	}
	pls, v.Next = cutPage(pls, func(x *ci.Pipeline) int64 { return x.ID })
	var uids []int64
	for _, pl := range pls {
		uids = append(uids, pl.UserID)
	}
	users, err := s.users(pg.ctx(), uids)
	if err != nil {
		return v, err
	}
	now := s.now()
	for _, pl := range pls {
		g, err := s.stages(pg, p, pl, false)
		if err != nil {
			return v, err
		}
		v.Rows = append(v.Rows, pipelineRow{Pipeline: pl, User: users[pl.UserID], Duration: pipelineDuration(pl, now), Stages: g.Stages})
	}
	return v, nil
}

// commitPage is GET …/-/commit/:sha (a commit's web_url): its pipelines.
func (s *Server) commitPage(pg *page) error {
	p, err := s.project(pg, access.ReadPipeline)
	if err != nil {
		return err
	}
	sha := pg.r.PathValue("sha")
	if len(sha) < 7 || len(sha) > 64 {
		return ci.ErrNotFoundGeneric
	}
	pls, err := s.st.ListPipelines(pg.ctx(), store.PipelineFilter{ProjectID: p.ID, SHA: sha, Limit: pageSize})
	if err != nil {
		return err
	}
	v := pipelinesView{Project: p}
	now := s.now()
	for _, pl := range pls {
		g, err := s.stages(pg, p, pl, false)
		if err != nil {
			return err
		}
		v.Rows = append(v.Rows, pipelineRow{Pipeline: pl, Duration: pipelineDuration(pl, now), Stages: g.Stages})
	}
	s.render(pg, http.StatusOK, "pipelines", "Commit "+sha, v)
	return nil
}
