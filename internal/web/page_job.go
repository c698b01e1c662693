package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/gantryci/gantry/internal/access"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/pipeline"
)

type jobView struct {
	Project   *ci.Project
	Job       *ci.Job
	Pipeline  *ci.Pipeline
	Runner    *ci.Runner
	User      *ci.User
	Queued    string
	Duration  string
	CanRetry  bool
	CanCancel bool
	CanPlay   bool
	CanTrace  bool
	// Archive is the job's downloadable artifacts archive, when the viewer
	// may read it.
	Archive *ci.Artifact
	Pending *ci.PendingReason
	// Jobs are the pipeline's other jobs, for the sidebar.
	Jobs []*ci.Job
}

func (v jobView) project() (*ci.Project, string) { return v.Project, "jobs" }

// jobPage is GET …/-/jobs/:id: the header, why it is pending, the log.
func (s *Server) jobPage(pg *page) error {
	p, err := s.project(pg, access.ReadBuild)
	if err != nil {
		return err
	}
	j, err := s.jobOf(pg, p)
	if err != nil {
		return err
	}
	v := jobView{Project: p, Job: j}
	if v.Pipeline, err = s.st.PipelineByID(pg.ctx(), j.PipelineID); err != nil {
		return err
	}
	now := s.now()
	if d := ci.QueuedDuration(j.QueuedAt, j.StartedAt, j.FinishedAt, now); d != nil {
		v.Queued = fmtDuration(time.Duration(*d * float64(time.Second)))
	}
	if d := ci.Duration(j.StartedAt, j.FinishedAt, now); d != nil {
		v.Duration = fmtDuration(time.Duration(*d * float64(time.Second)))
	}
	if j.RunnerID != 0 {
		if r, err := s.st.RunnerByID(pg.ctx(), j.RunnerID); err == nil {
			v.Runner = r
		}
	}
	if j.UserID != 0 {
		if u, err := s.st.UserByID(pg.ctx(), j.UserID); err == nil {
			v.User = u
		}
	}
	jv := pipeline.View(j, nil)
	may := map[access.Action]bool{}
	for _, a := range []access.Action{access.UpdateBuild, access.CancelBuild, access.PlayBuild, access.ReadBuildTrace} {
		if may[a], err = s.canJob(pg, p, j, a); err != nil {
			return err
		}
	}
	v.CanTrace = may[access.ReadBuildTrace]
	v.CanRetry = may[access.UpdateBuild] && jv.Retryable()
	v.CanCancel = may[access.CancelBuild] && jv.Cancelable()
	v.CanPlay = may[access.PlayBuild] && jv.Playable()
	if ok, err := s.canJob(pg, p, j, access.ReadArtifacts); err != nil {
		return err
	} else if ok {
		if v.Archive, err = s.downloadableArchive(pg, j); err != nil {
			return err
		}
	}
	if j.Status == ci.StatusPending {
		if v.Pending, err = s.pendingReason(pg.ctx(), j); err != nil {
			return err
		}
	}
	s.render(pg, http.StatusOK, "job", fmt.Sprintf("%s (#%d) · %s", j.Name, j.ID, p.FullPath()), v)
	return nil
}

// traceJob loads the path's job for reading its log.
func (s *Server) traceJob(pg *page) (*ci.Project, *ci.Job, []byte, error) {
	p, j, err := s.projectJob(pg, access.ReadBuildTrace)
	if err != nil {
		return nil, nil, nil, err
	}
	data, err := s.readLog(pg.ctx(), j)
	return p, j, data, err
}

// jobRaw is GET …/-/jobs/:id/raw: the plain log, with HTTP Range.
func (s *Server) jobRaw(pg *page) error {
	_, j, data, err := s.traceJob(pg)
	if err != nil {
		return err
	}
	pg.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	pg.w.Header().Set("Cache-Control", "no-store")
	info := httpx.Info(pg.r.Context())
	info.SetJob(j.ID)
	info.SetTransfer(httpx.TransferTraceOut)
	http.ServeContent(pg.w, pg.r, strconv.FormatInt(j.ID, 10)+".log", time.Time{}, bytes.NewReader(data))
	return nil
}

// logPage is the JSON answer of the log endpoint.
type logPage struct {
	Total    int       `json:"total"`
	Complete bool      `json:"complete"`
	Lines    []logLine `json:"lines"`
}

const maxLinesPerRequest = 2000

// jobLogLines is GET …/-/jobs/:id/log?tail=N or ?from=A&to=B: rendered
// lines. A page opens on the tail and asks for earlier lines as the
// reader scrolls up, so a large log is never sent or drawn whole.
func (s *Server) jobLogLines(pg *page) error {
	_, j, err := s.projectJob(pg, access.ReadBuildTrace)
	if err != nil {
		return err
	}
	q := pg.r.URL.Query()
	tail, from, to := 0, 1, 0
	if t := q.Get("tail"); t != "" {
		if tail, err = strconv.Atoi(t); err != nil || tail < 1 {
			return ci.BadRequest("tail is invalid")
		}
	} else {
		if from, err = strconv.Atoi(q.Get("from")); err != nil || from < 1 {
			return ci.BadRequest("from is invalid")
		}
		if q.Get("to") != "" {
			if to, err = strconv.Atoi(q.Get("to")); err != nil || to < from {
				return ci.BadRequest("to is invalid")
			}
		}
	}
	// Only the pieces of the log holding the asked lines are read, masked
	// line by line as they are drawn.
	src, err := s.logSource(pg.ctx(), j)
	if err != nil {
		return err
	}
	defer src.Close()
	secrets, err := s.secrets(pg.ctx(), j)
	if err != nil {
		return err
	}
	total := src.total()
	if tail > 0 {
		from, to = max(total-min(tail, maxLinesPerRequest)+1, 1), total
	} else {
		if to == 0 {
			to = total
		}
		to = min(to, from+maxLinesPerRequest-1, total)
	}
	lines := []logLine{}
	if from <= to {
		ix, data, err := src.window(from, to)
		if err != nil {
			return err
		}
		ix.secrets = secrets
		lines = ix.render(data, from, to)
	}
	return writeJSON(pg, logPage{Total: total, Complete: j.Status.Complete(), Lines: lines})
}

// jobLogSearch is GET …/-/jobs/:id/log/search?q=: the matching lines of
// the whole log.
func (s *Server) jobLogSearch(pg *page) error {
	_, j, err := s.projectJob(pg, access.ReadBuildTrace)
	if err != nil {
		return err
	}
	q := pg.r.URL.Query().Get("q")
	if len(q) > 200 {
		return ci.BadRequest("q is too long")
	}
	ms, err := s.searchJobLog(pg.ctx(), j, q, 10000)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []match{}
	}
	return writeJSON(pg, map[string]any{"query": q, "count": len(ms), "matches": ms})
}

func writeJSON(pg *page, v any) error {
	pg.w.Header().Set("Content-Type", "application/json")
	pg.w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(pg.w).Encode(v)
}

// jobRetry is POST …/-/jobs/:id/retry; it lands on the new job.
func (s *Server) jobRetry(pg *page) error {
	p, j, err := s.projectJob(pg, access.UpdateBuild)
	if err != nil {
		return err
	}
	nj, err := s.eng.RetryJob(pg.ctx(), j, s.userID(pg), nil)
	if err != nil {
		return err
	}
	return pg.redirect(jobURL(p, nj.ID))
}

// jobCancel is POST …/-/jobs/:id/cancel.
func (s *Server) jobCancel(pg *page) error {
	p, j, err := s.projectJob(pg, access.CancelBuild)
	if err != nil {
		return err
	}
	if _, err := s.eng.CancelJob(pg.ctx(), j, false); err != nil {
		return err
	}
	return pg.redirect(back(pg, jobURL(p, j.ID)))
}

// jobPlay is POST …/-/jobs/:id/play.
func (s *Server) jobPlay(pg *page) error {
	p, j, err := s.projectJob(pg, access.PlayBuild)
	if err != nil {
		return err
	}
	nj, err := s.eng.PlayJob(pg.ctx(), j, s.userID(pg), nil)
	if err != nil {
		return err
	}
	return pg.redirect(back(pg, jobURL(p, nj.ID)))
}

// back is the form's return_to when it is a local path, else def.
func back(pg *page, def string) string {
	if r := safeReturn(pg.r.PostFormValue("return_to")); r != "" && !strings.Contains(r, "\n") {
		return r
	}
	return def
}

// searchJobLog searches a job's whole log, masked, reading it piece by
// piece: memory stays bounded by a piece and the longest line.
func (s *Server) searchJobLog(ctx context.Context, j *ci.Job, q string, limit int) ([]match, error) {
	if q == "" || limit <= 0 {
		return nil, nil
	}
	src, err := s.logSource(ctx, j)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	secrets, err := s.secrets(ctx, j)
	if err != nil {
		return nil, err
	}
	return searchSource(src, q, limit, secrets, searchStep)
}
