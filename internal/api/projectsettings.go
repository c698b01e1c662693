package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// Project settings, archiving and deletion (GitLab's lib/api/projects.rb
// with Projects::UpdateService and Projects::DestroyService, the roles of
// app/policies/project_policy.rb).

// updatableProjectParams are the PUT /projects/:id parameters Gantry
// knows, in the order Grape's at_least_one_of names them.
var updatableProjectParams = []string{"name", "path", "description", "default_branch", "visibility",
	"ci_config_path", "build_timeout", "public_builds", "public_jobs", "auto_cancel_pending_pipelines", "ci_default_git_depth"}

// modelError is render_validation_error!: 400 {"message": {attr: [msg]}}.
func modelError(attr, msg string) error {
	return &ci.Error{Code: ci.EBadRequest, Message: attr + " " + msg, Body: map[string][]string{attr: {msg}}}
}

// updateProject is PUT /projects/:id: maintainers change the settings,
// owners the visibility (change_visibility_level).
func (s *Server) updateProject(q *req) error {
	given := false
	for _, k := range updatableProjectParams {
		given = given || q.p.Has(k)
	}
	if !given {
		return ci.Invalid("%s are missing, at least one parameter must be provided", strings.Join(updatableProjectParams, ", "))
	}
	vis := q.p.Str("visibility")
	if q.p.Has("visibility") && vis != ci.VisibilityPrivate && vis != ci.VisibilityInternal && vis != ci.VisibilityPublic {
		return ci.Invalid("visibility does not have a valid value")
	}
	autoCancel := q.p.Str("auto_cancel_pending_pipelines")
	if q.p.Has("auto_cancel_pending_pipelines") && autoCancel != "enabled" && autoCancel != "disabled" {
		return ci.Invalid("auto_cancel_pending_pipelines does not have a valid value")
	}
	timeout, err := q.p.Int("build_timeout", 0)
	if err != nil {
		return err
	}
	depth, err := q.p.Int("ci_default_git_depth", 0)
	if err != nil {
		return err
	}
	publicJobs, err := q.p.Bool("public_jobs", false)
	if err != nil {
		return err
	}
	if q.p.Has("public_builds") {
		if publicJobs, err = q.p.Bool("public_builds", false); err != nil {
			return err
		}
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.AdminProject); err != nil {
		return err
	}
	if q.p.Has("visibility") && vis != p.Visibility {
		if err := q.can(p, lvl, access.ChangeVisibility); err != nil {
			return err
		}
	}
	next := *p
	if q.p.Has("name") {
		if next.Name = strings.TrimSpace(q.p.Str("name")); next.Name == "" {
			return modelError("name", "can't be blank")
		}
	}
	if q.p.Has("path") {
		next.Path = strings.TrimSpace(q.p.Str("path"))
		if !pathRe.MatchString(next.Path) || strings.HasSuffix(next.Path, ".git") || strings.HasSuffix(next.Path, ".atom") {
			return modelError("path", "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'")
		}
	}
	if q.p.Has("description") {
		next.Description = q.p.Str("description")
	}
	if q.p.Has("visibility") {
		next.Visibility = vis
	}
	if q.p.Has("ci_config_path") {
		next.CIConfigPath = q.p.Str("ci_config_path")
	}
	if q.p.Has("build_timeout") {
		// ProjectCiCdSetting's validation: 10 minutes to 1 month.
		if timeout < 600 || timeout > 30*24*3600 {
			return modelError("build_timeout", "needs to be between 10 minutes and 1 month")
		}
		next.BuildTimeout = int(timeout)
	}
	if q.p.Has("public_builds") || q.p.Has("public_jobs") {
		next.PublicBuilds = publicJobs
	}
	if q.p.Has("auto_cancel_pending_pipelines") {
		next.AutoCancelPendingPipelines = autoCancel == "enabled"
	}
	if q.p.Has("ci_default_git_depth") {
		switch {
		case depth < 0:
			return modelError("ci_default_git_depth", "must be greater than or equal to 0")
		case depth > 1000:
			return modelError("ci_default_git_depth", "must be less than or equal to 1000")
		}
		next.CIDefaultGitDepth = int(depth)
	}
	if b := q.p.Str("default_branch"); q.p.Has("default_branch") && b != p.DefaultBranch {
		// Projects::UpdateService#validate_default_branch_change: the
		// branch must exist; HEAD follows it.
		repo := s.eng.Repo(p.ID)
		ok, err := repo.BranchExists(q.ctx(), b)
		if b == "" || err != nil || !ok {
			return bad("Could not set the default branch")
		}
		if err := repo.SetDefaultBranch(q.ctx(), b); err != nil {
			return err
		}
		next.DefaultBranch = b
	}
	if err := s.store.UpdateProject(q.ctx(), &next); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return modelError("path", "has already been taken")
		}
		return err
	}
	out, err := s.projectEntity(q, &next, lvl, false)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, out)
}

// setArchived is POST /projects/:id/archive and …/unarchive (owners,
// archive_project). An archived project is read-only: pushes are refused
// ("You can't push code to an archived project."), no pipeline is
// created, and jobs and pipelines cannot be changed (access.Allowed).
func (s *Server) setArchived(archived bool) func(q *req) error {
	return func(q *req) error {
		p, lvl, err := s.project(q)
		if err != nil {
			return err
		}
		if err := q.can(p, lvl, access.ArchiveProject); err != nil {
			return err
		}
		if p.Archived != archived {
			p.Archived = archived
			if err := s.store.UpdateProject(q.ctx(), p); err != nil {
				return err
			}
		}
		out, err := s.projectEntity(q, p, lvl, false)
		if err != nil {
			return err
		}
		return q.json(http.StatusCreated, out)
	}
}

// deleteProject is DELETE /projects/:id (owners, remove_project): GitLab
// answers 202 and deletes in a worker; Gantry deletes before answering
// (pipeline.Service.DeleteProject says what goes).
func (s *Server) deleteProject(q *req) error {
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.RemoveProject); err != nil {
		return err
	}
	if err := s.eng.DeleteProject(q.ctx(), p); err != nil {
		return err
	}
	return q.json(http.StatusAccepted, map[string]string{"message": "202 Accepted"})
}
