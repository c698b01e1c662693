// Package access is Gantry's one access policy: it answers "who is calling"
// (personal access tokens with expiry, revocation and scopes; job tokens of
// running jobs; signed-in browser sessions) and "may this caller do this to
// this project". The REST API, git smart HTTP, the runner protocol and the
// web UI all ask it, so a rule is written once. The rules follow GitLab's
// app/policies/project_policy.rb and app/policies/ci/build_policy.rb; see
// docs/access.md.
package access

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// Caller is who a request acts as; a nil *Caller is anonymous.
type Caller struct {
	User    *ci.User
	Token   *ci.PersonalAccessToken // personal access token callers
	Job     *ci.Job                 // job-token callers: the running job
	Session bool                    // signed-in browser session (the web UI resolves its cookie to a user)
}

// SessionCaller is the caller of a signed-in browser session.
func SessionCaller(u *ci.User) *Caller {
	if u == nil {
		return nil
	}
	return &Caller{User: u, Session: true}
}

// Admin reports whether the caller is an administrator acting as such: a job
// token never carries its user's admin rights (GitLab's job token policies
// are project-scoped).
func (c *Caller) Admin() bool { return c != nil && c.User != nil && c.User.Admin && c.Job == nil }

// Anonymous reports whether nobody is signed in.
func (c *Caller) Anonymous() bool { return c == nil || c.User == nil }

// Errors of Authenticate that the HTTP layer answers in OAuth style
// (Gitlab::Auth::AuthFinders and doorkeeper's bodies).
var (
	ErrTokenExpired = &ci.Error{Code: ci.EUnauthorized,
		Message: "Token is expired. You can either do re-authorization or token refresh."}
	ErrTokenRevoked = &ci.Error{Code: ci.EUnauthorized,
		Message: "Token was revoked. You have to re-authorize from the user."}
	// ErrInsufficientScope is a valid token without a scope the route needs.
	ErrInsufficientScope = &ci.Error{Code: ci.EForbidden, Message: "insufficient_scope"}
	// ErrBlocked is a valid token of a blocked user.
	ErrBlocked = ci.Forbidden("Your account has been blocked.")
)

// Policy decides. It holds the store and a clock.
type Policy struct {
	st    store.Store
	now   func() time.Time
	cache *tokenCache
}

// New builds a policy; now defaults to time.Now.
func New(st store.Store, now func() time.Time) *Policy {
	if now == nil {
		now = time.Now
	}
	return &Policy{st: st, now: now, cache: &tokenCache{m: map[string]cachedToken{}}}
}

// Options say which credentials a route takes.
type Options struct {
	// JobToken accepts job tokens (JOB-TOKEN header, job_token/token
	// params, or a glcbt- Bearer).
	JobToken bool
	// Scope is a token scope that grants the route besides api (and
	// read_api on reads), e.g. create_runner.
	Scope string
	// Param reads a request parameter (query or form); nil reads the query.
	Param func(name string) string
}

// maxTokenLen bounds the work a garbage token costs.
const maxTokenLen = 8192

// Authenticate resolves the request's credentials as GitLab's
// Gitlab::Auth::AuthFinders do: a personal access token from the
// PRIVATE-TOKEN header, the private_token/access_token params or an
// Authorization Bearer; a job token only where the route takes one. No
// credentials give a nil caller; bad ones an error (ci.ErrUnauthorized,
// ErrTokenExpired, ErrTokenRevoked, ErrInsufficientScope, ErrBlocked).
func (p *Policy) Authenticate(ctx context.Context, r *http.Request, o Options) (*Caller, error) {
	param := o.Param
	if param == nil {
		q := r.URL.Query()
		param = q.Get
	}
	pat := r.Header.Get("Private-Token")
	if pat == "" {
		pat = param("private_token")
	}
	if pat == "" {
		pat = param("access_token")
	}
	bearer := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		bearer = strings.TrimSpace(h[7:])
	}
	if pat == "" && bearer != "" && !(o.JobToken && strings.HasPrefix(bearer, auth.PrefixJob)) {
		pat = bearer
		bearer = ""
	}
	if pat != "" {
		readOnly := r.Method == http.MethodGet || r.Method == http.MethodHead
		t, u, err := p.PersonalToken(ctx, pat)
		if err != nil {
			return nil, err
		}
		if !t.HasScope(ci.ScopeAPI) && !(readOnly && t.HasScope(ci.ScopeReadAPI)) && !(o.Scope != "" && t.HasScope(o.Scope)) {
			return nil, ErrInsufficientScope
		}
		return &Caller{User: u, Token: t}, nil
	}
	if !o.JobToken {
		return nil, nil
	}
	jt := r.Header.Get("Job-Token")
	for _, k := range []string{"job_token", "token"} {
		if jt == "" {
			jt = param(k)
		}
	}
	if jt == "" {
		jt = bearer
	}
	if jt == "" {
		return nil, nil
	}
	return p.JobTokenCaller(ctx, jt)
}

// PersonalToken checks a personal access token: known, not revoked, not
// expired, its user active. Scopes are the caller's business (they depend
// on the route).
func (p *Policy) PersonalToken(ctx context.Context, token string) (*ci.PersonalAccessToken, *ci.User, error) {
	if len(token) > maxTokenLen {
		return nil, nil, ci.ErrUnauthorized
	}
	digest := auth.Digest(token)
	e, ok := p.cache.get(digest, p.now())
	if !ok {
		t, err := p.st.TokenByDigest(ctx, digest)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil, ci.ErrUnauthorized
			}
			return nil, nil, err
		}
		u, err := p.st.UserByID(ctx, t.UserID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil, ci.ErrUnauthorized
			}
			return nil, nil, err
		}
		e = cachedToken{tok: t, user: u, at: p.now()}
		p.cache.put(digest, e)
	}
	t, u := e.tok, e.user
	if t.Revoked {
		return nil, nil, ErrTokenRevoked
	}
	if t.ExpiresAt != nil && !p.now().Before(*t.ExpiresAt) {
		return nil, nil, ErrTokenExpired
	}
	if u.State != "active" {
		return nil, nil, ErrBlocked
	}
	return t, u, nil
}

// JobTokenCaller resolves a job token: only the token of a running,
// unerased job authenticates (GitLab's Ci::AuthJobFinder).
func (p *Policy) JobTokenCaller(ctx context.Context, token string) (*Caller, error) {
	if len(token) > maxTokenLen {
		return nil, ci.ErrUnauthorized
	}
	j, err := p.st.JobByTokenDigest(ctx, auth.Digest(token))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ci.ErrUnauthorized
		}
		return nil, err
	}
	if !j.Status.Executing() || j.ErasedAt != nil {
		return nil, ci.ErrUnauthorized
	}
	u, err := p.st.UserByID(ctx, j.UserID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ci.ErrUnauthorized
		}
		return nil, err
	}
	return &Caller{User: u, Job: j}, nil
}

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

func (c *tokenCache) get(digest string, now time.Time) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[digest]
	if !ok || now.Sub(e.at) > tokenCacheTTL || now.Before(e.at) {
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
