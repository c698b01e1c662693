package api

import (
	"errors"
	"net/http"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
)

// Caller is who a request acts as (the access policy's caller).
type Caller = access.Caller

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

// authenticate resolves the request's credentials through the access
// policy. No credentials give a nil caller; bad ones an error (already
// written for OAuth-style bodies, signalled by writtenError).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, p *httpx.Params, o hopts) (*Caller, error) {
	c, err := s.policy.Authenticate(r.Context(), r, access.Options{JobToken: o.jobToken, Scope: o.scope, Param: p.Str})
	if err != nil {
		return nil, s.writeAuthError(w, err)
	}
	return c, nil
}

type writtenError struct{ error }

// writeAuthError writes the OAuth-style answers; other errors are returned
// for the usual error table.
func (s *Server) writeAuthError(w http.ResponseWriter, err error) error {
	switch {
	case errors.Is(err, access.ErrTokenExpired):
		oauthError(w, http.StatusUnauthorized, "invalid_token", access.ErrTokenExpired.Message, nil)
		return writtenError{err}
	case errors.Is(err, access.ErrTokenRevoked):
		oauthError(w, http.StatusUnauthorized, "invalid_token", access.ErrTokenRevoked.Message, nil)
		return writtenError{err}
	case errors.Is(err, access.ErrInsufficientScope):
		oauthError(w, http.StatusForbidden, "insufficient_scope",
			"The request requires higher privileges than provided by the access token.", map[string]any{"scope": "api"})
		return writtenError{err}
	}
	return err
}

// can is the access policy's decision for a caller whose role is lvl.
func (q *req) can(p *ci.Project, lvl ci.AccessLevel, a access.Action) error {
	return access.Allowed(q.caller, p, lvl, a)
}

// canJob is can with the per-job rules.
func (q *req) canJob(p *ci.Project, lvl ci.AccessLevel, j *ci.Job, a access.Action) error {
	return access.AllowedJob(q.caller, p, lvl, j, a)
}
