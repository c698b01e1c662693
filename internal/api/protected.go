package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// RefAccessLevel is GitLab's ProtectedRefAccess entity (with the EE user
// and group keys, always null here).
type RefAccessLevel struct {
	ID                     int64  `json:"id"`
	AccessLevel            int    `json:"access_level"`
	AccessLevelDescription string `json:"access_level_description"`
	DeployKeyID            *int64 `json:"deploy_key_id"`
	UserID                 *int64 `json:"user_id"`
	GroupID                *int64 `json:"group_id"`
}

// ProtectedBranch is GitLab's ProtectedBranch entity
// (lib/api/entities/protected_branch.rb).
type ProtectedBranch struct {
	ID                        int64            `json:"id"`
	Name                      string           `json:"name"`
	PushAccessLevels          []RefAccessLevel `json:"push_access_levels"`
	MergeAccessLevels         []RefAccessLevel `json:"merge_access_levels"`
	AllowForcePush            bool             `json:"allow_force_push"`
	CodeOwnerApprovalRequired bool             `json:"code_owner_approval_required"`
}

// ProtectedTag is GitLab's ProtectedTag entity (lib/api/entities/protected_tag.rb).
type ProtectedTag struct {
	Name               string           `json:"name"`
	CreateAccessLevels []RefAccessLevel `json:"create_access_levels"`
}

func refAccessLevels(r *ci.ProtectedRef, action ci.RefAction) []RefAccessLevel {
	out := []RefAccessLevel{}
	for _, a := range r.Access {
		if a.Action == action {
			out = append(out, RefAccessLevel{ID: a.ID, AccessLevel: int(a.AccessLevel),
				AccessLevelDescription: ci.RefAccessDescription(a.AccessLevel)})
		}
	}
	return out
}

func protectedBranchEntity(r *ci.ProtectedRef) ProtectedBranch {
	return ProtectedBranch{ID: r.ID, Name: r.Name, PushAccessLevels: refAccessLevels(r, ci.ActionPush),
		MergeAccessLevels: refAccessLevels(r, ci.ActionMerge), AllowForcePush: r.AllowForcePush,
		CodeOwnerApprovalRequired: r.CodeOwnerApprovalRequired}
}

func protectedTagEntity(r *ci.ProtectedRef) ProtectedTag {
	return ProtectedTag{Name: r.Name, CreateAccessLevels: refAccessLevels(r, ci.ActionCreate)}
}

// adminProject is GitLab's `before { authorize_admin_project }` of the
// protected refs APIs: it runs before parameter validation, so a developer
// gets 403 whatever they send.
func (s *Server) adminProject(q *req) (*ci.Project, error) {
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, err
	}
	if lvl < ci.Maintainer {
		return nil, ci.ErrForbidden
	}
	return p, nil
}

// protectedRefs returns the project's rules of kind, and the one named by
// the {name} path value when one is asked for (404 "404 Not found" when
// missing, Rails' find_by!).
func (s *Server) protectedRefs(q *req, p *ci.Project, kind ci.RefKind) (ci.ProtectedRefs, *ci.ProtectedRef, error) {
	all, err := s.store.ProtectedRefs(q.ctx(), p.ID)
	if err != nil {
		return nil, nil, err
	}
	var out ci.ProtectedRefs
	for _, r := range all {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	name := q.r.PathValue("name")
	if name == "" {
		return out, nil, nil
	}
	for _, r := range out {
		if r.Name == name {
			return out, r, nil
		}
	}
	return out, nil, ci.ErrNotFoundRecord
}

// refLevelParam reads an optional access level parameter restricted to
// ProtectedRefAccess.allowed_access_levels, defaulting to maintainers.
func (q *req) refLevelParam(name string) (ci.AccessLevel, error) {
	n, err := q.p.Int(name, int64(ci.Maintainer))
	if err != nil {
		return 0, err
	}
	if !ci.ValidRefAccessLevel(ci.AccessLevel(n)) {
		return 0, ci.Invalid("%s does not have a valid value", name)
	}
	return ci.AccessLevel(n), nil
}

// listProtected is GET /projects/:id/protected_branches and …/protected_tags.
func (s *Server) listProtected(kind ci.RefKind) func(q *req) error {
	return func(q *req) error {
		p, err := s.adminProject(q)
		if err != nil {
			return err
		}
		pg, err := q.page()
		if err != nil {
			return err
		}
		rs, _, err := s.protectedRefs(q, p, kind)
		if err != nil {
			return err
		}
		if search := q.p.Str("search"); kind == ci.BranchRef && search != "" {
			var hits ci.ProtectedRefs
			for _, r := range rs {
				if strings.Contains(strings.ToLower(r.Name), strings.ToLower(search)) {
					hits = append(hits, r)
				}
			}
			rs = hits
		}
		total := len(rs)
		lo, hi := pg.bounds(total)
		s.offsetHeaders(q, pg, hi < total, total)
		if kind == ci.TagRef {
			out := make([]ProtectedTag, 0, hi-lo)
			for _, r := range rs[lo:hi] {
				out = append(out, protectedTagEntity(r))
			}
			return q.json(http.StatusOK, out)
		}
		out := make([]ProtectedBranch, 0, hi-lo)
		for _, r := range rs[lo:hi] {
			out = append(out, protectedBranchEntity(r))
		}
		return q.json(http.StatusOK, out)
	}
}

// getProtected is GET /projects/:id/protected_branches/:name and …/protected_tags/:name.
func (s *Server) getProtected(kind ci.RefKind) func(q *req) error {
	return func(q *req) error {
		p, err := s.adminProject(q)
		if err != nil {
			return err
		}
		_, r, err := s.protectedRefs(q, p, kind)
		if err != nil {
			return err
		}
		if kind == ci.TagRef {
			return q.json(http.StatusOK, protectedTagEntity(r))
		}
		return q.json(http.StatusOK, protectedBranchEntity(r))
	}
}

// protect is the common part of POST …/protected_branches and
// …/protected_tags: the maintainer check, the required name, then the rule
// that build makes from the parameters is stored; a taken name is what
// taken says.
func (s *Server) protect(q *req, build func(p *ci.Project, name string) (*ci.ProtectedRef, error),
	taken func(name string) error, entity func(*ci.ProtectedRef) any) error {
	p, err := s.adminProject(q)
	if err != nil {
		return err
	}
	name := q.p.Str("name")
	if name == "" {
		return ci.Invalid("name is missing")
	}
	r, err := build(p, name)
	if err != nil {
		return err
	}
	if err := s.store.CreateProtectedRef(q.ctx(), r); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return taken(name)
		}
		return err
	}
	return q.json(http.StatusCreated, entity(r))
}

// protectBranch is POST /projects/:id/protected_branches
// (lib/api/protected_branches.rb): push and merge default to maintainers,
// a taken name is 409.
func (s *Server) protectBranch(q *req) error {
	return s.protect(q, func(p *ci.Project, name string) (*ci.ProtectedRef, error) {
		push, err := q.refLevelParam("push_access_level")
		if err != nil {
			return nil, err
		}
		merge, err := q.refLevelParam("merge_access_level")
		if err != nil {
			return nil, err
		}
		r := &ci.ProtectedRef{ProjectID: p.ID, Kind: ci.BranchRef, Name: name, Access: []ci.RefAccess{
			{Action: ci.ActionPush, AccessLevel: push}, {Action: ci.ActionMerge, AccessLevel: merge}}}
		return r, q.branchFlags(r)
	}, func(name string) error {
		return &ci.Error{Code: ci.EConflict, Message: "Protected branch '" + name + "' already exists"}
	}, func(r *ci.ProtectedRef) any { return protectedBranchEntity(r) })
}

// branchFlags reads allow_force_push and code_owner_approval_required
// into r, keeping r's values for absent ones.
func (q *req) branchFlags(r *ci.ProtectedRef) error {
	var err error
	if r.AllowForcePush, err = q.p.Bool("allow_force_push", r.AllowForcePush); err != nil {
		return err
	}
	r.CodeOwnerApprovalRequired, err = q.p.Bool("code_owner_approval_required", r.CodeOwnerApprovalRequired)
	return err
}

// updateProtectedBranch is PATCH /projects/:id/protected_branches/:name.
func (s *Server) updateProtectedBranch(q *req) error {
	p, err := s.adminProject(q)
	if err != nil {
		return err
	}
	_, r, err := s.protectedRefs(q, p, ci.BranchRef)
	if err != nil {
		return err
	}
	if err := q.branchFlags(r); err != nil {
		return err
	}
	if err := s.store.UpdateProtectedRef(q.ctx(), r, false); err != nil {
		return err
	}
	return q.json(http.StatusOK, protectedBranchEntity(r))
}

// protectTag is POST /projects/:id/protected_tags (lib/api/protected_tags.rb):
// creation defaults to maintainers; a taken name is the model's 422.
func (s *Server) protectTag(q *req) error {
	return s.protect(q, func(p *ci.Project, name string) (*ci.ProtectedRef, error) {
		create, err := q.refLevelParam("create_access_level")
		if err != nil {
			return nil, err
		}
		return &ci.ProtectedRef{ProjectID: p.ID, Kind: ci.TagRef, Name: name,
			Access: []ci.RefAccess{{Action: ci.ActionCreate, AccessLevel: create}}}, nil
	}, func(string) error {
		return &ci.Error{Code: ci.EUnprocessable, Message: "Name has already been taken",
			Body: []string{"Name has already been taken"}}
	}, func(r *ci.ProtectedRef) any { return protectedTagEntity(r) })
}

// unprotect is DELETE /projects/:id/protected_branches/:name and …/protected_tags/:name.
func (s *Server) unprotect(kind ci.RefKind) func(q *req) error {
	return func(q *req) error {
		p, err := s.adminProject(q)
		if err != nil {
			return err
		}
		_, r, err := s.protectedRefs(q, p, kind)
		if err != nil {
			return err
		}
		if err := s.store.DeleteProtectedRef(q.ctx(), r.ID); err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// refWritable is the protected_ref condition of GitLab's Ci::BuildPolicy
// and Ci::PipelinePolicy: retrying, playing, canceling or erasing a job or
// pipeline of a protected ref needs the right to update that ref (push or
// merge; create for a tag), so that a developer cannot rerun a protected
// pipeline, with its protected variables, with inputs of their own.
func (s *Server) refWritable(q *req, p *ci.Project, ref string, tag bool, lvl ci.AccessLevel) error {
	rules, err := s.store.ProtectedRefs(q.ctx(), p.ID)
	if err != nil {
		return err
	}
	if !rules.CanUpdate(ref, tag, lvl) {
		return ci.ErrForbidden
	}
	return nil
}
