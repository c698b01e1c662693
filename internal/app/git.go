package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/gitserve"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
)

// gitResolver authorises smart-HTTP requests through the access policy:
// the same token rules (expiry, revocation, scopes) and project rules as the
// API, so a token the API refuses cannot fetch or push either.
func gitResolver(db store.Store, eng *pipeline.Service, pol *access.Policy) func(ctx context.Context, fullPath string, acc gitserve.Access, user, pass string, ok bool) (gitserve.Target, error) {
	return func(ctx context.Context, fullPath string, acc gitserve.Access, user, pass string, ok bool) (gitserve.Target, error) {
		i := strings.LastIndexByte(fullPath, '/')
		if i <= 0 {
			return gitserve.Target{}, gitserve.ErrNotFound
		}
		p, err := db.ProjectByPath(ctx, fullPath[:i], fullPath[i+1:])
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				if !ok {
					return gitserve.Target{}, gitserve.ErrUnauthorized
				}
				return gitserve.Target{}, gitserve.ErrNotFound
			}
			return gitserve.Target{}, err
		}
		t := gitserve.Target{ProjectID: p.ID, RepoDir: eng.RepoDir(p.ID)}
		write := acc == gitserve.Write
		var c *access.Caller
		if ok {
			if c, err = pol.GitCaller(ctx, user, pass, write); err != nil {
				return t, gitDenial(err)
			}
			t.UserID = c.User.ID
		}
		return t, gitDenial(pol.CanGit(ctx, c, p, write))
	}
}

// codeAccess lets pipelines include files from projects their user may
// read (download_code), as External::File::Project checks with
// Ability.allowed?(user, :download_code, project).
func codeAccess(db store.Store, pol *access.Policy) pipeline.CodeAccess {
	return func(ctx context.Context, userID int64, p *ci.Project) bool {
		c := &access.Caller{}
		if userID != 0 {
			u, err := db.UserByID(ctx, userID)
			if err != nil {
				return false
			}
			c.User = u
		}
		return pol.Can(ctx, c, p, access.ReadCode) == nil
	}
}

// gitDenial maps the policy's refusals onto the git transport's.
func gitDenial(err error) error {
	var d *access.GitDenied
	if !errors.As(err, &d) {
		return err
	}
	kind := gitserve.ErrForbidden
	switch d.Code {
	case ci.EUnauthorized:
		kind = gitserve.ErrUnauthorized
	case ci.ENotFound:
		kind = gitserve.ErrNotFound
	}
	if d.Message == "" {
		return kind
	}
	return gitserve.Deny(kind, d.Message)
}

// recordPush runs once git has applied a push and before the client hears
// git's answer: it sets the default branch on the first push and records
// the ref changes owed pipelines (pipeline.Service.RecordPush), so an
// acknowledged push cannot lose its pipelines to a crash.
func recordPush(db store.Store, eng *pipeline.Service, log *slog.Logger) func(ctx context.Context, t gitserve.Target, updates []gitserve.RefUpdate) error {
	return func(ctx context.Context, t gitserve.Target, updates []gitserve.RefUpdate) error {
		p, err := db.ProjectByID(ctx, t.ProjectID)
		if err != nil {
			return fmt.Errorf("push: project %d: %w", t.ProjectID, err)
		}
		if p.DefaultBranch == "" {
			setDefaultBranch(ctx, db, p, t.RepoDir, updates, log)
		}
		ups := make([]pipeline.RefUpdate, len(updates))
		for i, u := range updates {
			ups[i] = pipeline.RefUpdate{Ref: u.Ref, OldSHA: u.OldSHA, NewSHA: u.NewSHA}
		}
		if err := eng.RecordPush(ctx, p.ID, t.UserID, ups, t.PushOptions); err != nil {
			return fmt.Errorf("push: record %s: %w", p.FullPath(), err)
		}
		return nil
	}
}

// setDefaultBranch makes the first pushed branch (main or master first)
// the project's default branch, and protects it.
func setDefaultBranch(ctx context.Context, db store.Store, p *ci.Project, repoDir string, updates []gitserve.RefUpdate, log *slog.Logger) {
	for _, u := range updates {
		b, ok := strings.CutPrefix(u.Ref, "refs/heads/")
		if ok && !gitrepo.IsZeroSHA(u.NewSHA) && (p.DefaultBranch == "" || b == "main" || b == "master") {
			p.DefaultBranch = b
		}
	}
	if p.DefaultBranch == "" {
		return
	}
	if err := db.UpdateProject(ctx, p); err != nil {
		log.Error("push: default branch", "err", err)
	}
	if err := gitrepo.Open(repoDir).SetDefaultBranch(ctx, p.DefaultBranch); err != nil {
		log.Warn("push: HEAD", "err", err)
	}
	// GitLab protects the default branch at its first push
	// (Projects::ProtectDefaultBranchService), before the push's pipelines
	// are created so they run protected.
	err := db.CreateProtectedRef(ctx, ci.DefaultBranchProtection(p.ID, p.DefaultBranch))
	if err != nil && !errors.Is(err, store.ErrConflict) {
		log.Error("push: protect default branch", "err", err)
	}
}

// onPush creates the pipelines a push recorded, once git's answer has been
// sent and the repository's push lock released; what it does not get to
// (a crash) the sweeper and the next start create.
func onPush(eng *pipeline.Service, log *slog.Logger) func(ctx context.Context, t gitserve.Target, updates []gitserve.RefUpdate) {
	return func(ctx context.Context, t gitserve.Target, _ []gitserve.RefUpdate) {
		if err := eng.CreatePushPipelines(ctx, t.ProjectID); err != nil {
			log.Error("push: pipelines", "project", t.ProjectID, "err", err)
		}
	}
}

// checkPush judges each ref update of a push against the project's
// protected branches and tags before git applies any (GitLab's
// Gitlab::Checks::BranchCheck and TagCheck in its pre-receive).
func checkPush(db store.Store) func(ctx context.Context, t gitserve.Target, updates []gitserve.RefUpdate) ([]gitserve.PushCheck, error) {
	return func(ctx context.Context, t gitserve.Target, updates []gitserve.RefUpdate) ([]gitserve.PushCheck, error) {
		p, err := db.ProjectByID(ctx, t.ProjectID)
		if err != nil {
			return nil, fmt.Errorf("push check: %w", err)
		}
		rules, err := db.ProtectedRefs(ctx, p.ID)
		if err != nil {
			return nil, fmt.Errorf("push check: %w", err)
		}
		lvl, err := pushRole(ctx, db, p.ID, t.UserID)
		if err != nil {
			return nil, fmt.Errorf("push check: %w", err)
		}
		checks := make([]gitserve.PushCheck, len(updates))
		for i, u := range updates {
			c := ci.RefChange{Ref: u.Ref, Create: gitrepo.IsZeroSHA(u.OldSHA), Delete: gitrepo.IsZeroSHA(u.NewSHA),
				Default: p.DefaultBranch}
			v := rules.CheckPush(c, lvl)
			checks[i] = gitserve.PushCheck{ForceDeny: v.ForceDeny, Deny: v.Deny}
		}
		return checks, nil
	}
}

// pushRole is the pusher's role for protected ref rules: the member's
// access level, ci.Admin for instance administrators (GitLab's
// ProtectedRefAccess#check_access lets admins through). The one place the
// push checks ask who the caller is.
func pushRole(ctx context.Context, db store.Store, projectID, userID int64) (ci.AccessLevel, error) {
	if userID == 0 {
		return ci.NoAccess, nil
	}
	u, err := db.UserByID(ctx, userID)
	if err != nil {
		return ci.NoAccess, err
	}
	if u.Admin {
		return ci.Admin, nil
	}
	return db.MemberAccess(ctx, projectID, userID)
}

// scheduleAccess is the policy's create_pipeline for the pipeline
// scheduler: the user's role if they may create pipelines in the project.
// A blocked user may not (GitLab's policies deny blocked users everything).
func scheduleAccess(pol *access.Policy) pipeline.ScheduleAccess {
	return func(ctx context.Context, u *ci.User, p *ci.Project) (ci.AccessLevel, error) {
		if u.State != "" && u.State != "active" {
			return ci.NoAccess, ci.ErrForbidden
		}
		c := &access.Caller{User: u}
		if err := pol.Can(ctx, c, p, access.CreatePipeline); err != nil {
			return ci.NoAccess, err
		}
		return pol.Role(ctx, c, p)
	}
}
