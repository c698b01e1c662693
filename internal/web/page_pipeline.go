package web

import (
	"fmt"
	"github.com/gantryci/gantry/internal/access"
	"net/http"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

type pipelineView struct {
	graphView
	User      *ci.User
	Duration  string
	CanRetry  bool
	CanCancel bool
	// Query and Hits are the pipeline-wide log search.
	Query     string
	Hits      []searchHit
	Truncated bool
}

func (v pipelineView) project() (*ci.Project, string) { return v.Project, "pipelines" }

// pipelinePage is GET …/-/pipelines/:id: stages as columns, the needs
// view, bridges that expand their child pipeline, pipeline actions.
func (s *Server) pipelinePage(pg *page) error {
	v, err := s.pipelineData(pg)
	if err != nil {
		return err
	}
	s.render(pg, http.StatusOK, "pipeline", fmt.Sprintf("Pipeline #%d · %s", v.Pipeline.ID, v.Project.FullPath()), v)
	return nil
}

func (s *Server) pipelineData(pg *page) (pipelineView, error) {
	p, err := s.project(pg, access.ReadPipeline)
	if err != nil {
		return pipelineView{}, err
	}
	pl, err := s.pipelineOf(pg, p)
	if err != nil {
		return pipelineView{}, err
	}
	g, err := s.stages(pg, p, pl, true)
	if err != nil {
		return pipelineView{}, err
	}
	v := pipelineView{graphView: g, Duration: fmtDuration(pipelineDuration(pl, s.now()))}
	if pl.UserID != 0 {
		if u, err := s.st.UserByID(pg.ctx(), pl.UserID); err == nil {
			v.User = u
		}
	}
	canUpdate, err := s.can(pg, p, access.UpdatePipeline)
	if err != nil {
		return pipelineView{}, err
	}
	for _, st := range g.Stages {
		for _, n := range st.Jobs {
			v.CanRetry = v.CanRetry || (canUpdate && n.CanRetry && (n.Job.Status == ci.StatusFailed || n.Job.Status == ci.StatusCanceled))
			v.CanCancel = v.CanCancel || (canUpdate && n.Job.Status.Cancelable())
		}
	}
	return v, nil
}

// pipelineGraphFragment is GET …/-/pipelines/:id/graph: the graph alone,
// which a bridge on the parent's page loads to expand its child in place.
func (s *Server) pipelineGraphFragment(pg *page) error {
	v, err := s.pipelineData(pg)
	if err != nil {
		return err
	}
	t := s.pages["pipeline"]
	pg.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pg.w.Header().Set("Cache-Control", "no-store")
	return t.ExecuteTemplate(pg.w, "graph", layoutView{User: pg.user, CSRF: pg.csrf, Data: v})
}

// pipelineRetry is POST …/-/pipelines/:id/retry.
func (s *Server) pipelineRetry(pg *page) error {
	return s.pipelineAction(pg, func(pl *ci.Pipeline) error {
		_, err := s.eng.RetryPipeline(pg.ctx(), pl.ID, s.userID(pg))
		return err
	})
}

// pipelineCancel is POST …/-/pipelines/:id/cancel.
func (s *Server) pipelineCancel(pg *page) error {
	return s.pipelineAction(pg, func(pl *ci.Pipeline) error {
		_, err := s.eng.CancelPipeline(pg.ctx(), pl.ID)
		return err
	})
}

// pipelineAction runs an update_pipeline action, then shows the pipeline.
func (s *Server) pipelineAction(pg *page, do func(*ci.Pipeline) error) error {
	p, err := s.project(pg, access.UpdatePipeline)
	if err != nil {
		return err
	}
	pl, err := s.pipelineOf(pg, p)
	if err != nil {
		return err
	}
	if err := do(pl); err != nil {
		return err
	}
	return pg.redirect(pipelineURL(p, pl.ID))
}

// searchHit is one matching log line of a pipeline-wide search.
type searchHit struct {
	Job  *ci.Job
	Line int
	Text string
}

const maxPipelineHits = 200

// pipelineSearch is GET …/-/pipelines/:id/search?q=: one query over the
// logs of every job of the pipeline, answered as job + line links.
func (s *Server) pipelineSearch(pg *page) error {
	v, err := s.pipelineData(pg)
	if err != nil {
		return err
	}
	if err := s.policy.Can(pg.ctx(), pg.caller(), v.Project, access.ReadBuild); err != nil {
		return err
	}
	v.Query = strings.TrimSpace(pg.r.URL.Query().Get("q"))
	if v.Query != "" && len(v.Query) <= 200 {
		jobs, err := s.st.ListJobs(pg.ctx(), store.JobFilter{PipelineID: v.Pipeline.ID, LatestOnly: true, Kind: store.BuildsOnly, Asc: true, Limit: 2000, Brief: true})
		if err != nil {
			return err
		}
		for _, j := range jobs {
			// The trace rule is per job (debug-mode traces are for
			// developers): skip the logs the viewer may not read.
			if ok, err := s.canJob(pg, v.Project, j, access.ReadBuildTrace); err != nil {
				return err
			} else if !ok {
				continue
			}
			ms, err := s.searchJobLog(pg.ctx(), j, v.Query, maxPipelineHits-len(v.Hits))
			if err != nil {
				return err
			}
			for _, m := range ms {
				v.Hits = append(v.Hits, searchHit{Job: j, Line: m.Line, Text: m.Text})
			}
			if len(v.Hits) >= maxPipelineHits {
				v.Truncated = true
				break
			}
		}
	}
	s.render(pg, http.StatusOK, "pipeline", fmt.Sprintf("Search · Pipeline #%d", v.Pipeline.ID), v)
	return nil
}

func pipelineURL(p *ci.Project, id int64) string {
	return fmt.Sprintf("/%s/-/pipelines/%d", p.FullPath(), id)
}

func jobURL(p *ci.Project, id int64) string {
	return fmt.Sprintf("/%s/-/jobs/%d", p.FullPath(), id)
}
