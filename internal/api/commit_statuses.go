package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/pipeline"
)

// createCommitStatus is POST /projects/:id/statuses/:sha (GitLab's
// lib/api/commit_statuses.rb and Ci::CreateCommitStatusService): an
// external system reports a status, which becomes an external job of a
// pipeline of the commit.
func (s *Server) createCommitStatus(q *req) error {
	state := q.p.Str("state")
	if !pipeline.ValidStatusState(state) {
		if !q.p.Has("state") {
			return ci.Invalid("state is missing, state does not have a valid value")
		}
		return ci.Invalid("state does not have a valid value")
	}
	var coverage *float64
	if q.p.Has("coverage") {
		c, err := strconv.ParseFloat(strings.TrimSpace(q.p.Str("coverage")), 64)
		if err != nil {
			return ci.Invalid("coverage is invalid")
		}
		coverage = &c
	}
	pipelineID, err := q.p.Int("pipeline_id", 0)
	if err != nil {
		return err
	}
	if err := validTargetURL(q.p.Str("target_url")); err != nil {
		return err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.CreateCommitStatus); err != nil {
		return err
	}
	name := q.p.Str("name")
	if name == "" {
		name = q.p.Str("context")
	}
	r := pipeline.StatusReport{Project: p, UserID: q.caller.User.ID, Role: lvl, SHA: q.r.PathValue("sha"),
		State: state, Ref: q.p.Str("ref"), Name: name, PipelineID: pipelineID, Coverage: coverage,
		TargetURL: optStr(q, "target_url"), Description: optStr(q, "description")}
	j, err := s.eng.ReportStatus(q.ctx(), r)
	if err != nil {
		return err
	}
	pl, err := s.store.PipelineByID(q.ctx(), j.PipelineID)
	if err != nil {
		return err
	}
	return q.json(http.StatusCreated, s.commitStatusEntity(q, pl.SHA, j, map[int64]*UserBasic{}))
}

// validTargetURL is GenericCommitStatus's target_url validation
// (addressable_url, at most 255 characters), answered as a model error.
func validTargetURL(v string) error {
	if v == "" {
		return nil
	}
	var msg string
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		msg = "must be a valid URL"
	} else if len(v) > 255 {
		msg = "is too long (maximum is 255 characters)"
	} else {
		return nil
	}
	return &ci.Error{Code: ci.EBadRequest, Message: "target_url " + msg, Body: map[string][]string{"target_url": {msg}}}
}

// commitStatusEntity renders a job as API::Entities::CommitStatus; users
// caches authors across a list.
func (s *Server) commitStatusEntity(q *req, sha string, j *ci.Job, users map[int64]*UserBasic) *CommitStatus {
	author, ok := users[j.UserID]
	if !ok {
		if u, err := s.store.UserByID(q.ctx(), j.UserID); err == nil {
			ub := s.userBasic(u)
			author = &ub
		}
		users[j.UserID] = author
	}
	return &CommitStatus{ID: j.ID, SHA: sha, Ref: j.Ref, Status: string(j.Status), Name: j.Name,
		TargetURL: j.TargetURL, Description: j.Description,
		CreatedAt: Time{j.CreatedAt}, StartedAt: timePtr(j.StartedAt), FinishedAt: timePtr(j.FinishedAt),
		AllowFailure: j.AllowFailure, Coverage: j.Coverage, PipelineID: j.PipelineID, Author: author}
}

// optStr is a string parameter that is only set when given.
func optStr(q *req, k string) *string {
	if !q.p.Has(k) {
		return nil
	}
	v := q.p.Str(k)
	return &v
}
