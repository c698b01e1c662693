package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/gitserve"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
)

// gitResolver authorises smart-HTTP requests as GitLab does: any username
// with a personal access token as password, gitlab-ci-token with the token
// of a running job (read only), anonymous reads of public projects.
func gitResolver(db store.Store, eng *pipeline.Service) func(ctx context.Context, fullPath string, access gitserve.Access, user, pass string, ok bool) (gitserve.Target, error) {
	return func(ctx context.Context, fullPath string, access gitserve.Access, user, pass string, ok bool) (gitserve.Target, error) {
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
		if !ok {
			if access == gitserve.Read && p.Visibility == ci.VisibilityPublic {
				return t, nil
			}
			return t, gitserve.ErrUnauthorized
		}
		var lvl ci.AccessLevel
		var userID int64
		if user == "gitlab-ci-token" || strings.HasPrefix(pass, auth.PrefixJob) {
			j, err := db.JobByTokenDigest(ctx, auth.Digest(pass))
			if err != nil || !j.Status.Executing() {
				return t, gitserve.ErrUnauthorized
			}
			if access == gitserve.Write {
				return t, gitserve.ErrForbidden
			}
			userID = j.UserID
			if j.ProjectID == p.ID {
				lvl = ci.Reporter
			} else if lvl, err = db.MemberAccess(ctx, p.ID, j.UserID); err != nil {
				return t, err
			}
		} else {
			tok, err := db.TokenByDigest(ctx, auth.Digest(pass))
			if err != nil || tok.Revoked {
				return t, gitserve.ErrUnauthorized
			}
			u, err := db.UserByID(ctx, tok.UserID)
			if err != nil || u.State != "active" {
				return t, gitserve.ErrUnauthorized
			}
			userID = u.ID
			if lvl, err = db.MemberAccess(ctx, p.ID, u.ID); err != nil {
				return t, err
			}
			if u.Admin {
				lvl = ci.Owner
			}
			scopeOK := tok.HasScope(ci.ScopeAPI) || tok.HasScope(ci.ScopeWriteRepo) ||
				(access == gitserve.Read && (tok.HasScope(ci.ScopeReadRepo) || tok.HasScope(ci.ScopeReadAPI)))
			if !scopeOK {
				return t, gitserve.ErrForbidden
			}
			if lvl == ci.NoAccess && p.Visibility == ci.VisibilityInternal {
				lvl = ci.Guest
			}
		}
		t.UserID = userID
		visible := lvl > ci.NoAccess || p.Visibility == ci.VisibilityPublic
		if !visible {
			return t, gitserve.ErrNotFound
		}
		if access == gitserve.Read && (lvl >= ci.Reporter || p.Visibility != ci.VisibilityPrivate) {
			return t, nil
		}
		if access == gitserve.Write && lvl >= ci.Developer {
			return t, nil
		}
		return t, gitserve.ErrForbidden
	}
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
		for _, u := range updates {
			if gitrepo.IsZeroSHA(u.NewSHA) {
				continue
			}
			ref, tag := "", false
			if b, ok := strings.CutPrefix(u.Ref, "refs/heads/"); ok {
				ref = b
			} else if tg, ok := strings.CutPrefix(u.Ref, "refs/tags/"); ok {
				ref, tag = tg, true
			} else {
				continue
			}
			pl, err := eng.Create(ctx, pipeline.CreateRequest{Project: p, Ref: ref, Tag: tag, RefKnown: true,
				SHA: u.NewSHA, BeforeSHA: u.OldSHA, Source: "push", UserID: t.UserID, SaveOnErrors: true})
			if err != nil {
				log.Error("push: pipeline", "project", p.FullPath(), "ref", ref, "err", err)
				continue
			}
			if pl != nil {
				log.Info("pipeline created", "project", p.FullPath(), "ref", ref, "pipeline", pl.ID, "status", pl.Status)
			}
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
