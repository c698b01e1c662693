package api

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/pipeline"
)

// Branch and tag writes (GitLab's lib/api/branches.rb and tags.rb with
// Branches::CreateService, DeleteService, DeleteMergedService and
// Tags::CreateService, DestroyService). GitLab makes these through Gitaly,
// whose pre-receive check judges them "from the web": the same protected
// ref rules as a push (ci.ProtectedRefs.CheckPush with Web set), their
// refusals answered 400 with the check's message. A created branch or tag
// starts pipelines as a push does.

// bad is render_api_error!(message, 400): the message as is.
func bad(msg string) error { return &ci.Error{Code: ci.EBadRequest, Message: msg} }

// refRole is the caller's role for protected ref rules: administrators
// count as ci.Admin (ProtectedRefAccess#check_access lets them through).
func refRole(q *req, lvl ci.AccessLevel) ci.AccessLevel {
	if q.caller.Admin() {
		return ci.Admin
	}
	return lvl
}

// writableRepo resolves :id for a ref write the caller must be allowed
// (push_code, which admin_tag follows), and the repository.
func (s *Server) writableRepo(q *req) (*ci.Project, ci.AccessLevel, *gitrepo.Repo, error) {
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, 0, nil, err
	}
	if err := q.can(p, lvl, access.PushCode); err != nil {
		return nil, 0, nil, err
	}
	return p, lvl, s.eng.Repo(p.ID), nil
}

// checkRefChange applies the protected ref rules to a change from the API.
func (s *Server) checkRefChange(q *req, p *ci.Project, lvl ci.AccessLevel, c ci.RefChange) error {
	rules, err := s.store.ProtectedRefs(q.ctx(), p.ID)
	if err != nil {
		return err
	}
	c.Default, c.Web = p.DefaultBranch, true
	if v := rules.CheckPush(c, refRole(q, lvl)); v.Deny != "" {
		return bad(v.Deny)
	}
	return nil
}

// resolveTarget is the commit a new branch or tag points at; nil when the
// revision does not name one.
func resolveTarget(q *req, repo *gitrepo.Repo, rev string) (*gitrepo.Commit, error) {
	if strings.HasPrefix(rev, "-") {
		return nil, nil
	}
	c, err := repo.Commit(q.ctx(), rev)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return c, err
}

// repoExists reports whether anything was ever pushed (the bare
// repository is made by the first push).
func repoExists(repo *gitrepo.Repo) bool {
	_, err := os.Stat(repo.Dir)
	return err == nil
}

// requireParams is Grape's requires with allow_blank: false.
func requireParams(q *req, keys ...string) error {
	var msgs []string
	for _, k := range keys {
		switch {
		case !q.p.Has(k):
			msgs = append(msgs, k+" is missing")
		case strings.TrimSpace(q.p.Str(k)) == "":
			msgs = append(msgs, k+" is empty")
		}
	}
	if len(msgs) > 0 {
		return ci.Invalid("%s", strings.Join(msgs, ", "))
	}
	return nil
}

func (s *Server) createBranch(q *req) error {
	if err := requireParams(q, "branch", "ref"); err != nil {
		return err
	}
	p, lvl, repo, err := s.writableRepo(q)
	if err != nil {
		return err
	}
	name, ref := q.p.Str("branch"), q.p.Str("ref")
	if !repoExists(repo) {
		return bad("Failed to create branch '" + name + "': invalid reference name '" + ref + "'")
	}
	c, err := resolveTarget(q, repo, ref)
	if err != nil {
		return err
	}
	if !gitrepo.ValidRefName(q.ctx(), name) {
		return bad("Branch name is invalid")
	}
	if ok, err := repo.BranchExists(q.ctx(), name); err != nil {
		return err
	} else if ok {
		return bad("Branch already exists")
	}
	if c == nil {
		return bad("Failed to create branch '" + name + "': invalid reference name '" + ref + "'")
	}
	full := "refs/heads/" + name
	if err := s.checkRefChange(q, p, lvl, ci.RefChange{Ref: full, Create: true}); err != nil {
		return err
	}
	if err := repo.CompareAndSwapRef(q.ctx(), full, pipeline.ZeroSHA, c.ID); errors.Is(err, gitrepo.ErrRefChanged) {
		return bad("Branch already exists")
	} else if err != nil {
		return bad("Failed to create branch '" + name + "': " + err.Error())
	}
	s.eng.RefsWritten(q.ctx(), p.ID, q.caller.User.ID, []pipeline.RefUpdate{{Ref: full, OldSHA: pipeline.ZeroSHA, NewSHA: c.ID}})
	out, err := s.branches(q, p, lvl, []gitrepo.Ref{{Name: name, Target: c.ID, Commit: c.ID}})
	if err != nil {
		return err
	}
	return q.json(http.StatusCreated, out[0])
}

// findRef is the branch or tag name among refs.
func findRef(refs []gitrepo.Ref, name string) (gitrepo.Ref, bool) {
	for _, r := range refs {
		if r.Name == name {
			return r, true
		}
	}
	return gitrepo.Ref{}, false
}

// deleteRef is DELETE …/branches/:branch and …/tags/:tag_name: 204, after
// the protected ref rules, with the ref's value checked as it goes.
func (s *Server) deleteRef(tag bool) func(q *req) error {
	param, prefix, resource, failed := "branch", "refs/heads/", "Branch", "Failed to remove branch"
	if tag {
		param, prefix, resource, failed = "tag_name", "refs/tags/", "Tag", "Failed to remove tag"
	}
	return func(q *req) error {
		p, lvl, repo, err := s.writableRepo(q)
		if err != nil {
			return err
		}
		if !repoExists(repo) {
			return ci.NotFound(resource)
		}
		list := repo.Branches
		if tag {
			list = repo.Tags
		}
		refs, err := list(q.ctx())
		if err != nil {
			return err
		}
		name := q.r.PathValue(param)
		r, ok := findRef(refs, name)
		if !ok {
			return ci.NotFound(resource)
		}
		full := prefix + name
		if err := s.checkRefChange(q, p, lvl, ci.RefChange{Ref: full, Delete: true}); err != nil {
			return err
		}
		if err := repo.CompareAndSwapRef(q.ctx(), full, r.Target, pipeline.ZeroSHA); err != nil {
			if errors.Is(err, gitrepo.ErrRefChanged) {
				return bad(failed)
			}
			return err
		}
		q.w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// deleteMergedBranches is DELETE …/repository/merged_branches: branches
// merged into the default branch go, except the default branch and
// protected ones (Branches::DeleteMergedService). GitLab does it in a
// worker after answering 202; here it is done before answering.
func (s *Server) deleteMergedBranches(q *req) error {
	p, _, repo, err := s.writableRepo(q)
	if err != nil {
		return err
	}
	if p.DefaultBranch != "" && repoExists(repo) {
		merged, err := repo.MergedBranches(q.ctx(), "refs/heads/"+p.DefaultBranch)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		rules, err := s.store.ProtectedRefs(q.ctx(), p.ID)
		if err != nil {
			return err
		}
		refs, err := repo.Branches(q.ctx())
		if err != nil {
			return err
		}
		for _, b := range refs {
			if !merged[b.Name] || b.Name == p.DefaultBranch || rules.Protected(b.Name, false) {
				continue
			}
			// A branch moved meanwhile is no longer known to be merged.
			if err := repo.CompareAndSwapRef(q.ctx(), "refs/heads/"+b.Name, b.Target, pipeline.ZeroSHA); err != nil && !errors.Is(err, gitrepo.ErrRefChanged) {
				return err
			}
		}
	}
	return q.json(http.StatusAccepted, map[string]string{"message": "202 Accepted"})
}

func (s *Server) createTag(q *req) error {
	if !q.p.Has("tag_name") || !q.p.Has("ref") {
		var msgs []string
		for _, k := range []string{"tag_name", "ref"} {
			if !q.p.Has(k) {
				msgs = append(msgs, k+" is missing")
			}
		}
		return ci.Invalid("%s", strings.Join(msgs, ", "))
	}
	p, lvl, repo, err := s.writableRepo(q)
	if err != nil {
		return err
	}
	name, ref, msg := q.p.Str("tag_name"), q.p.Str("ref"), strings.TrimSpace(q.p.Str("message"))
	if strings.TrimSpace(ref) == "" {
		return bad("Target is empty")
	}
	if !repoExists(repo) {
		return bad("Failed to create a tag: " + name)
	}
	if !gitrepo.ValidRefName(q.ctx(), name) {
		return bad("Tag name invalid")
	}
	if ok, err := repo.TagExists(q.ctx(), name); err != nil {
		return err
	} else if ok {
		return bad("Tag " + name + " already exists")
	}
	c, err := resolveTarget(q, repo, ref)
	if err != nil {
		return err
	}
	if c == nil {
		return bad("Target " + ref + " is invalid")
	}
	full := "refs/tags/" + name
	if err := s.checkRefChange(q, p, lvl, ci.RefChange{Ref: full, Create: true}); err != nil {
		return err
	}
	target := c.ID
	if msg != "" {
		u := q.caller.User
		if target, err = repo.CreateAnnotatedTag(q.ctx(), name, c.ID, msg, u.Name, u.Email, s.now()); err != nil {
			return err
		}
	}
	if err := repo.CompareAndSwapRef(q.ctx(), full, pipeline.ZeroSHA, target); errors.Is(err, gitrepo.ErrRefChanged) {
		return bad("Tag " + name + " already exists")
	} else if err != nil {
		return err
	}
	s.eng.RefsWritten(q.ctx(), p.ID, q.caller.User.ID, []pipeline.RefUpdate{{Ref: full, OldSHA: pipeline.ZeroSHA, NewSHA: target}})
	refs, err := repo.Tags(q.ctx())
	if err != nil {
		return err
	}
	t, ok := findRef(refs, name)
	if !ok {
		return ci.NotFound("Tag")
	}
	out, err := s.tagEntities(q, p, []gitrepo.Ref{t})
	if err != nil {
		return err
	}
	return q.json(http.StatusCreated, out[0])
}
