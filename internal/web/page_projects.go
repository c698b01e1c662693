package web

import (
	"errors"
	"github.com/gantryci/gantry/internal/access"
	"net/http"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// projectRow is one line of the projects list.
type projectRow struct {
	Project *ci.Project
	Last    *ci.Pipeline
}

type projectsView struct {
	Heading  string
	Projects []projectRow
	Empty    string
	// Live is the stream of the list's region, "" for none.
	Live string
}

// projectsPage is GET /: the projects the viewer may see, each with its
// last pipeline (when the viewer may read pipelines).
func (s *Server) projectsPage(pg *page) error {
	build := func() (projectsView, error) {
		rows, err := s.visibleProjects(pg, "")
		v := projectsView{Heading: "Projects", Projects: rows, Empty: "No projects to show."}
		if pg.user == nil {
			v.Empty = "No public projects. Sign in to see yours."
		}
		return v, err
	}
	if isLive(pg) {
		return s.liveRegion(pg, "projects", func() (any, func(Change) bool, error) {
			v, err := build()
			return v, v.follows(), err
		})
	}
	v, err := build()
	if err != nil {
		return err
	}
	v.Live = liveURL(pg)
	s.render(pg, http.StatusOK, "projects", "Projects", v)
	return nil
}

// follows matches the changes to the listed projects' pipelines.
func (v projectsView) follows() func(Change) bool {
	ids := map[int64]bool{}
	for _, r := range v.Projects {
		ids[r.Project.ID] = true
	}
	return func(c Change) bool { return ids[c.ProjectID] }
}

// userPage is GET /:username (a user's and namespace's web_url): the
// user's projects visible to the viewer.
func (s *Server) userPage(pg *page) error {
	ns := pg.r.PathValue("namespace")
	u, err := s.st.UserByUsername(pg.ctx(), ns)
	if errors.Is(err, store.ErrNotFound) {
		return ci.ErrNotFoundGeneric
	}
	if err != nil {
		return err
	}
	build := func() (projectsView, error) {
		rows, err := s.visibleProjects(pg, u.Username)
		return projectsView{Heading: u.Name + " (@" + u.Username + ")", Projects: rows, Empty: "No projects to show."}, err
	}
	if isLive(pg) {
		return s.liveRegion(pg, "projects", func() (any, func(Change) bool, error) {
			v, err := build()
			return v, v.follows(), err
		})
	}
	v, err := build()
	if err != nil {
		return err
	}
	v.Live = liveURL(pg)
	s.render(pg, http.StatusOK, "projects", u.Name, v)
	return nil
}

// visibleProjects lists up to 100 projects (of namespace ns when set) the
// policy lets the viewer read, with their last pipeline.
func (s *Server) visibleProjects(pg *page, ns string) ([]projectRow, error) {
	f := store.ProjectFilter{Anonymous: pg.user == nil, Limit: 500}
	if pg.user != nil {
		f.VisibleTo = pg.user.ID
		f.All = pg.user.Admin
	}
	ps, err := s.st.ListProjects(pg.ctx(), f)
	if err != nil {
		return nil, err
	}
	var rows []projectRow
	for _, p := range ps {
		if ns != "" && !strings.EqualFold(p.Namespace, ns) {
			continue
		}
		if ok, err := s.can(pg, p, access.ReadProject); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		row := projectRow{Project: p}
		if ok, err := s.can(pg, p, access.ReadPipeline); err != nil {
			return nil, err
		} else if ok {
			last, err := s.st.ListPipelines(pg.ctx(), store.PipelineFilter{ProjectID: p.ID, Limit: 1, ExcludeChildren: true})
			if err != nil {
				return nil, err
			}
			if len(last) > 0 {
				row.Last = last[0]
			}
		}
		rows = append(rows, row)
		if len(rows) == 100 {
			break
		}
	}
	return rows, nil
}
