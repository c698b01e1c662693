package web

import (
	"net/http"
	"slices"
	"time"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// The runners pages, at GitLab's paths: /admin/runners (admins: every
// runner, Admin::RunnersController) and …/-/runners (a project's
// maintainers: the runners that serve the project, instance ones
// included, as Projects::RunnersController lists them). Each runner shows
// its status (ci.Runner.Status), tags, version, last contact, the jobs it
// runs now and the pending builds only it could take (ci.Runner.CanTake,
// the rule of the claim and of "why is it pending").

// maxRunnersShown bounds a runners page.
const maxRunnersShown = 200

// runnerRow is one runner on the page.
type runnerRow struct {
	Runner  *ci.Runner
	Status  string
	Online  bool
	Version string
	// Running are the jobs it runs now (the viewer may read them).
	Running []jobLink
	// Busy counts running jobs of projects the page does not show.
	Busy  int
	Queue int
	Only  []jobLink
}

// jobLink is a job with its page's URL.
type jobLink struct {
	Job *ci.Job
	URL string
}

type runnersView struct {
	Project *ci.Project // nil on the admin page
	Heading string
	Rows    []runnerRow
	// Live is the events stream the page follows, "" for none.
	Live string
	// ReloadIn is when (milliseconds from now) a runner's status next
	// changes by time alone, -1 for never.
	ReloadIn int64
}

// reloadIn is the time until the first runner's status changes by time
// alone (online to offline, to stale), -1 when none will.
func reloadIn(rows []runnerRow, now time.Time) int64 {
	var next time.Time
	for _, r := range rows {
		if at := r.Runner.StatusChangesAt(now); !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if next.IsZero() {
		return -1
	}
	return next.Sub(now).Milliseconds()
}

func (v runnersView) project() (*ci.Project, string) { return v.Project, "runners" }

// adminRunnersPage is GET /admin/runners: every runner, for admins only
// (anyone else gets the 404 GitLab's admin area answers).
func (s *Server) adminRunnersPage(pg *page) error {
	if pg.user == nil || !pg.user.Admin {
		return ci.ErrNotFoundGeneric
	}
	runners, err := s.st.ListRunners(pg.ctx(), store.RunnerFilter{IncludeAll: true, Limit: maxRunnersShown})
	if err != nil {
		return err
	}
	v := runnersView{Heading: "Runners", Live: "/admin/runners/events"}
	if v.Rows, err = s.runnerRows(pg, runners, nil); err != nil {
		return err
	}
	v.ReloadIn = reloadIn(v.Rows, s.now())
	s.render(pg, http.StatusOK, "runners", "Runners · Admin", v)
	return nil
}

// projectRunnersPage is GET …/-/runners: the runners serving the project,
// for those who may administer its runners (admin_runner).
func (s *Server) projectRunnersPage(pg *page) error {
	p, err := s.project(pg, access.AdminRunners)
	if err != nil {
		return err
	}
	runners, err := s.st.ListRunners(pg.ctx(), store.RunnerFilter{ProjectID: p.ID, Limit: maxRunnersShown})
	if err != nil {
		return err
	}
	v := runnersView{Project: p, Heading: "Runners", Live: "/" + p.FullPath() + "/-/events?changes=1"}
	if v.Rows, err = s.runnerRows(pg, runners, p); err != nil {
		return err
	}
	v.ReloadIn = reloadIn(v.Rows, s.now())
	s.render(pg, http.StatusOK, "runners", "Runners · "+p.FullPath(), v)
	return nil
}

// runnerRows builds the rows; with only set, jobs of other projects are
// counted, not shown.
func (s *Server) runnerRows(pg *page, runners []*ci.Runner, only *ci.Project) ([]runnerRow, error) {
	ctx := pg.ctx()
	all, err := s.st.ListRunners(ctx, store.RunnerFilter{IncludeAll: true})
	if err != nil {
		return nil, err
	}
	queues, err := s.eng.RunnerQueues(ctx, runners, all)
	if err != nil {
		return nil, err
	}
	running, err := s.st.ListJobs(ctx, store.JobFilter{Kind: store.BuildsOnly, Statuses: []ci.Status{ci.StatusRunning},
		Brief: true, Limit: 5000})
	if err != nil {
		return nil, err
	}
	projects := map[int64]*ci.Project{}
	link := func(j *ci.Job) (jobLink, bool, error) {
		if only != nil {
			return jobLink{Job: j, URL: jobURL(only, j.ID)}, j.ProjectID == only.ID, nil
		}
		p, ok := projects[j.ProjectID]
		if !ok {
			var err error
			if p, err = s.st.ProjectByID(ctx, j.ProjectID); err != nil {
				return jobLink{}, false, err
			}
			projects[j.ProjectID] = p
		}
		return jobLink{Job: j, URL: jobURL(p, j.ID)}, true, nil
	}
	now := s.now()
	rows := make([]runnerRow, 0, len(runners))
	for _, r := range runners {
		row := runnerRow{Runner: r}
		row.Status, row.Online = r.Status(now)
		ms, err := s.st.ListRunnerManagers(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if m := ci.LatestManager(ms); m != nil {
			row.Version = m.Version
		}
		for _, j := range running {
			if j.RunnerID != r.ID {
				continue
			}
			l, show, err := link(j)
			if err != nil {
				return nil, err
			}
			if show {
				row.Running = append(row.Running, l)
			} else {
				row.Busy++
			}
		}
		if q := queues[r.ID]; q != nil {
			row.Queue = q.Count
			for _, j := range q.Only {
				l, show, err := link(j)
				if err != nil {
					return nil, err
				}
				if show {
					row.Only = append(row.Only, l)
				}
			}
		}
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, func(a, b runnerRow) int { return int(b.Runner.ID - a.Runner.ID) })
	return rows, nil
}
