package access

import (
	"context"
	"errors"
	"strings"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
)

// GitDenied is a refusal of a git smart-HTTP request whose text git prints
// (GitLab's Gitlab::GitAccess messages).
type GitDenied struct {
	Code    ci.ErrorCode // EUnauthorized, EForbidden or ENotFound
	Message string       // empty: the transport's default text
}

func (e *GitDenied) Error() string { return string(e.Code) + ": " + e.Message }

// MsgArchivedPush is GitLab's refusal of a push to an archived project
// (Gitlab::GitAccess ERROR_MESSAGES[:archived]).
const MsgArchivedPush = "You can't push code to an archived project."

func gitDeny(code ci.ErrorCode, msg string) error { return &GitDenied{Code: code, Message: msg} }

// GitCaller resolves git's Basic credentials as Gitlab::Auth.find_for_git_client
// does: gitlab-ci-token (or any user with a glcbt- password) and the token
// of a running job; any other user name with a personal access token, which
// must be unexpired, unrevoked, of an active user, and carry a repository
// scope (api, write_repository; read_repository or read_api to fetch).
func (p *Policy) GitCaller(ctx context.Context, user, pass string, write bool) (*Caller, error) {
	if user == "gitlab-ci-token" || strings.HasPrefix(pass, auth.PrefixJob) {
		c, err := p.JobTokenCaller(ctx, pass)
		if err != nil {
			return nil, gitError(err)
		}
		return c, nil
	}
	t, u, err := p.PersonalToken(ctx, pass)
	if err != nil {
		return nil, gitError(err)
	}
	if !(t.HasScope(ci.ScopeAPI) || t.HasScope(ci.ScopeWriteRepo) ||
		(!write && (t.HasScope(ci.ScopeReadRepo) || t.HasScope(ci.ScopeReadAPI)))) {
		return nil, gitDeny(ci.EForbidden, "")
	}
	return &Caller{User: u, Token: t}, nil
}

// gitError turns an authentication failure into git's answer: every bad
// credential (unknown, expired, revoked, blocked) is the 401 challenge.
func gitError(err error) error {
	var ce *ci.Error
	if errors.As(err, &ce) && (ce.Code == ci.EUnauthorized || ce.Code == ci.EForbidden) {
		return gitDeny(ci.EUnauthorized, "")
	}
	return err
}

// CanGit decides a fetch (write false) or push of the project's repository
// for c (nil when anonymous), as Gitlab::GitAccess does: invisible projects
// are not found; job tokens only fetch, from their own project or from a
// project whose inbound allowlist holds theirs; fetching needs
// download_code, pushing push_code. The errors are *GitDenied.
func (p *Policy) CanGit(ctx context.Context, c *Caller, proj *ci.Project, write bool) error {
	if c.Anonymous() {
		if !write && proj.Visibility == ci.VisibilityPublic {
			return nil
		}
		return gitDeny(ci.EUnauthorized, "")
	}
	var lvl ci.AccessLevel
	if c.Job != nil {
		if write {
			return gitDeny(ci.EForbidden, "")
		}
		if c.Job.ProjectID == proj.ID {
			lvl = ci.Reporter
		} else {
			ok, err := p.st.JobTokenAllowed(ctx, proj.ID, c.Job.ProjectID)
			if err != nil {
				return err
			}
			if !ok {
				return gitDeny(ci.EForbidden, p.jobTokenRefusedText(ctx, c, proj))
			}
			if lvl, err = p.Role(ctx, c, proj); err != nil {
				return err
			}
		}
	} else {
		var err error
		if lvl, err = p.Role(ctx, c, proj); err != nil {
			return err
		}
		if lvl == ci.NoAccess && proj.Visibility == ci.VisibilityInternal {
			lvl = ci.Guest
		}
	}
	if lvl == ci.NoAccess && proj.Visibility != ci.VisibilityPublic {
		return gitDeny(ci.ENotFound, "")
	}
	a := ReadCode
	if write {
		a = PushCode
		// Gitlab::GitAccess#check_push_access! refuses an archived
		// project before it looks at the pusher's role.
		if proj.Archived {
			return gitDeny(ci.EForbidden, MsgArchivedPush)
		}
	}
	if Allowed(c, proj, lvl, a) != nil {
		return gitDeny(ci.EForbidden, "")
	}
	return nil
}

func (p *Policy) jobTokenRefusedText(ctx context.Context, c *Caller, proj *ci.Project) string {
	srcPath := ""
	if src, err := p.st.ProjectByID(ctx, c.Job.ProjectID); err == nil {
		srcPath = src.Path
	}
	return JobTokenNotAllowedMessage(srcPath, proj.Path)
}
