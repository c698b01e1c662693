package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
)

// DetailedStatus is the pipeline's presentation status.
type DetailedStatus struct {
	Icon         string  `json:"icon"`
	Text         string  `json:"text"`
	Label        string  `json:"label"`
	Group        string  `json:"group"`
	Tooltip      string  `json:"tooltip"`
	HasDetails   bool    `json:"has_details"`
	DetailsPath  string  `json:"details_path"`
	Illustration *string `json:"illustration"`
	Favicon      string  `json:"favicon"`
}

// Pipeline is API::Entities::Ci::Pipeline.
type Pipeline struct {
	PipelineBasic
	BeforeSHA      string         `json:"before_sha"`
	Tag            bool           `json:"tag"`
	YAMLErrors     *string        `json:"yaml_errors"`
	User           *UserBasic     `json:"user"`
	StartedAt      *Time          `json:"started_at"`
	FinishedAt     *Time          `json:"finished_at"`
	CommittedAt    *Time          `json:"committed_at"`
	Duration       *int64         `json:"duration"`
	QueuedDuration *int64         `json:"queued_duration"`
	Coverage       *string        `json:"coverage"`
	DetailedStatus DetailedStatus `json:"detailed_status"`
}

// PipelineWithMetadata adds name (GET single and latest).
type PipelineWithMetadata struct {
	Pipeline
	Name *string `json:"name"`
}

// PipelineListItem is PipelineBasicWithMetadata.
type PipelineListItem struct {
	PipelineBasic
	Name *string `json:"name"`
}

var statusText = map[ci.Status][2]string{
	ci.StatusCreated: {"created", "created"}, ci.StatusWaitingForResource: {"waiting", "waiting for resource"},
	ci.StatusPreparing: {"preparing", "preparing"}, ci.StatusWaitingForCallback: {"waiting", "waiting for callback"},
	ci.StatusPending: {"pending", "pending"}, ci.StatusRunning: {"running", "running"},
	ci.StatusSuccess: {"passed", "passed"}, ci.StatusFailed: {"failed", "failed"},
	ci.StatusCanceling: {"canceling", "canceling"}, ci.StatusCanceled: {"canceled", "canceled"},
	ci.StatusSkipped: {"skipped", "skipped"}, ci.StatusManual: {"blocked", "waiting for manual action"},
	ci.StatusScheduled: {"delayed", "waiting for delayed job"},
}

func (s *Server) detailedStatus(proj *ci.Project, p *ci.Pipeline) DetailedStatus {
	t := statusText[p.Status]
	group := string(p.Status)
	icon := "status_" + string(p.Status)
	if p.Status == ci.StatusSuccess && p.Warnings {
		t = [2]string{"Warning", "passed with warnings"}
		group, icon = "success-with-warnings", "status_warning"
	}
	return DetailedStatus{Icon: icon, Text: t[0], Label: t[1], Group: group, Tooltip: t[1], HasDetails: true,
		DetailsPath: "/" + proj.FullPath() + "/-/pipelines/" + itoa(p.ID), Favicon: "/assets/ci_favicons/favicon_" + icon + ".png"}
}

func (s *Server) pipelineEntity(q *req, proj *ci.Project, p *ci.Pipeline) (*Pipeline, error) {
	out := &Pipeline{PipelineBasic: *s.pipelineBasic(proj, p), BeforeSHA: p.BeforeSHA, Tag: p.Tag,
		StartedAt: tp(p.StartedAt), FinishedAt: tp(p.FinishedAt), CommittedAt: tp(p.CommittedAt),
		DetailedStatus: s.detailedStatus(proj, p)}
	if p.YAMLErrors != "" {
		e := p.YAMLErrors
		out.YAMLErrors = &e
	}
	if p.UserID != 0 {
		if u, err := s.store.UserByID(q.ctx(), p.UserID); err == nil {
			ub := s.userBasic(u)
			out.User = &ub
		}
	}
	cov, err := s.pipelineCoverage(q, p)
	if err != nil {
		return nil, err
	}
	out.Coverage = cov
	// duration is set when the pipeline finishes (whole seconds).
	if p.StartedAt != nil && p.FinishedAt != nil {
		d := int64(p.FinishedAt.Sub(*p.StartedAt) / time.Second)
		out.Duration = &d
	}
	if p.StartedAt != nil {
		// Pipeline#queued_duration: whole seconds, nil when zero.
		if qd := int64(p.StartedAt.Sub(p.CreatedAt) / time.Second); qd != 0 {
			out.QueuedDuration = &qd
		}
	}
	return out, nil
}

// pipelineCoverage is the average coverage of the latest jobs that have
// one, formatted as GitLab does ("87.50"), or nil.
func (s *Server) pipelineCoverage(q *req, p *ci.Pipeline) (*string, error) {
	avg, err := s.store.PipelineCoverage(q.ctx(), p.ID)
	if err != nil || avg == nil {
		return nil, err
	}
	c := strconv.FormatFloat(*avg, 'f', 2, 64)
	return &c, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// readPipelines checks read_pipeline and read_build, as the list needs.
func (s *Server) readablePipelineProject(q *req) (*ci.Project, error) {
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, err
	}
	if err := q.can(p, lvl, access.ReadPipeline); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) findPipeline(q *req, p *ci.Project) (*ci.Pipeline, error) {
	id, err := q.pathInt("pipeline_id")
	if err != nil {
		return nil, err
	}
	pl, err := s.store.PipelineByID(q.ctx(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ci.ErrPipelineNotFound
		}
		return nil, err
	}
	if pl.ProjectID != p.ID {
		return nil, ci.ErrPipelineNotFound
	}
	return pl, nil
}

// pipelineScopeStatus reads the scope and status filters of a pipeline
// list (Ci::PipelinesFinder's ALLOWED_SCOPES and statuses).
func pipelineScopeStatus(q *req, f *store.PipelineFilter) error {
	switch sc := q.p.Str("scope"); sc {
	case "", "running", "pending", "finished", "branches", "tags":
		f.Scope = sc
	default:
		return ci.Invalid("scope does not have a valid value")
	}
	if st := q.p.Str("status"); st != "" {
		s2, ok := ci.ParseStatus(st)
		if !ok {
			return ci.Invalid("status does not have a valid value")
		}
		f.Statuses = []ci.Status{s2}
	}
	return nil
}

// pipelinesPage lists one page of pipelines and sets the offset
// pagination headers.
func (s *Server) pipelinesPage(q *req, pg page, f store.PipelineFilter) ([]*ci.Pipeline, error) {
	pls, err := s.store.ListPipelines(q.ctx(), f)
	if err != nil {
		return nil, err
	}
	total, err := s.store.CountPipelines(q.ctx(), f)
	if err != nil {
		return nil, err
	}
	s.offsetHeaders(q, pg, pg.offset()+len(pls) < total, total)
	return pls, nil
}

func (s *Server) listPipelines(q *req) error {
	pg, err := q.page()
	if err != nil {
		return err
	}
	f := store.PipelineFilter{Ref: q.p.Str("ref"), SHA: q.p.Str("sha"), Source: q.p.Str("source"), Name: q.p.Str("name"),
		Limit: pg.PerPage, Offset: pg.offset(), Asc: q.p.Str("sort") == "asc"}
	if err := pipelineScopeStatus(q, &f); err != nil {
		return err
	}
	switch ob := q.p.Str("order_by"); ob {
	case "", "id", "status", "ref", "updated_at", "user_id":
		f.OrderBy = ob
	default:
		return ci.Invalid("order_by does not have a valid value")
	}
	if so := q.p.Str("sort"); so != "" && so != "asc" && so != "desc" {
		return ci.Invalid("sort does not have a valid value")
	}
	for _, k := range []string{"updated_after", "updated_before"} {
		if v := q.p.Str(k); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return ci.Invalid("%s is invalid", k)
			}
			if k == "updated_after" {
				f.UpdatedAfter = &t
			} else {
				f.UpdatedBefore = &t
			}
		}
	}
	p, err := s.readablePipelineProject(q)
	if err != nil {
		return err
	}
	f.ProjectID = p.ID
	// Child pipelines are listed only when asked for by source.
	f.ExcludeChildren = f.Source != "parent_pipeline"
	if name := q.p.Str("username"); name != "" {
		u, err := s.store.UserByUsername(q.ctx(), name)
		if err != nil {
			s.offsetHeaders(q, pg, false, 0)
			return q.json(http.StatusOK, []any{})
		}
		f.UserID = u.ID
	}
	pls, err := s.pipelinesPage(q, pg, f)
	if err != nil {
		return err
	}
	out := make([]PipelineListItem, 0, len(pls))
	for _, pl := range pls {
		item := PipelineListItem{PipelineBasic: *s.pipelineBasic(p, pl)}
		if pl.Name != "" {
			n := pl.Name
			item.Name = &n
		}
		out = append(out, item)
	}
	return q.json(http.StatusOK, out)
}

func (s *Server) writePipeline(q *req, p *ci.Project, pl *ci.Pipeline, status int, meta bool) error {
	e, err := s.pipelineEntity(q, p, pl)
	if err != nil {
		return err
	}
	if !meta {
		return q.json(status, e)
	}
	out := PipelineWithMetadata{Pipeline: *e}
	if pl.Name != "" {
		n := pl.Name
		out.Name = &n
	}
	return q.json(status, out)
}

func (s *Server) getPipeline(q *req) error {
	if _, err := q.pathInt("pipeline_id"); err != nil {
		return err
	}
	p, err := s.readablePipelineProject(q)
	if err != nil {
		return err
	}
	pl, err := s.findPipeline(q, p)
	if err != nil {
		return err
	}
	return s.writePipeline(q, p, pl, http.StatusOK, true)
}

func (s *Server) latestPipeline(q *req) error {
	p, err := s.readablePipelineProject(q)
	if err != nil {
		return err
	}
	ref := q.p.Str("ref")
	if ref == "" {
		ref = p.DefaultBranch
	}
	pls, err := s.store.ListPipelines(q.ctx(), store.PipelineFilter{ProjectID: p.ID, Ref: ref, Limit: 1, ExcludeChildren: true})
	if err != nil {
		return err
	}
	if len(pls) == 0 {
		return ci.ErrPipelineNotFound
	}
	return s.writePipeline(q, p, pls[0], http.StatusOK, true)
}

// createPipeline is POST /projects/:id/pipeline.
func (s *Server) createPipeline(q *req) error {
	if !q.p.Has("ref") {
		return ci.Invalid("ref is missing")
	}
	var vars []ci.Variable
	if q.p.Has("variables") {
		var err error
		if vars, err = q.p.KeyValues("variables"); err != nil {
			return err
		}
	}
	inputs, err := pipelineInputs(q)
	if err != nil {
		return err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.CreatePipeline); err != nil {
		return err
	}
	pl, err := s.eng.Create(q.ctx(), pipeline.CreateRequest{Project: p, Ref: q.p.Str("ref"), Source: "api",
		UserID: q.caller.User.ID, Variables: vars, Inputs: inputs, Role: lvl})
	if err != nil {
		return err
	}
	return s.writePipeline(q, p, pl, http.StatusCreated, false)
}

// pipelineInputs reads `inputs` of POST /projects/:id/pipeline: a JSON
// object of typed values (as glab's `ci run --input` sends it) or the form
// `inputs[name]=value` (strings).
func pipelineInputs(q *req) (map[string]any, error) {
	if raw, ok := q.p.Raw("inputs"); ok {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, ci.Invalid("inputs is invalid")
		}
		return ciconfig.NormalizeInputs(m), nil
	}
	var m map[string]any
	for k, vs := range q.p.Form() {
		name, ok := strings.CutPrefix(k, "inputs[")
		if !ok || !strings.HasSuffix(name, "]") || len(vs) == 0 {
			continue
		}
		if m == nil {
			m = map[string]any{}
		}
		m[strings.TrimSuffix(name, "]")] = vs[0]
	}
	return m, nil
}

func (s *Server) pipelineAction(q *req, a access.Action) (*ci.Project, *ci.Pipeline, error) {
	if _, err := q.pathInt("pipeline_id"); err != nil {
		return nil, nil, err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, nil, err
	}
	if err := q.can(p, lvl, a); err != nil {
		return nil, nil, err
	}
	pl, err := s.findPipeline(q, p)
	if err == nil && a != access.DeletePipeline { // owners delete pipelines of any ref
		err = s.refWritable(q, p, pl.Ref, pl.Tag, lvl)
	}
	return p, pl, err
}

func (s *Server) cancelPipeline(q *req) error {
	p, pl, err := s.pipelineAction(q, access.UpdatePipeline)
	if err != nil {
		return err
	}
	if pl, err = s.eng.CancelPipeline(q.ctx(), pl.ID); err != nil {
		return err
	}
	return s.writePipeline(q, p, pl, http.StatusOK, false)
}

func (s *Server) retryPipeline(q *req) error {
	p, pl, err := s.pipelineAction(q, access.UpdatePipeline)
	if err != nil {
		return err
	}
	if pl, err = s.eng.RetryPipeline(q.ctx(), pl.ID, q.caller.User.ID); err != nil {
		return err
	}
	return s.writePipeline(q, p, pl, http.StatusCreated, false)
}

func (s *Server) deletePipeline(q *req) error {
	_, pl, err := s.pipelineAction(q, access.DeletePipeline)
	if err != nil {
		return err
	}
	if err := s.eng.DeletePipeline(q.ctx(), pl); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) pipelineVariables(q *req) error {
	if _, err := q.pathInt("pipeline_id"); err != nil {
		return err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.ReadPipelineVariable); err != nil {
		return err
	}
	pl, err := s.findPipeline(q, p)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(pl.Variables))
	for _, v := range pl.Variables {
		vt := v.VariableType
		if vt == "" {
			vt = "env_var"
		}
		out = append(out, map[string]any{"variable_type": vt, "key": v.Key, "value": v.Value, "raw": v.Raw})
	}
	return q.json(http.StatusOK, out)
}

// LintResult is the CI Lint answer.
type LintResult struct {
	Valid      bool               `json:"valid"`
	Errors     []string           `json:"errors"`
	Warnings   []string           `json:"warnings"`
	MergedYAML *string            `json:"merged_yaml"`
	Includes   []ciconfig.Include `json:"includes"`
	Jobs       []LintJob          `json:"jobs,omitempty"`
}

// LintJob is one job of a lint answer with include_jobs.
type LintJob struct {
	Name         string   `json:"name"`
	Stage        string   `json:"stage"`
	BeforeScript []string `json:"before_script"`
	Script       []string `json:"script"`
	AfterScript  []string `json:"after_script"`
	TagList      []string `json:"tag_list"`
	Only         any      `json:"only"`
	Except       any      `json:"except"`
	Environment  *string  `json:"environment"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
	Needs        any      `json:"needs"`
}

func (s *Server) lint(q *req, p *ci.Project, lr pipeline.LintRequest) error {
	dry, err := q.p.Bool("dry_run", false)
	if err != nil {
		return err
	}
	lr.Project, lr.UserID, lr.DryRun = p, q.caller.User.ID, dry
	if t := q.p.Str("dry_run_ref_type"); t != "" {
		if t != "branch" && t != "tag" {
			return ci.Invalid("dry_run_ref_type does not have a valid value")
		}
		lr.RefType = t
	}
	res, err := s.eng.Lint(q.ctx(), lr)
	if err != nil {
		return err
	}
	out := LintResult{Valid: res.Valid, Errors: res.Errors, Warnings: res.Warnings, Includes: res.Includes}
	if out.Includes == nil {
		out.Includes = []ciconfig.Include{}
	}
	if out.Errors == nil {
		out.Errors = []string{}
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	if res.Valid {
		m := res.MergedYAML
		out.MergedYAML = &m
	}
	if inc, _ := q.p.Bool("include_jobs", false); inc {
		out.Jobs = []LintJob{}
		for _, j := range res.Jobs {
			lj := LintJob{Name: j.Name, Stage: j.Stage, BeforeScript: nz(j.BeforeScript), Script: nz(j.Script),
				AfterScript: nz(j.AfterScript), TagList: nz(j.Tags), When: j.When, AllowFailure: j.AllowFailure}
			if j.Environment != "" {
				e := j.Environment
				lj.Environment = &e
			}
			out.Jobs = append(out.Jobs, lj)
		}
	}
	return q.json(http.StatusOK, out)
}

func nz(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// lintContent is POST /projects/:id/ci/lint: the content is checked as
// the default branch (or dry_run's ref) would include it.
func (s *Server) lintContent(q *req) error {
	if !q.p.Has("content") {
		return ci.Invalid("content is missing")
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.CreatePipeline); err != nil {
		return err
	}
	return s.lint(q, p, pipeline.LintRequest{Content: []byte(q.p.Str("content")), Ref: q.p.Str("ref")})
}

// lintRef is GET /projects/:id/ci/lint: the project's configuration at
// content_ref (sha) or the default branch, simulated for dry_run_ref (ref).
func (s *Server) lintRef(q *req) error {
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.CreatePipeline); err != nil {
		return err
	}
	ref := q.p.Str("dry_run_ref")
	if ref == "" {
		ref = q.p.Str("ref")
	}
	rev := q.p.Str("content_ref")
	if rev == "" {
		rev = q.p.Str("sha")
	}
	lr := pipeline.LintRequest{Ref: ref}
	if rev != "" && rev != ref {
		// The configuration of another revision, evaluated for ref.
		content, err := s.eng.Repo(p.ID).ReadFile(q.ctx(), rev, ciConfigPath(p))
		if err != nil {
			return q.json(http.StatusOK, LintResult{Valid: false, Errors: []string{"Please provide content of .gitlab-ci.yml"},
				Warnings: []string{}, Includes: []ciconfig.Include{}})
		}
		lr.Content = content
		if lr.Ref == "" {
			lr.Ref = rev
		}
	}
	return s.lint(q, p, lr)
}

func ciConfigPath(p *ci.Project) string {
	if p.CIConfigPath != "" {
		return p.CIConfigPath
	}
	return ".gitlab-ci.yml"
}

// updatePipelineMetadata is PUT /projects/:id/pipelines/:pipeline_id/metadata
// (lib/api/ci/pipelines.rb, Ci::Pipelines::UpdateMetadataService): sets
// the name, at most 255 characters.
func (s *Server) updatePipelineMetadata(q *req) error {
	if !q.p.Has("name") {
		return ci.Invalid("name is missing")
	}
	name := strings.TrimSpace(q.p.Str("name"))
	if name == "" {
		return ci.Invalid("name is empty")
	}
	if utf8.RuneCountInString(name) > 255 {
		return &ci.Error{Code: ci.EBadRequest, Message: "Name is too long (maximum is 255 characters)"}
	}
	p, pl, err := s.pipelineAction(q, access.UpdatePipeline)
	if err != nil {
		return err
	}
	if err := s.store.SetPipelineName(q.ctx(), pl.ID, name, s.now()); err != nil {
		return err
	}
	if pl, err = s.store.PipelineByID(q.ctx(), pl.ID); err != nil {
		return err
	}
	return s.writePipeline(q, p, pl, http.StatusOK, true)
}
