package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
)

// Pipeline trigger tokens (lib/api/ci/triggers.rb, app/models/ci/trigger.rb).

// triggerTokenPrefix is Ci::Trigger::TRIGGER_TOKEN_PREFIX.
const triggerTokenPrefix = "glptt-"

var errTriggerNotFound = ci.NotFound("Trigger")

// TriggerEntity is API::Entities::Trigger. The token is whole only in the
// answer that creates it: Gantry keeps a digest, so later answers carry the
// short token GitLab shows to non-owners (TriggerPresenter#token).
type TriggerEntity struct {
	ID          int64      `json:"id"`
	Token       string     `json:"token"`
	Description string     `json:"description"`
	CreatedAt   Time       `json:"created_at"`
	UpdatedAt   Time       `json:"updated_at"`
	LastUsed    *Time      `json:"last_used"`
	ExpiresAt   *Time      `json:"expires_at"`
	Owner       *UserBasic `json:"owner"`
}

func (s *Server) triggerEntity(ctx context.Context, t *ci.Trigger) TriggerEntity {
	e := TriggerEntity{ID: t.ID, Token: t.Token, Description: t.Description, CreatedAt: Time{t.CreatedAt},
		UpdatedAt: Time{t.UpdatedAt}, LastUsed: tp(t.LastUsed), ExpiresAt: tp(t.ExpiresAt)}
	if e.Token == "" {
		e.Token = t.TokenShort
	}
	if u, err := s.store.UserByID(ctx, t.OwnerID); err == nil {
		ub := s.userBasic(u)
		e.Owner = &ub
	}
	return e
}

func (s *Server) triggersProject(q *req) (*ci.Project, error) {
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, err
	}
	if err := q.can(p, lvl, access.AdminBuild); err != nil {
		return nil, err
	}
	return p, nil
}

// findTrigger resolves :id (admin_build) and then :trigger_id in it.
func (s *Server) findTrigger(q *req) (*ci.Project, *ci.Trigger, error) {
	p, err := s.triggersProject(q)
	if err != nil {
		return nil, nil, err
	}
	id, err := q.pathInt("trigger_id")
	if err != nil {
		return nil, nil, err
	}
	t, err := s.store.TriggerByID(q.ctx(), p.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errTriggerNotFound
	}
	return p, t, err
}

// listTriggers is GET /projects/:id/triggers.
func (s *Server) listTriggers(q *req) error {
	pg, err := q.page()
	if err != nil {
		return err
	}
	p, err := s.triggersProject(q)
	if err != nil {
		return err
	}
	ts, err := s.store.ListTriggers(q.ctx(), p.ID, pg.PerPage+1, pg.offset())
	if err != nil {
		return err
	}
	total, err := s.store.CountTriggers(q.ctx(), p.ID)
	if err != nil {
		return err
	}
	more := len(ts) > pg.PerPage
	if more {
		ts = ts[:pg.PerPage]
	}
	out := make([]TriggerEntity, 0, len(ts))
	for _, t := range ts {
		out = append(out, s.triggerEntity(q.ctx(), t))
	}
	s.offsetHeaders(q, pg, more, total)
	return q.json(http.StatusOK, out)
}

// getTrigger is GET /projects/:id/triggers/:trigger_id.
func (s *Server) getTrigger(q *req) error {
	_, t, err := s.findTrigger(q)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, s.triggerEntity(q.ctx(), t))
}

// createTrigger is POST /projects/:id/triggers (description required).
func (s *Server) createTrigger(q *req) error {
	if !q.p.Has("description") {
		return ci.Invalid("description is missing")
	}
	p, err := s.triggersProject(q)
	if err != nil {
		return err
	}
	token := auth.NewToken(triggerTokenPrefix, 40)
	now := s.now()
	t := &ci.Trigger{ProjectID: p.ID, OwnerID: q.caller.User.ID, Description: q.p.Str("description"), Token: token,
		TokenDigest: auth.Digest(token), TokenShort: token[len(triggerTokenPrefix) : len(triggerTokenPrefix)+4],
		CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateTrigger(q.ctx(), t); err != nil {
		return err
	}
	return q.json(http.StatusCreated, s.triggerEntity(q.ctx(), t))
}

// updateTrigger is PUT /projects/:id/triggers/:trigger_id.
func (s *Server) updateTrigger(q *req) error {
	_, t, err := s.findTrigger(q)
	if err != nil {
		return err
	}
	if q.p.Has("description") {
		t.Description = q.p.Str("description")
		t.UpdatedAt = s.now()
		if err := s.store.UpdateTrigger(q.ctx(), t); err != nil {
			return err
		}
	}
	return q.json(http.StatusOK, s.triggerEntity(q.ctx(), t))
}

// deleteTrigger is DELETE /projects/:id/triggers/:trigger_id: 204.
func (s *Server) deleteTrigger(q *req) error {
	p, t, err := s.findTrigger(q)
	if err != nil {
		return err
	}
	if err := s.store.DeleteTrigger(q.ctx(), p.ID, t.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errTriggerNotFound
		}
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// triggerPipeline is POST /projects/:id/trigger/pipeline
// (Ci::PipelineTriggerService): a trigger token makes a pipeline of source
// "trigger" as its owner; a running job's CI_JOB_TOKEN makes one of source
// "pipeline" as the job's user. Anything else is 404, so that neither the
// project nor the token can be probed.
// triggerPipelineRef is POST /projects/:id/ref/{ref...}/trigger/pipeline:
// ServeMux cannot put a suffix after a multi-segment wildcard, so the
// suffix is checked here and the ref set for triggerPipeline.
func (s *Server) triggerPipelineRef() http.HandlerFunc {
	h := s.handle(hopts{}, s.triggerPipeline)
	return func(w http.ResponseWriter, r *http.Request) {
		ref, ok := strings.CutSuffix(r.PathValue("rest"), "/trigger/pipeline")
		if !ok || ref == "" {
			s.notFound(w, r)
			return
		}
		r.SetPathValue("ref", ref)
		h(w, r)
	}
}

func (s *Server) triggerPipeline(q *req) error {
	if !q.p.Has("token") {
		return ci.Invalid("token is missing")
	}
	// The ref comes from the path in the webhook form
	// POST /projects/:id/ref/:ref/trigger/pipeline?token=….
	ref := q.r.PathValue("ref")
	if ref == "" {
		if !q.p.Has("ref") {
			return ci.Invalid("ref is missing")
		}
		ref = q.p.Str("ref")
	}
	vars, err := triggerVariables(q)
	if err != nil {
		return err
	}
	inputs, err := pipelineInputs(q)
	if err != nil {
		return err
	}
	p, err := s.projectByParam(q)
	if err != nil {
		return err
	}
	token := q.p.Str("token")
	req := pipeline.CreateRequest{Project: p, Ref: ref, Variables: vars, Inputs: inputs}
	var trig *ci.Trigger
	if strings.HasPrefix(token, triggerTokenPrefix) || !strings.HasPrefix(token, "glcbt-") {
		t, err := s.store.TriggerByDigest(q.ctx(), auth.Digest(token))
		if err != nil || t.ProjectID != p.ID {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if job, jerr := s.policy.RunningJob(q.ctx(), token); jerr == nil {
				return s.triggerFromJob(q, p, job, req)
			}
			return ci.ErrNotFoundGeneric
		}
		trig = t
	} else {
		job, err := s.policy.RunningJob(q.ctx(), token)
		if err != nil {
			return ci.ErrNotFoundGeneric
		}
		return s.triggerFromJob(q, p, job, req)
	}
	owner, err := s.store.UserByID(q.ctx(), trig.OwnerID)
	if err != nil {
		return ci.ErrNotFoundGeneric
	}
	// The owner must still be allowed to create pipelines here.
	caller := &access.Caller{User: owner}
	if err := s.policy.Can(q.ctx(), caller, p, access.ReadProject); err != nil {
		return ci.ErrNotFoundGeneric
	}
	if err := s.policy.Can(q.ctx(), caller, p, access.CreatePipeline); err != nil {
		return err
	}
	req.Source, req.UserID = "trigger", owner.ID
	pl, err := s.eng.Create(q.ctx(), req)
	if err != nil {
		return err
	}
	if err := s.store.TouchTrigger(q.ctx(), trig.ID, s.now()); err != nil {
		s.log.Warn("trigger last_used", "trigger", trig.ID, "err", err)
	}
	return s.writePipeline(q, p, pl, http.StatusCreated, false)
}

// triggerFromJob is create_pipeline_from_job: the job's user creates the
// pipeline, subject to the job token scope of the target project.
func (s *Server) triggerFromJob(q *req, p *ci.Project, job *ci.Job, req pipeline.CreateRequest) error {
	u, err := s.store.UserByID(q.ctx(), job.UserID)
	if err != nil {
		return ci.ErrNotFoundGeneric
	}
	caller := &access.Caller{User: u, Job: job}
	if err := s.policy.Can(q.ctx(), caller, p, access.ReadProject); err != nil {
		return err
	}
	// The job's user, not the token's reporter ceiling, decides creation.
	if err := s.policy.Can(q.ctx(), &access.Caller{User: u}, p, access.CreatePipeline); err != nil {
		return err
	}
	req.Source, req.UserID = "pipeline", u.ID
	pl, err := s.eng.Create(q.ctx(), req)
	if err != nil {
		return err
	}
	return s.writePipeline(q, p, pl, http.StatusCreated, false)
}

// triggerVariables reads variables as GitLab's trigger API takes them: a
// hash (variables[KEY]=value, or a JSON object).
func triggerVariables(q *req) ([]ci.Variable, error) {
	var out []ci.Variable
	if raw, ok := q.p.Raw("variables"); ok {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, ci.Invalid("variables is invalid")
		}
		for k, v := range m {
			sv, ok := v.(string)
			if !ok {
				return nil, ci.Invalid("variables is invalid")
			}
			out = append(out, ci.Variable{Key: k, Value: sv})
		}
		slices.SortFunc(out, func(a, b ci.Variable) int { return cmp.Compare(a.Key, b.Key) })
		return out, nil
	}
	for k, vs := range q.p.Form() {
		key, ok := strings.CutPrefix(k, "variables[")
		if !ok || !strings.HasSuffix(key, "]") || len(vs) == 0 {
			continue
		}
		out = append(out, ci.Variable{Key: strings.TrimSuffix(key, "]"), Value: vs[0]})
	}
	slices.SortFunc(out, func(a, b ci.Variable) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}
