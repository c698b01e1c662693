package web

import (
	"github.com/gantryci/gantry/internal/access"
	"net/http"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// jobScope is one of GitLab's job list tabs (Ci::JobsFinder scopes).
type jobScope struct {
	Key      string
	Label    string
	Statuses []ci.Status
}

var jobScopes = []jobScope{
	{Key: "", Label: "All"},
	{Key: "pending", Label: "Pending", Statuses: []ci.Status{ci.StatusPending}},
	{Key: "running", Label: "Running", Statuses: []ci.Status{ci.StatusRunning}},
	{Key: "finished", Label: "Finished", Statuses: []ci.Status{ci.StatusSuccess, ci.StatusFailed, ci.StatusCanceled}},
}

type jobRow struct {
	Job      *ci.Job
	Pipeline *ci.Pipeline
	Duration time.Duration
}

type jobsView struct {
	Project *ci.Project
	Scopes  []jobScope
	Scope   string
	Rows    []jobRow
	Next    int64
	// Live is the stream of the list's region, "" for none.
	Live string
}

func (v jobsView) project() (*ci.Project, string) { return v.Project, "jobs" }

// jobsPage is GET …/-/jobs?scope=: the project's jobs newest first, by tab,
// paged by id.
func (s *Server) jobsPage(pg *page) error {
	p, err := s.project(pg, access.ReadBuild)
	if err != nil {
		return err
	}
	if isLive(pg) {
		return s.liveRegion(pg, "jobs", func() (any, func(Change) bool, error) {
			v, err := s.jobsView(pg, p)
			return v, func(c Change) bool { return c.ProjectID == p.ID }, err
		})
	}
	v, err := s.jobsView(pg, p)
	if err != nil {
		return err
	}
	v.Live = liveURL(pg)
	s.render(pg, http.StatusOK, "jobs", "Jobs · "+p.FullPath(), v)
	return nil
}

// jobsView reads the list the page's query asks for.
func (s *Server) jobsView(pg *page, p *ci.Project) (jobsView, error) {
	q := pg.r.URL.Query()
	v := jobsView{Project: p, Scopes: jobScopes, Scope: q.Get("scope")}
	f := store.JobFilter{ProjectID: p.ID, Kind: store.BuildsOnly, Brief: true, Limit: pageSize + 1}
	found := false
	for _, sc := range jobScopes {
		if sc.Key == v.Scope {
			f.Statuses, found = sc.Statuses, true
		}
	}
	if !found {
		return v, ci.BadRequest("scope is invalid")
	}
	var err error
	if f.BeforeID, err = cursor(pg); err != nil {
		return v, err
	}
	jobs, err := s.st.ListJobs(pg.ctx(), f)
	if err != nil {
		return v, err
	}
	jobs, v.Next = cutPage(jobs, func(x *ci.Job) int64 { return x.ID })
	var pids []int64
	for _, j := range jobs {
		pids = append(pids, j.PipelineID)
	}
	pls, err := s.st.PipelinesByIDs(pg.ctx(), pids)
	if err != nil {
		return v, err
	}
	now := s.now()
	for _, j := range jobs {
		r := jobRow{Job: j, Pipeline: pls[j.PipelineID]}
		if d := ci.Duration(j.StartedAt, j.FinishedAt, now); d != nil {
			r.Duration = time.Duration(*d * float64(time.Second))
		}
		v.Rows = append(v.Rows, r)
	}
	return v, nil
}
