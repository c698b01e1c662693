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

// onPush creates a pipeline for each pushed branch or tag head, and sets the
// default branch on the first push.
func onPush(db store.Store, eng *pipeline.Service, log *slog.Logger) func(ctx context.Context, t gitserve.Target, updates []gitserve.RefUpdate) {
	return func(ctx context.Context, t gitserve.Target, updates []gitserve.RefUpdate) {
		p, err := db.ProjectByID(ctx, t.ProjectID)
		if err != nil {
			log.Error("push: project", "project", t.ProjectID, "err", err)
			return
		}
		if p.DefaultBranch == "" {
			for _, u := range updates {
				b, ok := strings.CutPrefix(u.Ref, "refs/heads/")
				if ok && !gitrepo.IsZeroSHA(u.NewSHA) && (p.DefaultBranch == "" || b == "main" || b == "master") {
					p.DefaultBranch = b
				}
			}
			if p.DefaultBranch != "" {
				if err := db.UpdateProject(ctx, p); err != nil {
					log.Error("push: default branch", "err", err)
				}
				if err := gitrepo.Open(t.RepoDir).SetDefaultBranch(ctx, p.DefaultBranch); err != nil {
					log.Warn("push: HEAD", "err", err)
				}
				// GitLab protects the default branch at its first push
				// (Projects::ProtectDefaultBranchService), before the
				// push's pipelines are created so they run protected.
				err := db.CreateProtectedRef(ctx, ci.DefaultBranchProtection(p.ID, p.DefaultBranch))
				if err != nil && !errors.Is(err, store.ErrConflict) {
					log.Error("push: protect default branch", "err", err)
				}
			}
		}
		refs := make([]pipeline.RefUpdate, len(updates))
		for i, u := range updates {
			refs[i] = pipeline.RefUpdate{Ref: u.Ref, OldSHA: u.OldSHA, NewSHA: u.NewSHA}
		}
		eng.PushPipelines(ctx, p, t.UserID, refs, pipeline.ParsePushOptions(t.PushOptions))
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
