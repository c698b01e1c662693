package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// Runner management, as lib/api/user_runners.rb and lib/api/ci/runners.rb
// serve it. The runner protocol itself (register, verify, jobs/request) is
// in package runnerapi.

// runnerTokenChars is the random part of a created runner's glrt- token.
const runnerTokenChars = 20

var (
	errRunnerNotFound          = ci.NotFound("Runner")
	errNoRunnerAccess          = ci.Forbidden("No access granted")
	errRunnerScope             = &ci.Error{Code: ci.EBadRequest, Message: "Scope contains invalid value"}
	errInsufficientPermissions = ci.Forbidden("Insufficient permissions")
	versionPrefixRe            = regexp.MustCompile(`^[\d+.]+`)
	runnerUpdateParams         = []string{"description", "active", "paused", "tag_list", "run_untagged", "locked",
		"access_level", "maximum_timeout", "maintenance_note"}
)

// oneOf reports whether v is in set.
func oneOf(v string, set []string) bool { return slices.Contains(set, v) }

// createUserRunner is POST /user/runners: a runner created by a user,
// answering its glrt- token once.
func (s *Server) createUserRunner(q *req) error {
	if !q.p.Has("runner_type") {
		return ci.Invalid("runner_type is missing")
	}
	typ := q.p.Str("runner_type")
	if !oneOf(typ, ci.RunnerTypes) {
		return ci.Invalid("runner_type does not have a valid value")
	}
	var scopeID int64
	switch typ {
	case ci.RunnerGroup, ci.RunnerProject:
		k := "project_id"
		if typ == ci.RunnerGroup {
			k = "group_id"
		}
		if !q.p.Has(k) {
			return ci.Invalid("%s is missing", k)
		}
		n, err := q.p.Int(k, 0)
		if err != nil {
			return err
		}
		scopeID = n
	}
	rs, err := ci.ParseRunnerSettings(q.p, false)
	if err != nil {
		return err
	}
	ctx := q.ctx()
	r := &ci.Runner{RunnerType: typ, RunUntagged: true, AccessLevel: ci.RunnerNotProtected, Tags: []string{},
		CreatedByID: q.caller.User.ID, CreatedAt: s.now()}
	rs.Apply(r)
	// CreateRunnerService: the strategy validates its scope (400), then
	// the user's permission on it (403).
	switch typ {
	case ci.RunnerInstance:
		if !q.caller.Admin() {
			return errInsufficientPermissions
		}
	case ci.RunnerGroup:
		// Gantry has no groups, so every group id is "missing/invalid".
		return ci.BadRequest("Missing/invalid group")
	case ci.RunnerProject:
		p, err := s.store.ProjectByID(ctx, scopeID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ci.BadRequest("Missing/invalid project")
			}
			return fmt.Errorf("runner project: %w", err)
		}
		lvl, err := s.policy.Role(ctx, q.caller, p)
		if err != nil {
			return err
		}
		if q.can(p, lvl, access.AdminRunners) != nil {
			return errInsufficientPermissions
		}
		r.ProjectIDs = []int64{p.ID}
	}
	if errs := r.Validate(); len(errs) > 0 {
		return ci.BadRequest(errs.Sentence())
	}
	token := auth.NewToken(auth.PrefixRunner, runnerTokenChars)
	r.TokenPrefix = token[:len(auth.PrefixRunner)+8]
	if err := s.store.CreateRunner(ctx, r, auth.Digest(token)); err != nil {
		return fmt.Errorf("create runner: %w", err)
	}
	return q.json(http.StatusCreated, RunnerRegistrationDetails{ID: r.ID, Token: token})
}

// runnerIDParam reads :runner_id, which GitLab's routes call id.
func runnerIDParam(q *req) (int64, error) {
	n, err := strconv.ParseInt(q.r.PathValue("runner_id"), 10, 64)
	if err != nil {
		return 0, ci.Invalid("id is invalid")
	}
	return n, nil
}

// findRunner loads a runner: "404 Runner Not Found" when absent.
func (s *Server) findRunner(ctx context.Context, id int64) (*ci.Runner, error) {
	r, err := s.store.RunnerByID(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errRunnerNotFound
		}
		return nil, fmt.Errorf("runner %d: %w", id, err)
	}
	return r, nil
}

// ownsRunner is RunnerPolicy's owned_runner for a non-admin: a project
// runner of a project the caller maintains. Admins own every runner.
func (s *Server) ownsRunner(ctx context.Context, c *Caller, r *ci.Runner) (bool, error) {
	if c.Admin() {
		return true, nil
	}
	if r.RunnerType != ci.RunnerProject || c == nil || c.User == nil {
		return false, nil
	}
	for _, pid := range r.ProjectIDs {
		lvl, err := s.store.MemberAccess(ctx, pid, c.User.ID)
		if err != nil {
			return false, fmt.Errorf("runner project access: %w", err)
		}
		if lvl >= ci.Maintainer {
			return true, nil
		}
	}
	return false, nil
}

// busyRunners is the set of runners with a job executing right now, for
// job_execution_status. Executing jobs are few (bounded by runner
// capacity), so one query serves a whole page.
func (s *Server) busyRunners(ctx context.Context) (map[int64]bool, error) {
	jobs, err := s.store.ListJobs(ctx, store.JobFilter{Kind: store.BuildsOnly,
		Statuses: []ci.Status{ci.StatusRunning, ci.StatusCanceling}})
	if err != nil {
		return nil, fmt.Errorf("executing jobs: %w", err)
	}
	busy := make(map[int64]bool, len(jobs))
	for _, j := range jobs {
		if j.RunnerID != 0 {
			busy[j.RunnerID] = true
		}
	}
	return busy, nil
}

// runnerEntities renders runners with their creators and busy state.
func (s *Server) runnerEntities(ctx context.Context, rs []*ci.Runner) ([]*Runner, error) {
	var creatorIDs []int64
	for _, r := range rs {
		if r.CreatedByID != 0 {
			creatorIDs = append(creatorIDs, r.CreatedByID)
		}
	}
	creators, err := s.store.UsersByIDs(ctx, uniq(creatorIDs))
	if err != nil {
		return nil, fmt.Errorf("runner creators: %w", err)
	}
	busy, err := s.busyRunners(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Runner, 0, len(rs))
	for _, r := range rs {
		out = append(out, s.runner(r, creators[r.CreatedByID], busy[r.ID]))
	}
	return out, nil
}

// readRunnerFilter validates the list filters (filter_params and the
// deprecated scope) in Grape's order into a store filter.
func (s *Server) readRunnerFilter(q *req) (store.RunnerFilter, page, error) {
	f := store.RunnerFilter{Now: s.now()}
	for _, p := range []struct {
		key string
		set []string
	}{{"scope", ci.RunnerScopes}, {"type", ci.RunnerTypes}, {"paused", nil}, {"status", ci.RunnerStatuses}} {
		if !q.p.Has(p.key) {
			continue
		}
		if p.set == nil {
			paused, err := q.p.Bool(p.key, false)
			if err != nil {
				return f, page{}, err
			}
			f.Paused = &paused
			continue
		}
		v := q.p.Str(p.key)
		if !oneOf(v, p.set) {
			return f, page{}, ci.Invalid("%s does not have a valid value", p.key)
		}
		f.Scopes = append(f.Scopes, v)
	}
	if q.p.Has("tag_list") {
		f.TagList = ci.TagList(q.p.List("tag_list"))
	}
	if q.p.Has("version_prefix") {
		f.VersionPrefix = q.p.Str("version_prefix")
		if !versionPrefixRe.MatchString(f.VersionPrefix) {
			return f, page{}, ci.Invalid("version_prefix is invalid")
		}
	}
	pg, err := q.page()
	if err != nil {
		return f, page{}, err
	}
	f.Limit, f.Offset = pg.PerPage, pg.offset()
	return f, pg, nil
}

// writeRunnerPage lists one page of runners with a total, as GitLab
// counts runners, and renders it.
func (s *Server) writeRunnerPage(q *req, f store.RunnerFilter, pg page) error {
	total, err := s.store.CountRunners(q.ctx(), f)
	if err != nil {
		return fmt.Errorf("count runners: %w", err)
	}
	rs, err := s.store.ListRunners(q.ctx(), f)
	if err != nil {
		return fmt.Errorf("list runners: %w", err)
	}
	s.offsetHeaders(q, pg, f.Offset+len(rs) < total, total)
	out, err := s.runnerEntities(q.ctx(), rs)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, out)
}

// listRunners is GET /runners (the caller's own runners) and, with all,
// GET /runners/all (every runner; administrators only).
func (s *Server) listRunners(all bool) func(*req) error {
	return func(q *req) error {
		f, pg, err := s.readRunnerFilter(q)
		if err != nil {
			return err
		}
		f.IncludeAll = all
		if all {
			if !q.caller.Admin() {
				return ci.ErrForbidden
			}
		} else {
			// Owned runners are never instance runners, so the legacy and
			// type scopes are refused here as GitLab's filter_runners does.
			if scope := q.p.Str("scope"); scope != "" && !oneOf(scope, ci.RunnerStatuses) {
				return errRunnerScope
			}
			f.OwnedBy = q.caller.User.ID
		}
		return s.writeRunnerPage(q, f, pg)
	}
}

// projectRunners is GET /projects/:id/runners: the project's own runners
// and the instance runners. read_project_runners (maintainer) is checked in
// a before filter, so it comes ahead of parameter validation.
func (s *Server) projectRunners(q *req) error {
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.AdminRunners); err != nil {
		return err
	}
	f, pg, err := s.readRunnerFilter(q)
	if err != nil {
		return err
	}
	f.ProjectID = p.ID
	return s.writeRunnerPage(q, f, pg)
}

// runnerDetails renders RunnerDetails for the caller.
func (s *Server) runnerDetails(q *req, r *ci.Runner) (*RunnerDetails, error) {
	ctx := q.ctx()
	base, err := s.runnerEntities(ctx, []*ci.Runner{r})
	if err != nil {
		return nil, err
	}
	d := &RunnerDetails{Runner: *base[0], TagList: r.Tags, RunUntagged: r.RunUntagged, Locked: r.Locked,
		AccessLevel: r.AccessLevel, ContactedAt: tp(r.ContactedAt), Projects: []RunnerProject{}, Groups: []any{}}
	if d.TagList == nil {
		d.TagList = []string{}
	}
	if r.MaximumTimeout > 0 {
		mt := r.MaximumTimeout
		d.MaximumTimeout = &mt
	}
	ms, err := s.store.ListRunnerManagers(ctx, r.ID)
	if err != nil {
		return nil, fmt.Errorf("runner managers: %w", err)
	}
	// latest_runner_manager: order_contacted_at_desc (nulls last).
	var latest *ci.RunnerManager
	for _, m := range ms {
		if latest == nil || (m.ContactedAt != nil && (latest.ContactedAt == nil || m.ContactedAt.After(*latest.ContactedAt))) {
			latest = m
		}
	}
	if latest != nil {
		d.Version, d.Revision, d.Platform, d.Architecture = &latest.Version, &latest.Revision, &latest.Platform, &latest.Architecture
	}
	owns, err := s.ownsRunner(ctx, q.caller, r)
	if err != nil {
		return nil, err
	}
	// maintenance_note is shown only to those who may update the runner.
	if owns {
		note := r.MaintenanceNote
		d.MaintenanceNote = &note
	}
	for _, pid := range r.ProjectIDs {
		p, err := s.store.ProjectByID(ctx, pid)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, fmt.Errorf("runner project %d: %w", pid, err)
		}
		// Non-admins see only the projects they are members of.
		if !q.caller.Admin() {
			lvl, err := s.store.MemberAccess(ctx, p.ID, q.caller.User.ID)
			if err != nil {
				return nil, fmt.Errorf("runner project access: %w", err)
			}
			if lvl == ci.NoAccess {
				continue
			}
		}
		id, err := s.projectIdentity(q, p)
		if err != nil {
			return nil, err
		}
		d.Projects = append(d.Projects, id.RunnerProject)
	}
	return d, nil
}

// projectIdentity renders ProjectIdentity, naming the namespace as the
// Project entity does.
func (s *Server) projectIdentity(q *req, p *ci.Project) (ProjectIdentity, error) {
	e, err := s.projectEntity(q, p, ci.NoAccess, false)
	if err != nil {
		return ProjectIdentity{}, err
	}
	return ProjectIdentity{RunnerProject: RunnerProject{ID: p.ID, Description: p.Description, Name: p.Name,
		NameWithNamespace: e.NameWithNamespace, Path: p.Path, PathWithNamespace: p.FullPath()},
		CreatedAt: Time{p.CreatedAt}}, nil
}

// getRunner is GET /runners/:runner_id. Instance runners are visible to
// every signed-in user, as authenticate_show_runner! allows.
func (s *Server) getRunner(q *req) error {
	id, err := runnerIDParam(q)
	if err != nil {
		return err
	}
	r, err := s.findRunner(q.ctx(), id)
	if err != nil {
		return err
	}
	if r.RunnerType != ci.RunnerInstance {
		if err := s.requireOwner(q.ctx(), q.caller, r); err != nil {
			return err
		}
	}
	d, err := s.runnerDetails(q, r)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, d)
}

// updateRunner is PUT /runners/:runner_id.
func (s *Server) updateRunner(q *req) error {
	id, err := runnerIDParam(q)
	if err != nil {
		return err
	}
	rs, err := ci.ParseRunnerSettings(q.p, true)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(runnerUpdateParams, q.p.Has) {
		return ci.Invalid("%s are missing, at least one parameter must be provided", strings.Join(runnerUpdateParams, ", "))
	}
	if q.p.Has("active") && q.p.Has("paused") {
		return ci.Invalid("active, paused are mutually exclusive")
	}
	ctx := q.ctx()
	r, err := s.managedRunner(ctx, q.caller, id)
	if err != nil {
		return err
	}
	rs.Apply(r)
	if errs := r.Validate(); len(errs) > 0 {
		// render_validation_error!: {"message": {attr: [messages]}}.
		return &ci.Error{Code: ci.EBadRequest, Message: "400 Bad request", Body: errs.ByAttr()}
	}
	if err := s.store.UpdateRunner(ctx, r); err != nil {
		return fmt.Errorf("update runner %d: %w", r.ID, err)
	}
	d, err := s.runnerDetails(q, r)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, d)
}

// deleteRunner is DELETE /runners/:runner_id.
func (s *Server) deleteRunner(q *req) error {
	id, err := runnerIDParam(q)
	if err != nil {
		return err
	}
	ctx := q.ctx()
	r, err := s.findRunner(ctx, id)
	if err != nil {
		return err
	}
	if !q.caller.Admin() {
		// A non-admin deleting a runner shared with other projects would
		// take it away from their maintainers too.
		if len(r.ProjectIDs) > 1 {
			return ci.Forbidden("Runner associated with more than one project")
		}
		if err := s.requireOwner(ctx, q.caller, r); err != nil {
			return err
		}
	}
	if err := s.store.DeleteRunner(ctx, r.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errRunnerNotFound
		}
		return fmt.Errorf("delete runner %d: %w", r.ID, err)
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// managedRunner loads a runner the caller may manage.
func (s *Server) managedRunner(ctx context.Context, c *Caller, id int64) (*ci.Runner, error) {
	r, err := s.findRunner(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.requireOwner(ctx, c, r); err != nil {
		return nil, err
	}
	return r, nil
}

// requireOwner answers GitLab's "No access granted" unless the caller may
// manage the runner.
func (s *Server) requireOwner(ctx context.Context, c *Caller, r *ci.Runner) error {
	owns, err := s.ownsRunner(ctx, c, r)
	if err != nil {
		return err
	}
	if !owns {
		return errNoRunnerAccess
	}
	return nil
}
