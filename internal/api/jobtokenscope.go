package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// ProjectBasicDetails is GitLab's Entities::BasicProjectDetails (the
// leading keys of the Project entity).
type ProjectBasicDetails struct {
	ID                int64     `json:"id"`
	Description       string    `json:"description"`
	Name              string    `json:"name"`
	NameWithNamespace string    `json:"name_with_namespace"`
	Path              string    `json:"path"`
	PathWithNamespace string    `json:"path_with_namespace"`
	CreatedAt         Time      `json:"created_at"`
	DefaultBranch     *string   `json:"default_branch"`
	TagList           []string  `json:"tag_list"`
	Topics            []string  `json:"topics"`
	SSHURLToRepo      *string   `json:"ssh_url_to_repo"`
	HTTPURLToRepo     string    `json:"http_url_to_repo"`
	WebURL            string    `json:"web_url"`
	ReadmeURL         *string   `json:"readme_url"`
	ForksCount        int       `json:"forks_count"`
	AvatarURL         *string   `json:"avatar_url"`
	StarCount         int       `json:"star_count"`
	LastActivityAt    Time      `json:"last_activity_at"`
	Namespace         Namespace `json:"namespace"`
}

// jobTokenScopeProject resolves :id for the job token scope routes, which
// all need admin_project (authorize_admin_project in
// lib/api/project_job_token_scope.rb).
func (s *Server) jobTokenScopeProject(q *req) (*ci.Project, error) {
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, err
	}
	return p, q.can(p, lvl, access.AdminProject)
}

// getJobTokenScope is GET /projects/:id/job_token_scope
// (Entities::ProjectJobTokenScope).
func (s *Server) getJobTokenScope(q *req) error {
	p, err := s.jobTokenScopeProject(q)
	if err != nil {
		return err
	}
	on, err := s.store.JobTokenScope(q.ctx(), p.ID)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, map[string]bool{"inbound_enabled": on, "outbound_enabled": p.JobTokenScopeEnabled})
}

// patchJobTokenScope is PATCH /projects/:id/job_token_scope: enabled sets
// the inbound allowlist on or off; 204.
func (s *Server) patchJobTokenScope(q *req) error {
	if !q.p.Has("enabled") {
		return ci.Invalid("enabled is missing")
	}
	on, err := q.p.Bool("enabled", false)
	if err != nil {
		return err
	}
	p, err := s.jobTokenScopeProject(q)
	if err != nil {
		return err
	}
	if err := s.store.SetJobTokenScope(q.ctx(), p.ID, on); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listJobTokenAllowlist is GET /projects/:id/job_token_scope/allowlist.
func (s *Server) listJobTokenAllowlist(q *req) error {
	pg, err := q.page()
	if err != nil {
		return err
	}
	p, err := s.jobTokenScopeProject(q)
	if err != nil {
		return err
	}
	ids, err := s.store.JobTokenAllowlist(q.ctx(), p.ID, pg.PerPage, pg.offset())
	if err != nil {
		return err
	}
	total, err := s.store.CountJobTokenAllowlist(q.ctx(), p.ID)
	if err != nil {
		return err
	}
	s.offsetHeaders(q, pg, pg.offset()+len(ids) < total, total)
	out := make([]ProjectBasicDetails, 0, len(ids))
	for _, id := range ids {
		tp, err := s.store.ProjectByID(q.ctx(), id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return err
		}
		e, err := s.projectEntity(q, tp, 0, false)
		if err != nil {
			return err
		}
		out = append(out, ProjectBasicDetails{ID: e.ID, Description: e.Description, Name: e.Name,
			NameWithNamespace: e.NameWithNamespace, Path: e.Path, PathWithNamespace: e.PathWithNamespace,
			CreatedAt: e.CreatedAt, DefaultBranch: e.DefaultBranch, TagList: e.TagList, Topics: e.Topics,
			HTTPURLToRepo: e.HTTPURLToRepo, WebURL: e.WebURL, LastActivityAt: e.LastActivityAt, Namespace: e.Namespace})
	}
	return q.json(http.StatusOK, out)
}

// addJobTokenAllowlist is POST /projects/:id/job_token_scope/allowlist:
// Ci::JobTokenScope::AddProjectService with direction inbound, answered
// with Entities::ProjectScopeLink (201).
func (s *Server) addJobTokenAllowlist(q *req) error {
	if !q.p.Has("target_project_id") {
		return ci.Invalid("target_project_id is missing")
	}
	tid, err := q.p.Int("target_project_id", 0)
	if err != nil {
		return err
	}
	p, err := s.jobTokenScopeProject(q)
	if err != nil {
		return err
	}
	target, err := s.store.ProjectByID(q.ctx(), tid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &ci.Error{Code: ci.ENotFound, Message: "404 target_project_id not found"}
		}
		return err
	}
	// The service refuses a target project the user cannot read.
	if s.policy.Can(q.ctx(), q.caller, target, access.ReadProject) != nil {
		return ci.BadRequest("Target project does not exist or you don't have permissions to perform this action")
	}
	if err := s.store.AddJobTokenAllowlist(q.ctx(), p.ID, target.ID); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ci.BadRequest("This project is already in the job token scope")
		}
		return err
	}
	return q.json(http.StatusCreated, map[string]int64{"source_project_id": p.ID, "target_project_id": target.ID})
}

// removeJobTokenAllowlist is DELETE
// /projects/:id/job_token_scope/allowlist/:target_project_id (204).
func (s *Server) removeJobTokenAllowlist(q *req) error {
	tid, err := strconv.ParseInt(q.r.PathValue("target_project_id"), 10, 64)
	if err != nil {
		return ci.Invalid("target_project_id is invalid")
	}
	p, err := s.jobTokenScopeProject(q)
	if err != nil {
		return err
	}
	if err := s.store.RemoveJobTokenAllowlist(q.ctx(), p.ID, tid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ci.BadRequest("Target project is not in the job token scope")
		}
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
