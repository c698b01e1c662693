package api

import (
	"net/http"
	"strconv"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
)

var errMemberNotFound = ci.NotFound("Member")

// memberLevelParam reads the required access_level of the member routes.
func memberLevelParam(q *req) (ci.AccessLevel, error) {
	if !q.p.Has("access_level") {
		return 0, ci.Invalid("access_level is missing")
	}
	n, err := q.p.Int("access_level", 0)
	if err != nil {
		return 0, err
	}
	switch lvl := ci.AccessLevel(n); lvl {
	case ci.Guest, ci.Planner, ci.Reporter, ci.Developer, ci.Maintainer, ci.Owner:
		return lvl, nil
	}
	return 0, ci.Invalid("access_level does not have a valid value")
}

// memberTarget resolves :id and :user_id of the member routes: the project,
// the caller's role in it, the member's user and current role.
func (s *Server) memberTarget(q *req) (*ci.Project, ci.AccessLevel, *ci.User, ci.AccessLevel, error) {
	uid, err := strconv.ParseInt(q.r.PathValue("user_id"), 10, 64)
	if err != nil {
		return nil, 0, nil, 0, ci.Invalid("user_id is invalid")
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, 0, nil, 0, err
	}
	if err := q.can(p, lvl, access.AdminMembers); err != nil {
		return nil, 0, nil, 0, err
	}
	cur, err := s.store.MemberAccess(q.ctx(), p.ID, uid)
	if err != nil {
		return nil, 0, nil, 0, err
	}
	if cur == ci.NoAccess {
		return nil, 0, nil, 0, errMemberNotFound
	}
	u, err := s.store.UserByID(q.ctx(), uid)
	if err != nil {
		return nil, 0, nil, 0, errMemberNotFound
	}
	return p, lvl, u, cur, nil
}

// updateMember is PUT /projects/:id/members/:user_id.
func (s *Server) updateMember(q *req) error {
	next, err := memberLevelParam(q)
	if err != nil {
		return err
	}
	p, lvl, u, cur, err := s.memberTarget(q)
	if err != nil {
		return err
	}
	if err := access.MemberChange(lvl, cur, next, u.Username == p.Namespace); err != nil {
		return err
	}
	m := &ci.Member{ProjectID: p.ID, UserID: u.ID, AccessLevel: next}
	if err := s.store.SetMember(q.ctx(), m); err != nil {
		return err
	}
	ms, err := s.store.ListMembers(q.ctx(), p.ID)
	if err != nil {
		return err
	}
	for _, x := range ms {
		if x.UserID == u.ID {
			m.CreatedAt = x.CreatedAt
		}
	}
	return q.json(http.StatusOK, Member{UserBasic: s.userBasic(u), AccessLevel: int(m.AccessLevel), CreatedAt: Time{m.CreatedAt}})
}

// deleteMember is DELETE /projects/:id/members/:user_id (204).
func (s *Server) deleteMember(q *req) error {
	p, lvl, u, cur, err := s.memberTarget(q)
	if err != nil {
		return err
	}
	if err := access.MemberChange(lvl, cur, ci.NoAccess, u.Username == p.Namespace); err != nil {
		return err
	}
	if err := s.store.DeleteMember(q.ctx(), p.ID, u.ID); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
