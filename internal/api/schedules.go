package api

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// Pipeline schedules (lib/api/ci/pipeline_schedules.rb,
// app/models/ci/pipeline_schedule.rb, app/services/ci/pipeline_schedules/).
// The scheduler that runs them is the engine's (pipeline.RunSchedules).

var (
	errScheduleNotFound         = ci.NotFound("Pipeline Schedule")
	errScheduleVariableNotFound = ci.NotFound("Pipeline Schedule Variable")
)

// PipelineScheduleEntity is API::Entities::Ci::PipelineSchedule.
type PipelineScheduleEntity struct {
	ID           int64              `json:"id"`
	Description  string             `json:"description"`
	Ref          string             `json:"ref"`
	Cron         string             `json:"cron"`
	CronTimezone string             `json:"cron_timezone"`
	NextRunAt    *Time              `json:"next_run_at"`
	Active       bool               `json:"active"`
	CreatedAt    Time               `json:"created_at"`
	UpdatedAt    Time               `json:"updated_at"`
	Owner        *UserBasic         `json:"owner"`
	Inputs       []ci.ScheduleInput `json:"inputs"`
}

// PipelineScheduleDetails is API::Entities::Ci::PipelineScheduleDetails:
// variables only for whoever may read them (read_pipeline_schedule_variables
// of the user the entity is presented to; GitLab presents create, update
// and take_ownership answers to nobody, so they never carry variables).
type PipelineScheduleDetails struct {
	PipelineScheduleEntity
	LastPipeline *PipelineBasic            `json:"last_pipeline"`
	Variables    *[]ScheduleVariableEntity `json:"variables,omitempty"`
}

// ScheduleVariableEntity is API::Entities::Ci::Variable for a
// Ci::PipelineScheduleVariable, which has none of the optional keys.
type ScheduleVariableEntity struct {
	VariableType string `json:"variable_type"`
	Key          string `json:"key"`
	Value        string `json:"value"`
}

func scheduleVariableJSON(v *ci.ScheduleVariable) ScheduleVariableEntity {
	return ScheduleVariableEntity{VariableType: v.VariableType, Key: v.Key, Value: v.Value}
}

func (s *Server) scheduleEntity(ctx context.Context, sc *ci.PipelineSchedule, owners map[int64]*ci.User) PipelineScheduleEntity {
	e := PipelineScheduleEntity{ID: sc.ID, Description: sc.Description, Ref: sc.Ref, Cron: sc.Cron,
		CronTimezone: sc.CronTimezone, NextRunAt: tp(sc.NextRunAt), Active: sc.Active, CreatedAt: Time{sc.CreatedAt},
		UpdatedAt: Time{sc.UpdatedAt}, Inputs: sc.Inputs}
	if e.Inputs == nil {
		e.Inputs = []ci.ScheduleInput{}
	}
	u, ok := owners[sc.OwnerID]
	if !ok && owners == nil && sc.OwnerID != 0 {
		u, _ = s.store.UserByID(ctx, sc.OwnerID)
	}
	if u != nil {
		ub := s.userBasic(u)
		e.Owner = &ub
	}
	return e
}

// scheduleDetails presents a schedule with its last pipeline, and its
// variables when withVars.
func (s *Server) scheduleDetails(q *req, p *ci.Project, sc *ci.PipelineSchedule, withVars bool) (*PipelineScheduleDetails, error) {
	d := &PipelineScheduleDetails{PipelineScheduleEntity: s.scheduleEntity(q.ctx(), sc, nil)}
	pls, err := s.store.ListPipelines(q.ctx(), store.PipelineFilter{ProjectID: p.ID, ScheduleID: sc.ID, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(pls) > 0 {
		d.LastPipeline = s.pipelineBasic(p, pls[0])
	}
	if withVars {
		vs, err := s.store.ScheduleVariables(q.ctx(), sc.ID)
		if err != nil {
			return nil, err
		}
		out := make([]ScheduleVariableEntity, 0, len(vs))
		for _, v := range vs {
			out = append(out, scheduleVariableJSON(v))
		}
		d.Variables = &out
	}
	return d, nil
}

// findSchedule resolves :id and :pipeline_schedule_id; a schedule the
// caller may not read is "404 Pipeline Schedule Not Found".
func (s *Server) findSchedule(q *req) (*ci.Project, ci.AccessLevel, *ci.PipelineSchedule, error) {
	id, err := q.pathInt("pipeline_schedule_id")
	if err != nil {
		return nil, 0, nil, err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, 0, nil, err
	}
	sc, err := s.store.PipelineScheduleByID(q.ctx(), p.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil, errScheduleNotFound
	}
	if err != nil {
		return nil, 0, nil, err
	}
	if access.AllowedSchedule(q.caller, p, lvl, sc, access.ReadPipelineSchedule) != nil {
		return nil, 0, nil, errScheduleNotFound
	}
	return p, lvl, sc, nil
}

// listSchedules is GET /projects/:id/pipeline_schedules.
func (s *Server) listSchedules(q *req) error {
	pg, err := q.page()
	if err != nil {
		return err
	}
	f := store.ScheduleFilter{Limit: pg.PerPage, Offset: pg.offset()}
	switch q.p.Str("scope") {
	case "":
	case "active", "inactive":
		active := q.p.Str("scope") == "active"
		f.Active = &active
	default:
		return ci.Invalid("scope does not have a valid value")
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.ReadPipeline); err != nil {
		return err
	}
	f.ProjectID = p.ID
	scs, err := s.store.ListPipelineSchedules(q.ctx(), f)
	if err != nil {
		return err
	}
	total, err := s.store.CountPipelineSchedules(q.ctx(), f)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(scs))
	for _, sc := range scs {
		ids = append(ids, sc.OwnerID)
	}
	owners, err := s.store.UsersByIDs(q.ctx(), ids)
	if err != nil {
		return err
	}
	out := make([]PipelineScheduleEntity, 0, len(scs))
	for _, sc := range scs {
		out = append(out, s.scheduleEntity(q.ctx(), sc, owners))
	}
	s.offsetHeaders(q, pg, pg.offset()+len(out) < total, total)
	return q.json(http.StatusOK, out)
}

// getSchedule is GET /projects/:id/pipeline_schedules/:pipeline_schedule_id.
func (s *Server) getSchedule(q *req) error {
	p, lvl, sc, err := s.findSchedule(q)
	if err != nil {
		return err
	}
	withVars := access.AllowedSchedule(q.caller, p, lvl, sc, access.AdminPipelineSchedule) == nil
	d, err := s.scheduleDetails(q, p, sc, withVars)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, d)
}

// schedulePipelines is GET …/pipeline_schedules/:pipeline_schedule_id/pipelines
// (read_pipeline_schedule and read_pipeline), oldest first unless sort=desc.
func (s *Server) schedulePipelines(q *req) error {
	pg, err := q.page()
	if err != nil {
		return err
	}
	f := store.PipelineFilter{Limit: pg.PerPage, Offset: pg.offset(), Asc: true}
	switch so := q.p.Str("sort"); so {
	case "", "asc":
	case "desc":
		f.Asc = false
	default:
		return ci.Invalid("sort does not have a valid value")
	}
	if err := pipelineScopeStatus(q, &f); err != nil {
		return err
	}
	p, lvl, sc, err := s.findSchedule(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.ReadPipeline); err != nil {
		return err
	}
	f.ProjectID, f.ScheduleID = p.ID, sc.ID
	pls, err := s.pipelinesPage(q, pg, f)
	if err != nil {
		return err
	}
	out := make([]*PipelineBasic, 0, len(pls))
	for _, pl := range pls {
		out = append(out, s.pipelineBasic(p, pl))
	}
	return q.json(http.StatusOK, out)
}

// scheduleInvalid is render_validation_error! on a schedule: 400 with the
// model's messages by attribute.
func scheduleInvalid(msgs map[string][]string) error {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(msgs)) {
		for _, v := range msgs[k] {
			parts = append(parts, k+" "+strings.TrimSpace(v))
		}
	}
	return &ci.Error{Code: ci.EBadRequest, Message: strings.Join(parts, ", "), Body: msgs}
}

// applyScheduleParams assigns the given attributes (assign_attributes)
// and reads inputs; it answers Grape's parameter errors.
func applyScheduleParams(q *req, sc *ci.PipelineSchedule, update bool) error {
	for _, k := range []struct {
		name string
		dst  *string
	}{{"description", &sc.Description}, {"ref", &sc.Ref}, {"cron", &sc.Cron}, {"cron_timezone", &sc.CronTimezone}} {
		if q.p.Has(k.name) {
			*k.dst = q.p.Str(k.name)
		}
	}
	// strip_attributes! :cron
	sc.Cron = strings.TrimSpace(sc.Cron)
	if q.p.Has("active") {
		a, err := q.p.Bool("active", true)
		if err != nil {
			return err
		}
		sc.Active = a
	}
	raw, ok := q.p.Raw("inputs")
	if !ok {
		return nil
	}
	var given []struct {
		Name    *string         `json:"name"`
		Value   json.RawMessage `json:"value"`
		Destroy bool            `json:"destroy"`
	}
	if err := json.Unmarshal(raw, &given); err != nil {
		return ci.Invalid("inputs is invalid")
	}
	for i, in := range given {
		if in.Name == nil {
			return ci.Invalid("inputs[%d][name] is missing", i)
		}
		if in.Destroy && update {
			sc.Inputs = slicesDeleteInput(sc.Inputs, *in.Name)
			continue
		}
		if len(in.Value) == 0 {
			return ci.Invalid("inputs[%d][value] is missing", i)
		}
		var v any
		if err := json.Unmarshal(in.Value, &v); err != nil {
			return ci.Invalid("inputs[%d][value] is invalid", i)
		}
		switch v.(type) {
		case string, []any, float64, bool:
		default:
			return ci.Invalid("inputs[%d][value] is invalid", i)
		}
		replaced := false
		for j := range sc.Inputs {
			if sc.Inputs[j].Name == *in.Name {
				sc.Inputs[j].Value, replaced = v, true
			}
		}
		if !replaced {
			sc.Inputs = append(sc.Inputs, ci.ScheduleInput{Name: *in.Name, Value: v})
		}
	}
	return nil
}

func slicesDeleteInput(in []ci.ScheduleInput, name string) []ci.ScheduleInput {
	out := in[:0]
	for _, x := range in {
		if x.Name != name {
			out = append(out, x)
		}
	}
	return out
}

// expandScheduleRef is Ci::PipelineSchedule#expand_short_ref: a short
// name becomes refs/heads/… or refs/tags/… when exactly one of the two
// exists; otherwise it stays as given.
func (s *Server) expandScheduleRef(ctx context.Context, p *ci.Project, ref string) string {
	if ref == "" {
		return ref
	}
	if _, _, ok := ci.SplitFullRef(ref); ok {
		return ref
	}
	repo := s.eng.Repo(p.ID)
	branch, err := repo.BranchExists(ctx, ref)
	if err != nil {
		branch = false
	}
	tag, err := repo.TagExists(ctx, ref)
	if err != nil {
		tag = false
	}
	switch {
	case branch && !tag:
		return ci.BranchRefPrefix + ref
	case tag && !branch:
		return ci.TagRefPrefix + ref
	}
	return ref
}

// saveSchedule is Ci::PipelineSchedules::BaseSaveService#execute after the
// attributes are assigned: the ability (protected refs included), the ref
// expansion, the model's validations, then next_run_at (set on every save,
// Schedulable) and the write.
func (s *Server) saveSchedule(q *req, p *ci.Project, lvl ci.AccessLevel, sc *ci.PipelineSchedule, create bool) error {
	ability, denied := access.UpdatePipelineSchedule, "The current user is not authorized to update the pipeline schedule"
	if create {
		ability, denied = access.CreatePipelineSchedule, "The current user is not authorized to create the pipeline schedule"
	}
	expanded := s.expandScheduleRef(q.ctx(), p, sc.Ref)
	probe := *sc
	probe.Ref = expanded
	if err := s.policy.CanSchedule(q.ctx(), q.caller, p, lvl, &probe, ability); err != nil {
		if ci.CodeOf(err) != ci.EForbidden {
			return err
		}
		return scheduleInvalid(map[string][]string{"base": {denied}})
	}
	sc.Ref = expanded
	if _, _, ok := ci.SplitFullRef(sc.Ref); !ok {
		return scheduleInvalid(map[string][]string{"ref": {"is ambiguous"}})
	}
	msgs := map[string][]string{}
	if sc.Cron == "" {
		msgs["cron"] = append(msgs["cron"], "can't be blank")
	}
	if !ci.ValidCron(sc.Cron) {
		// CronValidator's message carries its leading space.
		msgs["cron"] = append(msgs["cron"], " is invalid syntax")
	}
	if !ci.ValidCronTimezone(sc.CronTimezone) {
		msgs["cron_timezone"] = append(msgs["cron_timezone"], "syntax is invalid")
	}
	if sc.CronTimezone == "" {
		msgs["cron_timezone"] = append(msgs["cron_timezone"], "can't be blank")
	}
	if strings.TrimSpace(sc.Description) == "" {
		msgs["description"] = append(msgs["description"], "can't be blank")
	}
	if len(msgs) > 0 {
		return scheduleInvalid(msgs)
	}
	now := s.now()
	next, _ := sc.NextRun(now)
	sc.NextRunAt = &next
	if next.IsZero() {
		sc.NextRunAt = nil
	}
	sc.UpdatedAt = now
	if create {
		sc.CreatedAt = now
		return s.store.CreatePipelineSchedule(q.ctx(), sc)
	}
	return s.store.UpdatePipelineSchedule(q.ctx(), sc)
}

// createSchedule is POST /projects/:id/pipeline_schedules.
func (s *Server) createSchedule(q *req) error {
	var missing []string
	for _, k := range []string{"description", "ref", "cron"} {
		if !q.p.Has(k) {
			missing = append(missing, k+" is missing")
		}
	}
	if len(missing) > 0 {
		return ci.Invalid("%s", strings.Join(missing, ", "))
	}
	if strings.TrimSpace(q.p.Str("ref")) == "" {
		return ci.Invalid("ref is empty")
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.CreatePipelineSchedule); err != nil {
		return err
	}
	sc := &ci.PipelineSchedule{ProjectID: p.ID, OwnerID: q.caller.User.ID, CronTimezone: "UTC", Active: true}
	if err := applyScheduleParams(q, sc, false); err != nil {
		return err
	}
	if err := s.saveSchedule(q, p, lvl, sc, true); err != nil {
		return err
	}
	d, err := s.scheduleDetails(q, p, sc, false)
	if err != nil {
		return err
	}
	return q.json(http.StatusCreated, d)
}

// updateSchedule is PUT …/pipeline_schedules/:pipeline_schedule_id.
func (s *Server) updateSchedule(q *req) error {
	p, lvl, sc, err := s.findSchedule(q)
	if err != nil {
		return err
	}
	if err := access.AllowedSchedule(q.caller, p, lvl, sc, access.UpdatePipelineSchedule); err != nil {
		return err
	}
	if err := applyScheduleParams(q, sc, true); err != nil {
		return err
	}
	if err := s.saveSchedule(q, p, lvl, sc, false); err != nil {
		return err
	}
	d, err := s.scheduleDetails(q, p, sc, false)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, d)
}

// takeScheduleOwnership is POST …/:pipeline_schedule_id/take_ownership:
// 200 when the caller owns it already, else 201 with the new owner.
func (s *Server) takeScheduleOwnership(q *req) error {
	p, lvl, sc, err := s.findSchedule(q)
	if err != nil {
		return err
	}
	if err := access.AllowedSchedule(q.caller, p, lvl, sc, access.AdminPipelineSchedule); err != nil {
		return err
	}
	status := http.StatusOK
	if sc.OwnerID != q.caller.User.ID {
		now := s.now()
		sc.OwnerID, sc.UpdatedAt = q.caller.User.ID, now
		if next, ok := sc.NextRun(now); ok {
			sc.NextRunAt = &next
		}
		if err := s.store.UpdatePipelineSchedule(q.ctx(), sc); err != nil {
			return err
		}
		status = http.StatusCreated
	}
	d, err := s.scheduleDetails(q, p, sc, false)
	if err != nil {
		return err
	}
	return q.json(status, d)
}

// deleteSchedule is DELETE …/pipeline_schedules/:pipeline_schedule_id: 204.
func (s *Server) deleteSchedule(q *req) error {
	p, lvl, sc, err := s.findSchedule(q)
	if err != nil {
		return err
	}
	if err := access.AllowedSchedule(q.caller, p, lvl, sc, access.AdminPipelineSchedule); err != nil {
		return err
	}
	if err := s.store.DeletePipelineSchedule(q.ctx(), p.ID, sc.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errScheduleNotFound
		}
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// playSchedule is POST …/:pipeline_schedule_id/play
// (Ci::PipelineSchedules::PlayService): next_run_at is recomputed, then
// the pipeline is created for the caller. GitLab does that in a worker and
// answers 201 once it is queued, so a pipeline that cannot be created is
// only logged here too.
func (s *Server) playSchedule(q *req) error {
	p, lvl, sc, err := s.findSchedule(q)
	if err != nil {
		return err
	}
	if err := s.policy.CanSchedule(q.ctx(), q.caller, p, lvl, sc, access.PlayPipelineSchedule); err != nil {
		return err
	}
	now := s.now()
	if next, ok := sc.NextRun(now); ok {
		if sc.NextRunAt == nil {
			sc.NextRunAt, sc.UpdatedAt = &next, now
			if err := s.store.UpdatePipelineSchedule(q.ctx(), sc); err != nil {
				return err
			}
		} else if _, err := s.store.ClaimPipelineSchedule(q.ctx(), sc.ID, *sc.NextRunAt, next, now); err != nil {
			return err
		}
	}
	if _, err := s.eng.RunSchedule(q.ctx(), sc, q.caller.User.ID); err != nil {
		s.log.Warn("Failed to create a scheduled pipeline", "schedule_id", sc.ID, "err", err)
	}
	return q.json(http.StatusCreated, map[string]string{"message": "201 Created"})
}

// scheduleVariableType reads variable_type (env_var by default).
func scheduleVariableType(q *req, def string) (string, error) {
	if !q.p.Has("variable_type") {
		return def, nil
	}
	switch vt := q.p.Str("variable_type"); vt {
	case "env_var", "file":
		return vt, nil
	}
	return "", ci.Invalid("variable_type does not have a valid value")
}

// scheduleForVariables resolves the schedule and checks
// set_pipeline_variables on the project and ability on the schedule.
func (s *Server) scheduleForVariables(q *req, ability access.Action) (*ci.PipelineSchedule, error) {
	p, lvl, sc, err := s.findSchedule(q)
	if err != nil {
		return nil, err
	}
	if err := q.can(p, lvl, access.SetPipelineVariables); err != nil {
		return nil, err
	}
	if err := access.AllowedSchedule(q.caller, p, lvl, sc, ability); err != nil {
		return nil, err
	}
	return sc, nil
}

// findScheduleVariable is pipeline_schedule_variable.
func (s *Server) findScheduleVariable(q *req, sc *ci.PipelineSchedule) (*ci.ScheduleVariable, error) {
	vs, err := s.store.ScheduleVariables(q.ctx(), sc.ID)
	if err != nil {
		return nil, err
	}
	key := q.r.PathValue("key")
	for _, v := range vs {
		if v.Key == key {
			return v, nil
		}
	}
	return nil, errScheduleVariableNotFound
}

// getScheduleVariable is GET …/:pipeline_schedule_id/variables/:key
// (read_pipeline_schedule_variables).
func (s *Server) getScheduleVariable(q *req) error {
	p, lvl, sc, err := s.findSchedule(q)
	if err != nil {
		return err
	}
	if err := access.AllowedSchedule(q.caller, p, lvl, sc, access.AdminPipelineSchedule); err != nil {
		return err
	}
	v, err := s.findScheduleVariable(q, sc)
	if err != nil {
		return err
	}
	return q.json(http.StatusOK, scheduleVariableJSON(v))
}

// createScheduleVariable is POST …/:pipeline_schedule_id/variables.
func (s *Server) createScheduleVariable(q *req) error {
	var missing []string
	for _, k := range []string{"key", "value"} {
		if !q.p.Has(k) {
			missing = append(missing, k+" is missing")
		}
	}
	if len(missing) > 0 {
		return ci.Invalid("%s", strings.Join(missing, ", "))
	}
	vt, err := scheduleVariableType(q, "env_var")
	if err != nil {
		return err
	}
	sc, err := s.scheduleForVariables(q, access.UpdatePipelineSchedule)
	if err != nil {
		return err
	}
	v := &ci.ScheduleVariable{ScheduleID: sc.ID, Key: q.p.Str("key"), Value: q.p.Str("value"), VariableType: vt}
	if err := validVariableKey(v.Key); err != nil {
		return err
	}
	if err := s.store.CreateScheduleVariable(q.ctx(), v); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return variableInvalid("key", "has already been taken")
		}
		return err
	}
	return q.json(http.StatusCreated, scheduleVariableJSON(v))
}

// updateScheduleVariable is PUT …/:pipeline_schedule_id/variables/:key.
func (s *Server) updateScheduleVariable(q *req) error {
	if _, err := scheduleVariableType(q, ""); err != nil {
		return err
	}
	sc, err := s.scheduleForVariables(q, access.UpdatePipelineSchedule)
	if err != nil {
		return err
	}
	v, err := s.findScheduleVariable(q, sc)
	if err != nil {
		return err
	}
	if q.p.Has("value") {
		v.Value = q.p.Str("value")
	}
	if v.VariableType, err = scheduleVariableType(q, v.VariableType); err != nil {
		return err
	}
	if err := s.store.UpdateScheduleVariable(q.ctx(), v); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errScheduleVariableNotFound
		}
		return err
	}
	return q.json(http.StatusOK, scheduleVariableJSON(v))
}

// deleteScheduleVariable is DELETE …/:pipeline_schedule_id/variables/:key:
// 202 with the deleted variable.
func (s *Server) deleteScheduleVariable(q *req) error {
	sc, err := s.scheduleForVariables(q, access.AdminPipelineSchedule)
	if err != nil {
		return err
	}
	v, err := s.findScheduleVariable(q, sc)
	if err != nil {
		return err
	}
	if err := s.store.DeleteScheduleVariable(q.ctx(), sc.ID, v.Key); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errScheduleVariableNotFound
		}
		return err
	}
	return q.json(http.StatusAccepted, scheduleVariableJSON(v))
}
