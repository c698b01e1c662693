package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/store"
)

// Caller is who a request acts as: a user through a personal access token,
// or a running job through its job token. A nil *Caller is anonymous.
type Caller struct {
	User  *ci.User
	Token *ci.PersonalAccessToken
	// Job is set for job-token callers.
	Job *ci.Job
}

// Admin reports whether the caller is an administrator.
func (c *Caller) Admin() bool { return c != nil && c.User != nil && c.User.Admin }

// tokenCache keeps recent token → user resolutions for a few seconds so that
// hot API paths do not pay two queries per request.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	tok  *ci.PersonalAccessToken
	user *ci.User
	at   time.Time
}

const tokenCacheTTL = 5 * time.Second

func newTokenCache() *tokenCache { return &tokenCache{m: map[string]cachedToken{}} }

func (c *tokenCache) get(digest string) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[digest]
	if !ok || time.Since(e.at) > tokenCacheTTL {
		return cachedToken{}, false
	}
	return e, true
}

func (c *tokenCache) put(digest string, e cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[digest] = e
}

var (
	errTokenExpired = &ci.Error{Code: ci.EUnauthorized, Body: nil,
		Message: "Token is expired. You can either do re-authorization or token refresh."}
	errTokenRevoked = &ci.Error{Code: ci.EUnauthorized,
		Message: "Token was revoked. You have to re-authorize from the user."}
)

// oauthError answers the doorkeeper-style 401/403 bodies.
func oauthError(w http.ResponseWriter, status int, code, desc string, extra map[string]any) {
	body := map[string]any{"error": code, "error_description": desc}
	for k, v := range extra {
		body[k] = v
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Protected by OAuth 2.0", error="`+code+`", error_description="`+desc+`"`)
	}
	httpx.WriteJSON(w, status, body)
}

// authOpts says which credentials a route takes.
type authOpts struct {
	jobToken bool
	scope    string
}

// authenticate resolves the request's credentials. No credentials give a
// nil caller; bad ones an error (already written for OAuth-style bodies,
// signalled by errWritten).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, p *httpx.Params, o authOpts) (*Caller, error) {
	ctx := r.Context()
	pat := r.Header.Get("Private-Token")
	if pat == "" {
		pat = p.Str("private_token")
	}
	if pat == "" {
		pat = p.Str("access_token")
	}
	bearer := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		bearer = strings.TrimSpace(h[7:])
	}
	if pat == "" && bearer != "" && !(o.jobToken && strings.HasPrefix(bearer, auth.PrefixJob)) {
		pat = bearer
		bearer = ""
	}
	if pat != "" {
		c, err := s.patCaller(ctx, pat, r.Method, o.scope)
		if err != nil {
			return nil, s.writeAuthError(w, err)
		}
		return c, nil
	}
	if !o.jobToken {
		return nil, nil
	}
	jt := r.Header.Get("Job-Token")
	for _, k := range []string{"job_token", "token"} {
		if jt == "" {
			jt = p.Str(k)
		}
	}
	if jt == "" {
		jt = bearer
	}
	if jt == "" {
		return nil, nil
	}
	if len(jt) > 8192 {
		return nil, ci.ErrUnauthorized
	}
	j, err := s.store.JobByTokenDigest(ctx, auth.Digest(jt))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ci.ErrUnauthorized
		}
		return nil, err
	}
	if !j.Status.Executing() || j.ErasedAt != nil {
		return nil, ci.ErrUnauthorized
	}
	u, err := s.store.UserByID(ctx, j.UserID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ci.ErrUnauthorized
		}
		return nil, err
	}
	return &Caller{User: u, Job: j}, nil
}

type writtenError struct{ error }

// errWritten marks an error whose response was already sent.
func (s *Server) writeAuthError(w http.ResponseWriter, err error) error {
	switch {
	case errors.Is(err, errTokenExpired):
		oauthError(w, http.StatusUnauthorized, "invalid_token", errTokenExpired.Message, nil)
		return writtenError{err}
	case errors.Is(err, errTokenRevoked):
		oauthError(w, http.StatusUnauthorized, "invalid_token", errTokenRevoked.Message, nil)
		return writtenError{err}
	case errors.Is(err, errInsufficientScope):
		oauthError(w, http.StatusForbidden, "insufficient_scope",
			"The request requires higher privileges than provided by the access token.", map[string]any{"scope": "api"})
		return writtenError{err}
	}
	return err
}

var errInsufficientScope = errors.New("insufficient scope")

func (s *Server) patCaller(ctx context.Context, token, method, routeScope string) (*Caller, error) {
	digest := auth.Digest(token)
	e, ok := s.auth.get(digest)
	if !ok {
		t, err := s.store.TokenByDigest(ctx, digest)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, ci.ErrUnauthorized
			}
			return nil, err
		}
		u, err := s.store.UserByID(ctx, t.UserID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, ci.ErrUnauthorized
			}
			return nil, err
		}
		e = cachedToken{tok: t, user: u, at: time.Now()}
		s.auth.put(digest, e)
	}
	t, u := e.tok, e.user
	if t.Revoked {
		return nil, errTokenRevoked
	}
	if t.ExpiresAt != nil && !s.now().Before(*t.ExpiresAt) {
		return nil, errTokenExpired
	}
	if u.State != "active" {
		return nil, ci.Forbidden("Your account has been blocked.")
	}
	readOnly := method == http.MethodGet || method == http.MethodHead
	if !t.HasScope(ci.ScopeAPI) && !(readOnly && t.HasScope(ci.ScopeReadAPI)) && !(routeScope != "" && t.HasScope(routeScope)) {
		return nil, errInsufficientScope
	}
	return &Caller{User: u, Token: t}, nil
}

// access is the caller's effective role in a project, ci.NoAccess if none.
func (s *Server) access(ctx context.Context, c *Caller, p *ci.Project) (ci.AccessLevel, error) {
	if c == nil || c.User == nil {
		return ci.NoAccess, nil
	}
	if c.Admin() && c.Job == nil {
		return ci.Owner, nil
	}
	lvl, err := s.store.MemberAccess(ctx, p.ID, c.User.ID)
	if err != nil {
		return ci.NoAccess, err
	}
	if c.Job != nil && c.Job.ProjectID != p.ID {
		// A job token reaches other projects only as a reader at most.
		lvl = min(lvl, ci.Reporter)
	}
	return lvl, nil
}

// canSee reports whether the caller may see the project at all.
func canSee(c *Caller, p *ci.Project, lvl ci.AccessLevel) bool {
	switch {
	case lvl > ci.NoAccess:
		return true
	case p.Visibility == ci.VisibilityPublic:
		return true
	case p.Visibility == ci.VisibilityInternal:
		return c != nil && c.User != nil && c.Job == nil
	}
	return false
}

// canReadBuilds is read_build: reporters, and anyone who sees the project
// when public_builds is on.
func canReadBuilds(c *Caller, p *ci.Project, lvl ci.AccessLevel) bool {
	if lvl >= ci.Reporter {
		return true
	}
	return p.PublicBuilds && canSee(c, p, lvl)
}
