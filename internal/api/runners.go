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
	"time"

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

// runnerStaleAfter is Ci::Runner::STALE_TIMEOUT.
const runnerStaleAfter = 7 * 24 * time.Hour

// runnerMinTimeout is the model's floor on maximum_timeout (10 minutes).
const runnerMinTimeout = 600

// runnerNoteMax is the model's limit on maintenance_note.
const runnerNoteMax = 1024

// Value sets of Ci::Runner, as Grape's values: validators list them.
var (
	runnerTypes        = []string{ci.RunnerInstance, ci.RunnerGroup, ci.RunnerProject}
	runnerAccessLevels = []string{"not_protected", "ref_protected"}
	// runnerStatuses is AVAILABLE_STATUSES_INCL_DEPRECATED.
	runnerStatuses = []string{"active", "paused", "online", "offline", "never_contacted", "stale"}
	// runnerScopes is AVAILABLE_SCOPES: legacy types, types and statuses.
	runnerScopes = slices.Concat([]string{"specific", "shared"}, runnerTypes, runnerStatuses)
)

var (
	errRunnerNotFound          = ci.NotFound("Runner")
	errNoRunnerAccess          = ci.Forbidden("No access granted")
	errRunnerScope             = &ci.Error{Code: ci.EBadRequest, Message: "Scope contains invalid value"}
	errInsufficientPermissions = ci.Forbidden("Insufficient permissions")
	versionPrefixRe            = regexp.MustCompile(`^[\d+.]+`)
	runnerUpdateParams         = []string{"description", "active", "paused", "tag_list", "run_untagged", "locked",
		"access_level", "maximum_timeout", "maintenance_note"}
)

// RunnerRegistrationDetails is API::Entities::Ci::RunnerRegistrationDetails.
// TokenExpiresAt is always null: Gantry's runner tokens do not expire.
type RunnerRegistrationDetails struct {
	ID             int64   `json:"id"`
	Token          string  `json:"token"`
	TokenExpiresAt *string `json:"token_expires_at"`
}

// RunnerProject is how RunnerDetails lists a runner's projects.
type RunnerProject struct {
	ID                int64  `json:"id"`
	Description       string `json:"description"`
	Name              string `json:"name"`
	NameWithNamespace string `json:"name_with_namespace"`
	Path              string `json:"path"`
	PathWithNamespace string `json:"path_with_namespace"`
}

// RunnerDetails is API::Entities::Ci::RunnerDetails. The manager-derived
// keys (version … architecture) are the most recently contacted manager's,
// null when the runner never connected.
type RunnerDetails struct {
	Runner
	TagList         []string        `json:"tag_list"`
	RunUntagged     bool            `json:"run_untagged"`
	Locked          bool            `json:"locked"`
	MaximumTimeout  *int            `json:"maximum_timeout"`
	AccessLevel     string          `json:"access_level"`
	Version         *string         `json:"version"`
	Revision        *string         `json:"revision"`
	Platform        *string         `json:"platform"`
	Architecture    *string         `json:"architecture"`
	ContactedAt     *Time           `json:"contacted_at"`
	MaintenanceNote *string         `json:"maintenance_note"`
	Projects        []RunnerProject `json:"projects"`
	Groups          []any           `json:"groups"`
}

// ProjectIdentity is API::Entities::ProjectIdentity.
type ProjectIdentity struct {
	ID                int64  `json:"id"`
	Description       string `json:"description"`
	Name              string `json:"name"`
	NameWithNamespace string `json:"name_with_namespace"`
	Path              string `json:"path"`
	PathWithNamespace string `json:"path_with_namespace"`
	CreatedAt         Time   `json:"created_at"`
}

// JobBasicWithProject is API::Entities::Ci::JobBasicWithProject, what GET
// /runners/:id/jobs lists. Its project key shadows JobBasic's, as the Grape
// entity re-exposes it.
type JobBasicWithProject struct {
	JobBasic
	Project ProjectIdentity `json:"project"`
}

// oneOf reports whether v is in set.
func oneOf(v string, set []string) bool { return slices.Contains(set, v) }

// tagListParam reads tag_list as Grape's CommaSeparatedToArray coerces it:
// an array or a comma-separated string, each element split on commas,
// stripped; blanks and duplicates are dropped as acts_as_taggable does.
func tagListParam(q *req) []string {
	tags := []string{}
	for _, v := range q.p.List("tag_list") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	// Sorted like legacy registration stores them (runnerapi), so both
	// paths show tag_list alike.
	slices.Sort(tags)
	return tags
}

// optBool reads an optional Boolean parameter, nil when absent.
func optBool(q *req, k string) (*bool, error) {
	if !q.p.Has(k) {
		return nil, nil
	}
	v, err := q.p.Bool(k, false)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// runnerSettings are the optional settings POST /user/runners and PUT
// /runners/:id share, validated in Grape's declaration order.
type runnerSettings struct {
	description, maintenanceNote, accessLevel *string
	paused, locked, runUntagged               *bool
	tags                                      []string // nil when absent
	maximumTimeout                            *int64   // 0 clears it (PUT)
}

// readRunnerSettings validates the shared settings. active is PUT's
// deprecated inverse of paused.
func readRunnerSettings(q *req, withActive bool) (*runnerSettings, error) {
	rs := &runnerSettings{}
	str := func(k string) *string {
		if !q.p.Has(k) {
			return nil
		}
		v := q.p.Str(k)
		return &v
	}
	rs.description = str("description")
	var err error
	if withActive {
		active, err := optBool(q, "active")
		if err != nil {
			return nil, err
		}
		if active != nil {
			paused := !*active
			rs.paused = &paused
		}
	}
	if q.p.Has("paused") {
		if rs.paused, err = optBool(q, "paused"); err != nil {
			return nil, err
		}
	}
	if q.p.Has("tag_list") {
		rs.tags = tagListParam(q)
	}
	if rs.runUntagged, err = optBool(q, "run_untagged"); err != nil {
		return nil, err
	}
	if rs.locked, err = optBool(q, "locked"); err != nil {
		return nil, err
	}
	if rs.accessLevel = str("access_level"); rs.accessLevel != nil && !oneOf(*rs.accessLevel, runnerAccessLevels) {
		return nil, ci.Invalid("access_level does not have a valid value")
	}
	if q.p.Has("maximum_timeout") {
		// Grape coerces a blank Integer to nil, which clears the limit.
		if strings.TrimSpace(q.p.Str("maximum_timeout")) == "" {
			zero := int64(0)
			rs.maximumTimeout = &zero
		} else {
			n, err := q.p.Int("maximum_timeout", 0)
			if err != nil {
				return nil, err
			}
			rs.maximumTimeout = &n
		}
	}
	rs.maintenanceNote = str("maintenance_note")
	return rs, nil
}

// apply writes the settings onto r.
func (rs *runnerSettings) apply(r *ci.Runner) {
	if rs.description != nil {
		r.Description = *rs.description
	}
	if rs.paused != nil {
		r.Paused = *rs.paused
	}
	if rs.tags != nil {
		r.Tags = rs.tags
	}
	if rs.runUntagged != nil {
		r.RunUntagged = *rs.runUntagged
	}
	if rs.locked != nil {
		r.Locked = *rs.locked
	}
	if rs.accessLevel != nil {
		r.AccessLevel = *rs.accessLevel
	}
	if rs.maximumTimeout != nil {
		r.MaximumTimeout = int(*rs.maximumTimeout)
	}
	if rs.maintenanceNote != nil {
		r.MaintenanceNote = *rs.maintenanceNote
	}
}

// runnerValidationError is one failed Ci::Runner model validation.
type runnerValidationError struct{ attr, full, msg string }

// validateRunner runs Ci::Runner's validations that Gantry's settings can
// break.
func validateRunner(r *ci.Runner) []runnerValidationError {
	var errs []runnerValidationError
	if r.MaximumTimeout != 0 && r.MaximumTimeout < runnerMinTimeout {
		errs = append(errs, runnerValidationError{"maximum_timeout", "Maximum timeout", "needs to be at least 10 minutes"})
	}
	if len(r.Tags) == 0 && !r.RunUntagged {
		errs = append(errs, runnerValidationError{"tags_list", "Tags list",
			"can not be empty when runner is not allowed to pick untagged jobs"})
	}
	if len([]rune(r.MaintenanceNote)) > runnerNoteMax {
		errs = append(errs, runnerValidationError{"maintenance_note", "Maintenance note",
			fmt.Sprintf("is too long (maximum is %d characters)", runnerNoteMax)})
	}
	return errs
}

// toSentence is Rails' Array#to_sentence.
func toSentence(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	case 2:
		return xs[0] + " and " + xs[1]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + ", and " + xs[len(xs)-1]
}

// createUserRunner is POST /user/runners: a runner created by a user,
// answering its glrt- token once.
func (s *Server) createUserRunner(q *req) error {
	if !q.p.Has("runner_type") {
		return ci.Invalid("runner_type is missing")
	}
	typ := q.p.Str("runner_type")
	if !oneOf(typ, runnerTypes) {
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
	rs, err := readRunnerSettings(q, false)
	if err != nil {
		return err
	}
	ctx := q.ctx()
	r := &ci.Runner{RunnerType: typ, RunUntagged: true, AccessLevel: "not_protected", Tags: []string{},
		CreatedByID: q.caller.User.ID, CreatedAt: s.now()}
	rs.apply(r)
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
	if errs := validateRunner(r); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.full + " " + e.msg
		}
		return ci.BadRequest(toSentence(msgs))
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
		lvl, err := s.policy.RoleByID(ctx, c, pid)
		if err != nil {
			return false, fmt.Errorf("runner project access: %w", err)
		}
		if access.HasRole(lvl, access.AdminRunners) {
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

// runnerFilter holds the list endpoints' filters (filter_params and the
// deprecated scope).
type runnerFilter struct {
	scope, typ, status, versionPrefix string
	paused                            *bool
	tags                              []string
	pg                                page
}

// readRunnerFilter validates the list filters in Grape's order.
func readRunnerFilter(q *req) (*runnerFilter, error) {
	f := &runnerFilter{scope: q.p.Str("scope"), typ: q.p.Str("type"), status: q.p.Str("status")}
	if q.p.Has("scope") && !oneOf(f.scope, runnerScopes) {
		return nil, ci.Invalid("scope does not have a valid value")
	}
	if q.p.Has("type") && !oneOf(f.typ, runnerTypes) {
		return nil, ci.Invalid("type does not have a valid value")
	}
	var err error
	if f.paused, err = optBool(q, "paused"); err != nil {
		return nil, err
	}
	if q.p.Has("status") && !oneOf(f.status, runnerStatuses) {
		return nil, ci.Invalid("status does not have a valid value")
	}
	if q.p.Has("tag_list") {
		f.tags = tagListParam(q)
	}
	if q.p.Has("version_prefix") {
		f.versionPrefix = q.p.Str("version_prefix")
		if !versionPrefixRe.MatchString(f.versionPrefix) {
			return nil, ci.Invalid("version_prefix is invalid")
		}
	}
	if f.pg, err = q.page(); err != nil {
		return nil, err
	}
	return f, nil
}

// runnerHasScope applies one Ci::Runner scope (a type, a legacy type or a
// status; statuses ignore paused as GitLab's scopes do).
func runnerHasScope(r *ci.Runner, scope string, now time.Time) bool {
	contacted := r.ContactedAt
	switch scope {
	case "", "all":
		return true
	case "shared":
		return r.RunnerType == ci.RunnerInstance
	case "specific":
		return r.RunnerType != ci.RunnerInstance
	case ci.RunnerInstance, ci.RunnerGroup, ci.RunnerProject:
		return r.RunnerType == scope
	case "active":
		return !r.Paused
	case "paused":
		return r.Paused
	case "online":
		return contacted != nil && now.Sub(*contacted) < runnerOnline
	case "offline":
		return contacted != nil && now.Sub(*contacted) >= runnerOnline
	case "never_contacted":
		return contacted == nil
	case "stale":
		return now.Sub(r.CreatedAt) > runnerStaleAfter && (contacted == nil || now.Sub(*contacted) > runnerStaleAfter)
	}
	return false
}

// filterRunners applies every list filter in memory: the store knows
// neither statuses nor manager versions, and cannot count.
func (s *Server) filterRunners(ctx context.Context, rs []*ci.Runner, f *runnerFilter) ([]*ci.Runner, error) {
	now := s.now()
	out := rs[:0:0]
	for _, r := range rs {
		if !runnerHasScope(r, f.scope, now) || !runnerHasScope(r, f.typ, now) || !runnerHasScope(r, f.status, now) {
			continue
		}
		if f.paused != nil && r.Paused != *f.paused {
			continue
		}
		if !hasAllTags(r.Tags, f.tags) {
			continue
		}
		if f.versionPrefix != "" {
			ms, err := s.store.ListRunnerManagers(ctx, r.ID)
			if err != nil {
				return nil, fmt.Errorf("runner managers: %w", err)
			}
			if !slices.ContainsFunc(ms, func(m *ci.RunnerManager) bool { return strings.HasPrefix(m.Version, f.versionPrefix) }) {
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// hasAllTags is tagged_with(list): every wanted tag is on the runner.
func hasAllTags(have, want []string) bool {
	for _, t := range want {
		if !slices.Contains(have, t) {
			return false
		}
	}
	return true
}

// writeRunnerPage filters, paginates (with a total, as GitLab counts
// runners) and renders a runner list.
func (s *Server) writeRunnerPage(q *req, rs []*ci.Runner, f *runnerFilter) error {
	rs, err := s.filterRunners(q.ctx(), rs, f)
	if err != nil {
		return err
	}
	total := len(rs)
	lo := min(f.pg.offset(), total)
	hi := min(lo+f.pg.PerPage, total)
	s.offsetHeaders(q, f.pg, hi < total, total)
	out, err := s.runnerEntities(q.ctx(), rs[lo:hi])
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, out)
}

// listRunners is GET /runners (the caller's own runners) and, with all,
// GET /runners/all (every runner; administrators only).
func (s *Server) listRunners(all bool) func(*req) error {
	return func(q *req) error {
		f, err := readRunnerFilter(q)
		if err != nil {
			return err
		}
		sf := store.RunnerFilter{IncludeAll: all}
		if all {
			if !q.caller.Admin() {
				return ci.ErrForbidden
			}
		} else {
			// Owned runners are never instance runners, so the legacy and
			// type scopes are refused here as GitLab's filter_runners does.
			if f.scope != "" && !oneOf(f.scope, runnerStatuses) {
				return errRunnerScope
			}
			sf.OwnedBy = q.caller.User.ID
		}
		rs, err := s.store.ListRunners(q.ctx(), sf)
		if err != nil {
			return fmt.Errorf("list runners: %w", err)
		}
		return s.writeRunnerPage(q, rs, f)
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
	f, err := readRunnerFilter(q)
	if err != nil {
		return err
	}
	rs, err := s.store.ListRunners(q.ctx(), store.RunnerFilter{ProjectID: p.ID})
	if err != nil {
		return fmt.Errorf("project runners: %w", err)
	}
	return s.writeRunnerPage(q, rs, f)
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
			lvl, err := s.policy.Role(ctx, q.caller, p)
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
		d.Projects = append(d.Projects, RunnerProject{ID: id.ID, Description: id.Description, Name: id.Name,
			NameWithNamespace: id.NameWithNamespace, Path: id.Path, PathWithNamespace: id.PathWithNamespace})
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
	return ProjectIdentity{ID: p.ID, Description: p.Description, Name: p.Name, NameWithNamespace: e.NameWithNamespace,
		Path: p.Path, PathWithNamespace: p.FullPath(), CreatedAt: Time{p.CreatedAt}}, nil
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
	rs, err := readRunnerSettings(q, true)
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
	r, err := s.findRunner(ctx, id)
	if err != nil {
		return err
	}
	if err := s.requireOwner(ctx, q.caller, r); err != nil {
		return err
	}
	rs.apply(r)
	if errs := validateRunner(r); len(errs) > 0 {
		// render_validation_error!: {"message": {attr: [messages]}}.
		body := map[string][]string{}
		for _, e := range errs {
			body[e.attr] = append(body[e.attr], e.msg)
		}
		return &ci.Error{Code: ci.EBadRequest, Message: "400 Bad request", Body: body}
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

// runnerJobScanChunk is how many jobs one store round trip reads while
// looking for a runner's jobs.

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
	r, err := s.findRunner(ctx, id)
	if err != nil {
		return err
	}
	if err := s.requireOwner(ctx, q.caller, r); err != nil {
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
	lo := min(pg.offset(), total)
	hi := min(lo+pg.PerPage, total)
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
