package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/store"
)

// scopes reads the scope parameter (scope=x, scope[]=x&scope[]=y): any
// value outside the 13 statuses is a 400 before any database work.
func (q *req) scopes() ([]ci.Status, error) {
	var out []ci.Status
	for _, v := range q.p.List("scope") {
		st, ok := ci.ParseStatus(v)
		if !ok {
			return nil, ci.Invalid("scope does not have a valid value")
		}
		out = append(out, st)
	}
	return out, nil
}

// listProjectJobs is GET /projects/:id/jobs.
func (s *Server) listProjectJobs(q *req) error {
	scopes, err := q.scopes()
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	keyset := q.p.Str("pagination") == "keyset"
	if keyset {
		ob, sort := q.p.Str("order_by"), q.p.Str("sort")
		if (ob != "" && ob != "id") || (sort != "" && sort != "desc") {
			return &ci.Error{Code: ci.ENotAllowed, Message: "Keyset pagination is not yet available for this type of request"}
		}
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.ReadBuild); err != nil {
		return err
	}
	f := store.JobFilter{ProjectID: p.ID, Kind: store.BuildsOnly, Statuses: scopes, Ref: q.p.Str("ref"), Limit: pg.PerPage + 1, Brief: true}
	if keyset {
		if c := q.p.Str("cursor"); c != "" {
			id, ok := decodeCursor(c)
			if !ok {
				return ci.Invalid("cursor is invalid")
			}
			f.BeforeID = id
		}
	} else {
		f.Offset = pg.offset()
	}
	jobs, err := s.store.ListJobs(q.ctx(), f)
	if err != nil {
		return err
	}
	hasNext := len(jobs) > pg.PerPage
	if hasNext {
		jobs = jobs[:pg.PerPage]
	}
	if keyset {
		if hasNext {
			next := s.linkURL(q, map[string]string{"cursor": encodeCursor(jobs[len(jobs)-1].ID), "per_page": strconv.Itoa(pg.PerPage)})
			q.w.Header().Set("Link", "<"+next+`>; rel="next"`)
		}
	} else {
		s.offsetHeaders(q, pg, hasNext, -1)
	}
	return s.writeJobs(q, p, jobs)
}

func (s *Server) writeJobs(q *req, p *ci.Project, jobs []*ci.Job) error {
	set, err := s.loadJobSet(q.ctx(), p, jobs)
	if err != nil {
		return err
	}
	out := make([]*Job, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, s.job(set, j))
	}
	return q.jobsJSON(out)
}

func encodeCursor(id int64) string {
	b, _ := json.Marshal(map[string]string{"id": strconv.FormatInt(id, 10), "_kd": "n"})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		if b, err = base64.URLEncoding.DecodeString(c); err != nil {
			return 0, false
		}
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return 0, false
	}
	id, err := strconv.ParseInt(m["id"], 10, 64)
	return id, err == nil && id > 0
}

// findJob looks a job up in a project; builds only unless bridges is set.
// Anything else is "404 Not found".
func (s *Server) findJob(q *req, p *ci.Project, id int64, bridges bool) (*ci.Job, error) {
	j, err := s.store.JobByID(q.ctx(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ci.ErrNotFoundRecord
		}
		return nil, err
	}
	if j.ProjectID != p.ID || (!bridges && j.Kind != ci.KindBuild) {
		return nil, ci.ErrNotFoundRecord
	}
	return j, nil
}

// writeJob renders one job as Job (or Bridge when asBridge and it is one).
func (s *Server) writeJob(q *req, p *ci.Project, j *ci.Job, status int, asBridge bool) error {
	set, err := s.loadJobSet(q.ctx(), p, []*ci.Job{j})
	if err != nil {
		return err
	}
	if asBridge && j.Kind == ci.KindBridge {
		return q.rawJSON(status, appendBridge(make([]byte, 0, 2048), s.bridge(set, j)))
	}
	return q.rawJSON(status, appendJob(make([]byte, 0, 4096), s.job(set, j)))
}

// projectJob resolves :id and :job_id in GitLab's order: the job id is
// validated (400), the project found (404), check runs on the caller's role
// (403; GitLab's authorize! calls that precede the lookup), then the job is
// looked up among builds, or builds and bridges (404).
func (s *Server) projectJob(q *req, bridges bool, check func(*ci.Project, ci.AccessLevel) error) (*ci.Project, ci.AccessLevel, *ci.Job, error) {
	id, err := q.pathInt("job_id")
	if err != nil {
		return nil, 0, nil, err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, 0, nil, err
	}
	if check != nil {
		if err := check(p, lvl); err != nil {
			return nil, 0, nil, err
		}
	}
	j, err := s.findJob(q, p, id, bridges)
	return p, lvl, j, err
}

// readBuilds is the read_build check.
func (q *req) readBuilds(p *ci.Project, lvl ci.AccessLevel) error {
	return q.can(p, lvl, access.ReadBuild)
}

// allowed is a project-level check of the access policy, for projectJob.
func (q *req) allowed(a access.Action) func(*ci.Project, ci.AccessLevel) error {
	return func(p *ci.Project, lvl ci.AccessLevel) error { return q.can(p, lvl, a) }
}

// jobInProject resolves the job of the read routes (read_build first).
func (s *Server) jobInProject(q *req, bridges bool) (*ci.Project, ci.AccessLevel, *ci.Job, error) {
	return s.projectJob(q, bridges, q.readBuilds)
}

// getJob is GET /projects/:id/jobs/:job_id.
func (s *Server) getJob(q *req) error {
	p, _, j, err := s.jobInProject(q, false)
	if err != nil {
		return err
	}
	return s.writeJob(q, p, j, http.StatusOK, false)
}

// getTrace is GET /projects/:id/jobs/:job_id/trace.
func (s *Server) getTrace(q *req) error {
	if _, err := q.pathInt("job_id"); err != nil {
		return err
	}
	off, err := q.p.Int("byte_offset", 0)
	if err != nil {
		return err
	}
	if off < 0 {
		return ci.Invalid("byte_offset does not have a valid value")
	}
	limit, err := q.p.Int("byte_limit", 0)
	if err != nil {
		return err
	}
	if q.p.Has("byte_limit") && (limit < 1 || limit > 512000) {
		return ci.Invalid("byte_limit does not have a valid value")
	}
	p, _, j, err := s.jobInProject(q, false)
	if err != nil {
		return err
	}
	// read_build_trace: a job in debug mode is for developers only.
	if err := s.policy.CanJob(q.ctx(), q.caller, p, j, access.ReadBuildTrace); err != nil {
		return err
	}
	log, closeLog, err := s.openTrace(q, j)
	if err != nil {
		return err
	}
	defer closeLog()
	// Only the asked-for window is read: an archived log is a file, so a
	// small byte_limit of a large log costs a small read.
	n := max(log.Size()-off, 0)
	if limit > 0 {
		n = min(n, limit)
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Disposition", fmt.Sprintf(`infile; filename="%d.log"`, j.ID))
	httpx.Info(q.ctx()).SetTransfer(httpx.TransferTraceOut)
	q.w.WriteHeader(http.StatusOK)
	if n > 0 {
		// Windows of traceReadBuf: a live log is read from the database a
		// window at a time, never whole.
		_, _ = io.CopyBuffer(struct{ io.Writer }{q.w}, io.NewSectionReader(log, off, n), make([]byte, min(n, traceReadBuf)))
	}
	return nil
}

// traceReadBuf is the window a trace is copied through.
const traceReadBuf = 1 << 20

// liveTrace reads windows of a running job's log from its chunks in the
// store (Store.ReadTraceRange), so that a small byte_limit of a large live
// log reads a small part of it.
type liveTrace struct {
	ctx   context.Context
	store store.Store
	job   int64
	size  int64
}

func (l *liveTrace) Size() int64 { return l.size }

func (l *liveTrace) ReadAt(p []byte, off int64) (int, error) {
	if off >= l.size {
		return 0, io.EOF
	}
	b, err := l.store.ReadTraceRange(l.ctx, l.job, off, min(off+int64(len(p)), l.size))
	if err != nil {
		return 0, err
	}
	n := copy(p, b)
	if n < len(p) {
		// Shorter than its recorded size: archived (its chunks dropped)
		// while being read.
		return n, io.EOF
	}
	return n, nil
}

// sizedReaderAt is a log to read windows of.
type sizedReaderAt interface {
	io.ReaderAt
	Size() int64
}

// openTrace opens the live log, or the archived job.log once archived
// (empty when there is neither), and the function that closes it.
func (s *Server) openTrace(q *req, j *ci.Job) (sizedReaderAt, func(), error) {
	none := func() {}
	if j.TraceSize > 0 {
		return &liveTrace{ctx: q.ctx(), store: s.store, job: j.ID, size: j.TraceSize}, none, nil
	}
	arts, err := s.store.ArtifactsByJobIDs(q.ctx(), []int64{j.ID})
	if err != nil {
		return nil, none, err
	}
	for _, a := range arts[j.ID] {
		if a.FileType != "trace" {
			continue
		}
		f, err := s.cfg.Blobs.Open(q.ctx(), a.BlobKey)
		if err != nil {
			break // gone from storage: an empty log, as before
		}
		return f, func() { f.Close() }, nil
	}
	// Neither a recorded live size nor an archive: whatever chunks there
	// are (none, for a job that never logged).
	data, err := s.store.ReadTrace(q.ctx(), j.ID)
	if err != nil {
		return nil, none, err
	}
	return bytes.NewReader(data), none, nil
}

// cancelJob is POST /projects/:id/jobs/:job_id/cancel.
func (s *Server) cancelJob(q *req) error {
	if _, err := q.pathInt("job_id"); err != nil {
		return err
	}
	force, err := q.p.Bool("force", false)
	if err != nil {
		return err
	}
	// cancel_build is checked on the project before the job lookup.
	p, lvl, j, err := s.projectJob(q, false, q.allowed(access.CancelBuild))
	if err != nil {
		return err
	}
	if force {
		if err := q.can(p, lvl, access.ForceCancelBuild); err != nil {
			return err
		}
	}
	if err := s.refWritable(q, p, j.Ref, j.Tag, lvl); err != nil {
		return err
	}
	j, err = s.eng.CancelJob(q.ctx(), j, force)
	if err != nil {
		return err
	}
	return s.writeJob(q, p, j, http.StatusCreated, false)
}

// retryJob is POST /projects/:id/jobs/:job_id/retry.
func (s *Server) retryJob(q *req) error {
	p, lvl, j, err := s.projectJob(q, true, nil)
	if err != nil {
		return err
	}
	if err := q.canJob(p, lvl, j, access.UpdateBuild); err != nil {
		return err
	}
	if err := s.refWritable(q, p, j.Ref, j.Tag, lvl); err != nil {
		return err
	}
	nj, err := s.eng.RetryJob(q.ctx(), j, q.caller.User.ID, nil)
	if err != nil {
		return err
	}
	return s.writeJob(q, p, nj, http.StatusCreated, false)
}

// eraseJob is POST /projects/:id/jobs/:job_id/erase.
func (s *Server) eraseJob(q *req) error {
	p, lvl, j, err := s.projectJob(q, false, nil)
	if err != nil {
		return err
	}
	if err := q.canJob(p, lvl, j, access.EraseBuild); err != nil {
		return err
	}
	if err := s.refWritable(q, p, j.Ref, j.Tag, lvl); err != nil {
		return err
	}
	j, err = s.eng.EraseJob(q.ctx(), j, q.caller.User.ID)
	if err != nil {
		return err
	}
	return s.writeJob(q, p, j, http.StatusCreated, false)
}

// playJob is POST /projects/:id/jobs/:job_id/play.
func (s *Server) playJob(q *req) error {
	if _, err := q.pathInt("job_id"); err != nil {
		return err
	}
	var vars []ci.Variable
	if q.p.Has("job_variables_attributes") {
		var err error
		if vars, err = q.p.KeyValues("job_variables_attributes"); err != nil {
			return err
		}
	}
	p, lvl, j, err := s.projectJob(q, true, q.readBuilds)
	if err != nil {
		return err
	}
	if err := q.canJob(p, lvl, j, access.PlayBuild); err != nil {
		return err
	}
	if err := s.refWritable(q, p, j.Ref, j.Tag, lvl); err != nil {
		return err
	}
	nj, err := s.eng.PlayJob(q.ctx(), j, q.caller.User.ID, vars)
	if err != nil {
		return err
	}
	return s.writeJob(q, p, nj, http.StatusOK, true)
}

// currentJob is GET /job: the job behind a job token.
func (s *Server) currentJob(q *req) error {
	if q.caller.Job == nil {
		return ci.ErrJobNotFound
	}
	p, err := s.store.ProjectByID(q.ctx(), q.caller.Job.ProjectID)
	if err != nil {
		return err
	}
	return s.writeJob(q, p, q.caller.Job, http.StatusOK, false)
}

// allowedAgents is GET /job/allowed_agents.
func (s *Server) allowedAgents(q *req) error {
	j := q.caller.Job
	if j == nil {
		return ci.ErrJobNotFound
	}
	p, err := s.store.ProjectByID(q.ctx(), j.ProjectID)
	if err != nil {
		return err
	}
	lvl, err := s.policy.Role(q.ctx(), q.caller, p)
	if err != nil {
		return err
	}
	if q.caller.User.Admin {
		// The roles of the job's user, who may be an administrator.
		lvl = max(lvl, ci.Owner)
	}
	var roles []string
	for _, r := range []struct {
		name string
		lvl  ci.AccessLevel
	}{{"guest", ci.Guest}, {"planner", ci.Planner}, {"reporter", ci.Reporter}, {"developer", ci.Developer},
		{"security_manager", ci.Developer}, {"maintainer", ci.Maintainer}, {"owner", ci.Owner}} {
		if lvl >= r.lvl {
			roles = append(roles, r.name)
		}
	}
	if roles == nil {
		roles = []string{}
	}
	q.w.Header().Set("Gitlab-Feature-Flag", "")
	type idOnly struct {
		ID int64 `json:"id"`
	}
	return q.json(http.StatusOK, struct {
		AllowedAgents []any  `json:"allowed_agents"`
		Job           idOnly `json:"job"`
		Pipeline      idOnly `json:"pipeline"`
		Project       struct {
			ID     int64 `json:"id"`
			Groups []any `json:"groups"`
		} `json:"project"`
		User struct {
			ID             int64    `json:"id"`
			Username       string   `json:"username"`
			RolesInProject []string `json:"roles_in_project"`
		} `json:"user"`
	}{
		AllowedAgents: []any{}, Job: idOnly{j.ID}, Pipeline: idOnly{j.PipelineID},
		Project: struct {
			ID     int64 `json:"id"`
			Groups []any `json:"groups"`
		}{p.ID, []any{}},
		User: struct {
			ID             int64    `json:"id"`
			Username       string   `json:"username"`
			RolesInProject []string `json:"roles_in_project"`
		}{q.caller.User.ID, q.caller.User.Username, roles},
	})
}

// pipelineJobs is GET /projects/:id/pipelines/:pipeline_id/jobs, and with
// bridges set …/bridges and …/trigger_jobs.
func (s *Server) pipelineJobs(bridges bool) func(q *req) error {
	return func(q *req) error {
		pid, err := q.pathInt("pipeline_id")
		if err != nil {
			return err
		}
		scopes, err := q.scopes()
		if err != nil {
			return err
		}
		includeRetried, err := q.p.Bool("include_retried", false)
		if err != nil {
			return err
		}
		pg, err := q.page()
		if err != nil {
			return err
		}
		p, lvl, err := s.project(q)
		if err != nil {
			return err
		}
		pl, err := s.store.PipelineByID(q.ctx(), pid)
		if err != nil || pl.ProjectID != p.ID {
			if err == nil || errors.Is(err, store.ErrNotFound) {
				return ci.ErrPipelineNotFound
			}
			return err
		}
		f := store.JobFilter{PipelineID: pl.ID, Statuses: scopes, LatestOnly: !includeRetried || bridges,
			Kind: store.BuildsOnly, Limit: pg.PerPage, Offset: pg.offset(), Brief: true}
		if bridges {
			f.Kind = store.BridgesOnly
		}
		var jobs []*ci.Job
		total := 0
		if q.can(p, lvl, access.ReadBuild) == nil {
			if jobs, err = s.store.ListJobs(q.ctx(), f); err != nil {
				return err
			}
			if total, err = s.store.CountJobs(q.ctx(), f); err != nil {
				return err
			}
		}
		s.offsetHeaders(q, pg, pg.offset()+len(jobs) < total, total)
		set, err := s.loadJobSet(q.ctx(), p, jobs)
		if err != nil {
			return err
		}
		if bridges {
			out := make([]*Bridge, 0, len(jobs))
			for _, j := range jobs {
				out = append(out, s.bridge(set, j))
			}
			return q.bridgesJSON(out)
		}
		out := make([]*Job, 0, len(jobs))
		for _, j := range jobs {
			out = append(out, s.job(set, j))
		}
		return q.jobsJSON(out)
	}
}
