package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gantryci/gantry/internal/access"

	"github.com/gantryci/gantry/internal/ci"
)

// This file holds the two Server-Sent Event streams: a job's log, and the
// statuses of a project's jobs and pipelines. Both wake on the hub (the
// same store writes that wake runners), re-read and send what changed.

// heartbeat keeps idle streams open through proxies and notices gone
// browsers; it is no polling of the database.
const heartbeat = 15 * time.Second

// sse prepares an event stream.
func sse(pg *page) (http.Flusher, bool) {
	f, ok := pg.w.(http.Flusher)
	if !ok {
		return nil, false
	}
	h := pg.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	pg.w.WriteHeader(http.StatusOK)
	f.Flush()
	return f, true
}

// follow subscribes to the hub's changes that match and opens the event
// stream, with its heartbeat; done ends both.
func (s *Server) follow(pg *page, match func(Change) bool) (http.Flusher, <-chan struct{}, *time.Ticker, func(), error) {
	signal, stop := s.hub.Subscribe(match)
	f, ok := sse(pg)
	if !ok {
		stop()
		return nil, nil, nil, nil, ci.BadRequest("streaming unsupported")
	}
	tick := time.NewTicker(heartbeat)
	return f, signal, tick, func() { tick.Stop(); stop() }, nil
}

func sendEvent(pg *page, f http.Flusher, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(pg.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	f.Flush()
	return nil
}

// awaitChange waits for a hub signal, writing heartbeats meanwhile; false
// when the browser has gone.
func awaitChange(pg *page, f http.Flusher, signal <-chan struct{}, tick *time.Ticker) bool {
	for {
		select {
		case <-pg.ctx().Done():
			return false
		case <-signal:
			return true
		case <-tick.C:
			if _, err := fmt.Fprint(pg.w, ": ping\n\n"); err != nil {
				return false
			}
			f.Flush()
		}
	}
}

// logEvent carries the lines from Next on (the partial last line again
// until it ends) and the job's status.
type logEvent struct {
	Lines  []logLine `json:"lines"`
	Total  int       `json:"total"`
	Status ci.Status `json:"status"`
}

// jobLogStream is GET …/-/jobs/:id/log/stream?line=N: the log from line N
// on, pushed as the runner sends it, until the job completes.
func (s *Server) jobLogStream(pg *page) error {
	_, j, err := s.projectJob(pg, access.ReadBuildTrace)
	if err != nil {
		return err
	}
	next, _ := strconv.Atoi(pg.r.URL.Query().Get("line"))
	next = max(next, 1)
	f, signal, tick, done, err := s.follow(pg, func(c Change) bool { return c.JobID == j.ID })
	if err != nil {
		return err
	}
	defer done()
	ctx := pg.ctx()
	secrets, err := s.secrets(ctx, j)
	if err != nil {
		return nil
	}
	tail, err := s.openTail(ctx, j, next)
	if err != nil {
		return nil
	}
	tail.done.secrets = secrets
	for {
		if j, err = s.st.JobByID(ctx, j.ID); err != nil {
			return nil
		}
		data, err := s.readRawLog(ctx, j, int64(tail.off))
		if err != nil {
			return nil
		}
		ev := logEvent{Status: j.Status}
		ev.Lines, ev.Total = tail.advance(data)
		if len(ev.Lines) > 0 || j.Status.Complete() {
			if err := sendEvent(pg, f, "log", ev); err != nil {
				return nil
			}
		}
		if j.Status.Complete() {
			_ = sendEvent(pg, f, "end", map[string]any{"status": j.Status})
			return nil
		}
		if !awaitChange(pg, f, signal, tick) {
			return nil
		}
	}
}

// openTail starts following a job's log at line next: from the start of
// the line (found with the log's index, reading one piece), so a page
// that shows the tail of a long log does not make its stream read it all.
func (s *Server) openTail(ctx context.Context, j *ci.Job, next int) (*logTail, error) {
	tail := &logTail{done: &logIndex{}, next: next}
	if next <= 1 {
		return tail, nil
	}
	src, err := s.logSource(ctx, j)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	k := sort.Search(len(src.marks), func(i int) bool { return src.marks[i].End.Lines >= next-1 })
	if k == len(src.marks) {
		return tail, nil
	}
	data, err := src.read(src.marks[k].Pos, src.marks[k].End.Off)
	if err != nil {
		return nil, err
	}
	ix := resumeIndex(src.before(k), int(src.marks[k].Pos))
	off := ix.skip(data, next)
	tail.done, tail.off = ix, int(src.marks[k].Pos)+off
	return tail, nil
}

// logTail follows a growing log by byte offset, so that each wake-up of a
// stream reads and renders only what is new. done indexes the complete
// lines read so far (their offsets forgotten once sent); off is where they
// end; next is the first line not yet sent, or the partial last line,
// which is sent again once it grows or ends.
type logTail struct {
	done *logIndex
	off  int
	next int
}

// advance takes the log from t.off on and returns the lines from t.next
// on, and the number of lines.
func (t *logTail) advance(data []byte) ([]logLine, int) {
	// Complete lines join done; a partial last line is indexed on a copy,
	// to be read again next time.
	cut := bytes.LastIndexByte(data, '\n') + 1
	if t.off == 0 && t.next > 1 && t.done.lines() == 0 {
		// The first read of a page that has the lines before next: index
		// the whole log's sections, but line offsets only from next on.
		w := indexWindow(data[:cut], t.next)
		w.secrets = t.done.secrets
		t.done = w
	} else {
		t.done.scan(data[:cut], t.off)
	}
	ix := t.done
	if cut < len(data) {
		ix = t.done.clone()
		ix.scan(data[cut:], t.off+cut)
		ix.base = t.off
	}
	var lines []logLine
	if t.next <= ix.lines() {
		lines = ix.render(data, t.next, ix.lines())
	}
	t.next = max(t.next, t.done.complete+1)
	t.off += cut
	t.done.forget()
	return lines, ix.lines()
}

// statusEvent is a job's or pipeline's new status.
type statusEvent struct {
	Kind     string    `json:"kind"` // job, pipeline
	ID       int64     `json:"id"`
	Status   ci.Status `json:"status"`
	Text     string    `json:"text"`
	Duration string    `json:"duration,omitempty"`
}

// projectEvents is GET …/-/events?pipeline=ID&job=ID: status changes of the
// pipelines and jobs a page shows, pushed within a second of the write.
// Without filters it follows the project's pipelines (the list pages).
func (s *Server) projectEvents(pg *page) error {
	p, err := s.project(pg, access.ReadPipeline)
	if err != nil {
		return err
	}
	q := pg.r.URL.Query()
	if q.Get("changes") != "" {
		return s.changeStream(pg, func(c Change) bool { return c.ProjectID == p.ID })
	}
	plID, _ := strconv.ParseInt(q.Get("pipeline"), 10, 64)
	f, signal, tick, done, err := s.follow(pg, func(c Change) bool { return c.ProjectID == p.ID })
	if err != nil {
		return err
	}
	defer done()
	seen := map[string]ci.Status{}
	ctx := pg.ctx()
	for {
		var evs []statusEvent
		now := s.now()
		if plID != 0 {
			pl, err := s.st.PipelineByID(ctx, plID)
			if err != nil || pl.ProjectID != p.ID {
				return nil
			}
			evs = append(evs, statusEvent{Kind: "pipeline", ID: pl.ID, Status: pl.Status, Duration: fmtDuration(pipelineDuration(pl, now))})
			g, err := s.stages(pg, p, pl, false)
			if err != nil {
				return nil
			}
			for _, st := range g.Stages {
				for _, n := range st.Jobs {
					evs = append(evs, statusEvent{Kind: "job", ID: n.Job.ID, Status: n.Job.Status, Duration: fmtDuration(n.Duration)})
				}
			}
		}
		for _, e := range evs {
			key := e.Kind + strconv.FormatInt(e.ID, 10)
			if seen[key] == e.Status && e.Status.Complete() {
				continue
			}
			seen[key] = e.Status
			e.Text = statusText(e.Status)
			if err := sendEvent(pg, f, "status", e); err != nil {
				return nil
			}
		}
		if !awaitChange(pg, f, signal, tick) {
			return nil
		}
	}
}

// changeStream sends a bare "change" event after each matching hub signal
// (coalesced): pages that re-render whole, such as the runners pages,
// reload on it.
func (s *Server) changeStream(pg *page, match func(Change) bool) error {
	f, signal, tick, done, err := s.follow(pg, match)
	if err != nil {
		return err
	}
	defer done()
	for awaitChange(pg, f, signal, tick) {
		if err := sendEvent(pg, f, "change", struct{}{}); err != nil {
			return nil
		}
	}
	return nil
}

// adminEvents is GET /admin/runners/events: a change anywhere, for the
// admin runners page.
func (s *Server) adminEvents(pg *page) error {
	if pg.user == nil || !pg.user.Admin {
		return ci.ErrNotFoundGeneric
	}
	return s.changeStream(pg, func(Change) bool { return true })
}
