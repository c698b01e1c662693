package api

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/store"
)

// Namespace is the namespace of a project (a user namespace for now).
type Namespace struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"`
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

// Project is the Project entity (the keys clients read, in GitLab's order):
// BasicProjectDetails' keys, then the rest.
type Project struct {
	ProjectBasicDetails
	EmptyRepo         bool       `json:"empty_repo"`
	Archived          bool       `json:"archived"`
	Visibility        string     `json:"visibility"`
	Owner             *UserBasic `json:"owner,omitempty"`
	JobsEnabled       bool       `json:"jobs_enabled"`
	BuildsAccessLevel string     `json:"builds_access_level"`
	CreatorID         int64      `json:"creator_id"`
	CIDefaultGitDepth int        `json:"ci_default_git_depth"`
	PublicJobs        bool       `json:"public_jobs"`
	BuildTimeout      int        `json:"build_timeout"`
	AutoCancelPending string     `json:"auto_cancel_pending_pipelines"`
	CIConfigPath      *string    `json:"ci_config_path"`
	CIJobTokenScope   bool       `json:"ci_job_token_scope_enabled"`
	Permissions       *Perms     `json:"permissions,omitempty"`
}

// Perms is the permissions key of a single project.
type Perms struct {
	ProjectAccess *struct {
		AccessLevel       int `json:"access_level"`
		NotificationLevel int `json:"notification_level"`
	} `json:"project_access"`
	GroupAccess any `json:"group_access"`
}

func (s *Server) projectEntity(q *req, p *ci.Project, lvl ci.AccessLevel, withPerms bool) (*Project, error) {
	owner, err := s.store.UserByUsername(q.ctx(), p.Namespace)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	out := &Project{
		ProjectBasicDetails: ProjectBasicDetails{
			ProjectIdentity: ProjectIdentity{RunnerProject: RunnerProject{ID: p.ID, Description: p.Description, Name: p.Name,
				Path: p.Path, PathWithNamespace: p.FullPath()}, CreatedAt: Time{p.CreatedAt}},
			TagList: []string{}, Topics: []string{}, HTTPURLToRepo: s.url(p.FullPath() + ".git"), WebURL: s.url(p.FullPath()),
			LastActivityAt: Time{p.UpdatedAt},
			Namespace:      Namespace{Path: p.Namespace, Name: p.Namespace, Kind: "user", FullPath: p.Namespace, WebURL: s.url(p.Namespace)}},
		EmptyRepo: p.DefaultBranch == "", Visibility: p.Visibility, JobsEnabled: true, BuildsAccessLevel: "enabled", CreatorID: p.CreatorID,
		PublicJobs: p.PublicBuilds, BuildTimeout: p.BuildTimeout, CIJobTokenScope: p.JobTokenScopeEnabled,
		Archived: p.Archived, CIDefaultGitDepth: p.CIDefaultGitDepth, AutoCancelPending: enabledString(p.AutoCancelPendingPipelines),
	}
	out.NameWithNamespace = p.Name
	if owner != nil {
		out.NameWithNamespace = owner.Name + " / " + p.Name
		out.Namespace.ID, out.Namespace.Name = owner.ID, owner.Name
		ub := s.userBasic(owner)
		out.Owner = &ub
	}
	if p.DefaultBranch != "" {
		b := p.DefaultBranch
		out.DefaultBranch = &b
	}
	if p.CIConfigPath != "" {
		c := p.CIConfigPath
		out.CIConfigPath = &c
	}
	if withPerms {
		out.Permissions = &Perms{}
		if lvl > ci.NoAccess {
			out.Permissions.ProjectAccess = &struct {
				AccessLevel       int `json:"access_level"`
				NotificationLevel int `json:"notification_level"`
			}{int(lvl), 3}
		}
	}
	return out, nil
}

// enabledString is GitLab's "enabled"/"disabled" spelling of a setting.
func enabledString(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

var pathRe = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.\-]*$`)

// createProject is POST /projects.
func (s *Server) createProject(q *req) error {
	name, path := strings.TrimSpace(q.p.Str("name")), strings.TrimSpace(q.p.Str("path"))
	if name == "" && path == "" {
		return ci.Invalid("name, path are missing, at least one parameter must be provided")
	}
	if path == "" {
		path = strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9_.\-]+`).ReplaceAllString(name, "-"))
	}
	if name == "" {
		name = path
	}
	vis := q.p.Str("visibility")
	if vis == "" {
		vis = ci.VisibilityPrivate
	}
	if vis != ci.VisibilityPrivate && vis != ci.VisibilityInternal && vis != ci.VisibilityPublic {
		return ci.Invalid("visibility does not have a valid value")
	}
	if !pathRe.MatchString(path) || strings.HasSuffix(path, ".git") || strings.HasSuffix(path, ".atom") {
		return &ci.Error{Code: ci.EBadRequest, Message: "path is invalid",
			Body: map[string][]string{"path": {"can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"}}}
	}
	publicBuilds, err := q.p.Bool("public_builds", true)
	if err != nil {
		return err
	}
	u := q.caller.User
	p := &ci.Project{Namespace: u.Username, Path: path, Name: name, Description: q.p.Str("description"),
		Visibility: vis, CreatorID: u.ID, PublicBuilds: publicBuilds, CIConfigPath: q.p.Str("ci_config_path")}
	if err := s.store.CreateProject(q.ctx(), p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &ci.Error{Code: ci.EBadRequest, Message: "has already been taken",
				Body: map[string]any{"name": []string{"has already been taken"}, "path": []string{"has already been taken"}}}
		}
		return err
	}
	// New projects get GitLab's inbound job token allowlist on
	// (ci_inbound_job_token_scope_enabled defaults to true).
	if err := s.store.SetJobTokenScope(q.ctx(), p.ID, true); err != nil {
		return err
	}
	if err := s.store.SetMember(q.ctx(), &ci.Member{ProjectID: p.ID, UserID: u.ID, AccessLevel: ci.Owner}); err != nil {
		return err
	}
	if _, err := gitrepo.Init(q.ctx(), s.eng.RepoDir(p.ID), "main"); err != nil {
		return err
	}
	out, err := s.projectEntity(q, p, ci.Owner, true)
	if err != nil {
		return err
	}
	return q.json(http.StatusCreated, out)
}

func (s *Server) getProject(q *req) error {
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	out, err := s.projectEntity(q, p, lvl, true)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, out)
}

func (s *Server) listProjects(q *req) error {
	pg, err := q.page()
	if err != nil {
		return err
	}
	membership, err := q.p.Bool("membership", false)
	if err != nil {
		return err
	}
	f := store.ProjectFilter{Limit: pg.PerPage + 1, Offset: pg.offset(), Anonymous: q.caller == nil}
	if q.caller != nil {
		f.VisibleTo = q.caller.User.ID
		f.MemberOnly = membership || q.p.Str("owned") == "true"
		f.All = q.caller.Admin() && !f.MemberOnly
	}
	ps, err := s.store.ListProjects(q.ctx(), f)
	if err != nil {
		return err
	}
	hasNext := len(ps) > pg.PerPage
	if hasNext {
		ps = ps[:pg.PerPage]
	}
	s.offsetHeaders(q, pg, hasNext, -1)
	out := make([]*Project, 0, len(ps))
	for _, p := range ps {
		e, err := s.projectEntity(q, p, 0, false)
		if err != nil {
			return err
		}
		out = append(out, e)
	}
	return q.json(http.StatusOK, out)
}

// Member is the project member entity.
type Member struct {
	UserBasic
	AccessLevel int     `json:"access_level"`
	CreatedAt   Time    `json:"created_at"`
	ExpiresAt   *string `json:"expires_at"`
}

// addMember is POST /projects/:id/members (maintainers).
func (s *Server) addMember(q *req) error {
	lvlParam, err := memberLevelParam(q)
	if err != nil {
		return err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.AdminMembers); err != nil {
		return err
	}
	var u *ci.User
	if q.p.Has("user_id") {
		uid, err := q.p.Int("user_id", 0)
		if err != nil {
			return err
		}
		u, err = s.store.UserByID(q.ctx(), uid)
		if err != nil {
			return ci.NotFound("User")
		}
	} else if name := q.p.Str("username"); name != "" {
		if u, err = s.store.UserByUsername(q.ctx(), name); err != nil {
			return ci.NotFound("User")
		}
	} else {
		return ci.Invalid("user_id, username are missing, exactly one parameter must be provided")
	}
	cur, err := s.store.MemberAccess(q.ctx(), p.ID, u.ID)
	if err != nil {
		return err
	}
	if cur != ci.NoAccess {
		// lib/api/members.rb: conflict!('Member already exists').
		return &ci.Error{Code: ci.EConflict, Message: "Member already exists"}
	}
	if err := access.MemberChange(lvl, cur, ci.AccessLevel(lvlParam), u.Username == p.Namespace); err != nil {
		return err
	}
	m := &ci.Member{ProjectID: p.ID, UserID: u.ID, AccessLevel: ci.AccessLevel(lvlParam)}
	if err := s.store.SetMember(q.ctx(), m); err != nil {
		return err
	}
	return q.json(http.StatusCreated, Member{UserBasic: s.userBasic(u), AccessLevel: int(m.AccessLevel), CreatedAt: Time{m.CreatedAt}})
}

func (s *Server) listMembers(q *req) error {
	p, _, err := s.project(q)
	if err != nil {
		return err
	}
	ms, err := s.store.ListMembers(q.ctx(), p.ID)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.UserID)
	}
	users, err := s.store.UsersByIDs(q.ctx(), ids)
	if err != nil {
		return err
	}
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		if u := users[m.UserID]; u != nil {
			out = append(out, Member{UserBasic: s.userBasic(u), AccessLevel: int(m.AccessLevel), CreatedAt: Time{m.CreatedAt}})
		}
	}
	return q.json(http.StatusOK, out)
}

// GitLab's Ci::Maskable: a masked value is one line of 8+ characters from
// the Base64 alphabet plus @:.~ (any non-space character when raw).
