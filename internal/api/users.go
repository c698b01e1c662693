package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

func (s *Server) userDetail(u *ci.User) *UserDetail {
	return &UserDetail{User: *s.user(u), ConfirmedAt: Time{u.CreatedAt}, Email: u.Email, ThemeID: 1,
		ColorSchemeID: 1, ProjectsLimit: 100000, Identities: []any{}, CanCreateGroup: true, CanCreateProject: true,
		CommitEmail: u.Email, IsAdmin: u.Admin}
}

func (s *Server) currentUser(q *req) error {
	return q.json(http.StatusOK, s.userDetail(q.caller.User))
}

func (s *Server) listUsers(q *req) error {
	pg, err := q.page()
	if err != nil {
		return err
	}
	users, err := s.store.ListUsers(q.ctx(), store.UserFilter{Username: q.p.Str("username"), Limit: pg.PerPage + 1, Offset: pg.offset()})
	if err != nil {
		return err
	}
	hasNext := len(users) > pg.PerPage
	if hasNext {
		users = users[:pg.PerPage]
	}
	s.offsetHeaders(q, pg, hasNext, -1)
	out := make([]any, 0, len(users))
	for _, u := range users {
		if q.caller.Admin() {
			out = append(out, s.userDetail(u))
		} else {
			out = append(out, s.userBasic(u))
		}
	}
	return q.json(http.StatusOK, out)
}

func (s *Server) getUser(q *req) error {
	id, err := q.pathInt("user_id")
	if err != nil {
		return err
	}
	u, err := s.store.UserByID(q.ctx(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ci.NotFound("User")
		}
		return err
	}
	if q.caller.Admin() {
		return q.json(http.StatusOK, s.userDetail(u))
	}
	return q.json(http.StatusOK, s.user(u))
}

// createUser is POST /users (admin).
func (s *Server) createUser(q *req) error {
	for _, k := range []string{"email", "name", "username"} {
		if strings.TrimSpace(q.p.Str(k)) == "" {
			return ci.Invalid("%s is missing", k)
		}
	}
	if !q.caller.Admin() {
		return ci.ErrForbidden
	}
	admin, err := q.p.Bool("admin", false)
	if err != nil {
		return err
	}
	hash, err := passwordParam(q)
	if err != nil {
		return err
	}
	u := &ci.User{Username: q.p.Str("username"), Name: q.p.Str("name"), Email: q.p.Str("email"), Admin: admin}
	if err := s.store.CreateUser(q.ctx(), u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &ci.Error{Code: ci.EConflict, Message: "Username has already been taken"}
		}
		return err
	}
	if err := s.setPassword(q, u, hash); err != nil {
		return err
	}
	return q.json(http.StatusCreated, s.userDetail(u))
}

// passwordParam hashes the optional password parameter; GitLab answers a
// too short one with a 400 naming the attribute (lib/api/users.rb).
func passwordParam(q *req) (string, error) {
	if !q.p.Has("password") {
		return "", nil
	}
	h, err := auth.HashPassword(q.p.Str("password"))
	switch {
	case errors.Is(err, auth.ErrPasswordTooShort):
		return "", &ci.Error{Code: ci.EBadRequest, Message: "400 Bad request",
			Body: map[string][]string{"password": {"is too short (minimum is 8 characters)"}}}
	case errors.Is(err, auth.ErrPasswordTooLong):
		return "", &ci.Error{Code: ci.EBadRequest, Message: "400 Bad request",
			Body: map[string][]string{"password": {"is too long (maximum is 72 bytes)"}}}
	}
	return h, err
}

// setPassword stores a hashed password; "" leaves the password alone.
func (s *Server) setPassword(q *req, u *ci.User, hash string) error {
	if hash == "" {
		return nil
	}
	return s.store.SetUserPassword(q.ctx(), u.ID, hash)
}

// updateUser is PUT /users/:user_id (admin): password only for now; the
// other attributes are not stored as editable.
func (s *Server) updateUser(q *req) error {
	id, err := q.pathInt("user_id")
	if err != nil {
		return err
	}
	if !q.caller.Admin() {
		return ci.ErrForbidden
	}
	u, err := s.userOr404(q, id)
	if err != nil {
		return err
	}
	hash, err := passwordParam(q)
	if err != nil {
		return err
	}
	if err := s.setPassword(q, u, hash); err != nil {
		return err
	}
	return q.json(http.StatusOK, s.userDetail(u))
}

// PersonalAccessToken is the entity of a created token.
type PersonalAccessToken struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Revoked     bool     `json:"revoked"`
	CreatedAt   Time     `json:"created_at"`
	Description *string  `json:"description"`
	Scopes      []string `json:"scopes"`
	UserID      int64    `json:"user_id"`
	LastUsedAt  *Time    `json:"last_used_at"`
	Active      bool     `json:"active"`
	ExpiresAt   *string  `json:"expires_at"`
	Token       string   `json:"token,omitempty"`
}

// createToken is POST /users/:user_id/personal_access_tokens (admin).
func (s *Server) createToken(q *req) error {
	id, err := q.pathInt("user_id")
	if err != nil {
		return err
	}
	if q.p.Str("name") == "" {
		return ci.Invalid("name is missing")
	}
	scopes := q.p.List("scopes")
	if len(scopes) == 0 {
		return ci.Invalid("scopes is missing")
	}
	for _, sc := range scopes {
		switch sc {
		case ci.ScopeAPI, ci.ScopeReadAPI, ci.ScopeCreateRunner, ci.ScopeReadRepo, ci.ScopeWriteRepo, "read_user", "sudo", "manage_runner":
		default:
			return ci.Invalid("scopes does not have a valid value")
		}
	}
	var expires *time.Time
	if e := q.p.Str("expires_at"); e != "" {
		t, err := time.Parse("2006-01-02", e)
		if err != nil {
			return ci.Invalid("expires_at is invalid")
		}
		expires = &t
	}
	if !q.caller.Admin() {
		return ci.ErrForbidden
	}
	u, err := s.userOr404(q, id)
	if err != nil {
		return err
	}
	plain := auth.NewToken(auth.PrefixPAT, 20)
	t := &ci.PersonalAccessToken{UserID: u.ID, Name: q.p.Str("name"), Scopes: scopes, ExpiresAt: expires}
	if err := s.store.CreateToken(q.ctx(), t, auth.Digest(plain)); err != nil {
		return err
	}
	out := PersonalAccessToken{ID: t.ID, Name: t.Name, CreatedAt: Time{t.CreatedAt}, Scopes: t.Scopes, UserID: u.ID,
		Active: true, Token: plain}
	if expires != nil {
		e := expires.Format("2006-01-02")
		out.ExpiresAt = &e
	}
	return q.json(http.StatusCreated, out)
}

// revokeToken is DELETE /personal_access_tokens/:id: the token's user or
// an administrator revokes it (lib/api/personal_access_tokens.rb); 204.
func (s *Server) revokeToken(q *req) error {
	id, err := q.pathInt("token_id")
	if err != nil {
		return err
	}
	owner := q.caller.User.ID // users revoke their own tokens, admins anyone's
	if q.caller.Admin() {
		owner = 0
	}
	if err := s.store.RevokeToken(q.ctx(), id, owner); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ci.NotFound("Token")
		}
		return err
	}
	s.policy.Forget()
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// userOr404 loads a user, answering GitLab's 404 User Not Found.
func (s *Server) userOr404(q *req, id int64) (*ci.User, error) {
	u, err := s.store.UserByID(q.ctx(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ci.NotFound("User")
	}
	return u, err
}
