package runnerapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/store"
)

// maxTracePatch bounds one PATCH body. The runner sends at most 1 MiB
// (DefaultTracePatchLimit); the slack tolerates other clients.
const maxTracePatch = 4 << 20

// finishAttempts bounds retries of a final update that lost a race with
// another writer (a cancel, a touch on another coordinator).
const finishAttempts = 3

// updateJob is PUT /jobs/:id: touches and the final state.
func (a *API) updateJob(w http.ResponseWriter, r *http.Request) error {
	a.jobHeaders(w, "")
	ctx := r.Context()
	// Newer runners send the job token as a header too: then the caller
	// is known before the body is read. 14.10 puts it only in the body.
	var j *ci.Job
	token := r.Header.Get("JOB-TOKEN")
	if token != "" {
		var err error
		if j, err = a.authJob(ctx, r.PathValue("id"), token); err != nil {
			return err
		}
	}
	p, err := httpx.ParseParams(r)
	if err != nil {
		return err
	}
	if t := p.Str("token"); t != "" && t != token {
		if j, err = a.authJob(ctx, r.PathValue("id"), t); err != nil {
			return err
		}
	}
	if j == nil {
		return ci.ErrForbidden
	}
	state := p.Str("state")
	final := state == "success" || state == "failed"
	if !j.Status.Executing() {
		a.jobHeaders(w, j.Status)
		if final && string(j.Status) == state {
			// A repeated final update (the first 200 was lost). 200 ends
			// the runner's final-update loop; old runners loop on others.
			// Any other final state (a job canceled meanwhile) is
			// GitLab's 403 with Job-Status (lib/api/ci/runner.rb,
			// job_forbidden!).
			writeStatus(w, http.StatusOK)
			return nil
		}
		return errNotProcessing
	}
	switch state {
	case "running":
		j = a.touchJob(ctx, j)
		a.jobHeaders(w, j.Status)
		writeStatus(w, http.StatusOK)
	case "success", "failed":
		reason := ci.NormalizeFailureReason(p.Str("failure_reason"))
		var exitCode *int
		if p.Has("exit_code") {
			n, err := p.Int("exit_code", 0)
			if err != nil {
				return err
			}
			c := int(n)
			exitCode = &c
		}
		j, err = a.finish(ctx, j, state == "success", reason, exitCode)
		if err != nil {
			return err
		}
		a.jobHeaders(w, j.Status)
		if !j.Status.Complete() {
			// Another writer moved the job somewhere the runner no
			// longer owns it and it is not finished: the runner must stop.
			return errNotProcessing
		}
		writeStatus(w, http.StatusOK)
	default:
		a.jobHeaders(w, j.Status)
		return ci.BadRequest("invalid state")
	}
	return nil
}

// finish records the final state, re-reading the job when a concurrent
// update (a cancel moving running to canceling) won the compare-and-set.
func (a *API) finish(ctx context.Context, j *ci.Job, success bool, reason string, exitCode *int) (*ci.Job, error) {
	// The runner is owed an answer even if it hangs up now: finishing
	// half-way would leave the pipeline unprocessed.
	ctx = context.WithoutCancel(ctx)
	for attempt := 0; ; attempt++ {
		err := a.eng.Finish(ctx, j, success, reason, exitCode)
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, store.ErrStale) || attempt == finishAttempts-1 {
			// The state may already be stored (a failure while
			// processing the pipeline afterwards); then the report
			// succeeded and retrying would only repeat the work.
			if fresh, ferr := a.store.JobByID(ctx, j.ID); ferr == nil && fresh.Status.Complete() {
				a.log.Error("after final update", "job", j.ID, "err", err)
				return fresh, nil
			}
			return nil, fmt.Errorf("finish job %d: %w", j.ID, err)
		}
		if j, err = a.store.JobByID(ctx, j.ID); err != nil {
			return nil, fmt.Errorf("reload job: %w", err)
		}
		if !j.Status.Executing() {
			return j, nil
		}
	}
}

// touchJob refreshes the job's updated_at so the stuck-job sweep sees it
// alive, at most once per touchJobEvery (judged from the stored
// updated_at, so it holds across coordinators). It returns the job as
// stored now, whose status may have moved (a cancel) meanwhile.
func (a *API) touchJob(ctx context.Context, j *ci.Job) *ci.Job {
	if fresh := a.touch(ctx, j.ID, j.UpdatedAt); fresh != nil {
		return fresh
	}
	return j
}

// touch is touchJob for a job known by its id and stored updated_at: it
// returns the job as stored after the touch, or nil when it did not touch
// it (or could not read it back).
func (a *API) touch(ctx context.Context, id int64, updated time.Time) *ci.Job {
	if a.now().Sub(updated) < touchJobEvery {
		return nil
	}
	if err := a.store.TouchJob(ctx, id, a.now()); err != nil {
		a.log.Warn("touch job", "job", id, "err", err)
		return nil
	}
	fresh, err := a.store.JobByID(ctx, id)
	if err != nil {
		return nil
	}
	return fresh
}

func writeStatus(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, strconv.Itoa(status))
}

// errRange is GitLab's trace offset mismatch answer.
var errRange = &ci.Error{Code: ci.ERange, Message: "416 Range Not Satisfiable"}

// patchTrace is PATCH /jobs/:id/trace: append at the offset the
// runner believes is the end; answer the real end either way.
func (a *API) patchTrace(w http.ResponseWriter, r *http.Request) error {
	a.jobHeaders(w, "")
	token := r.Header.Get("JOB-TOKEN")
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	ctx := r.Context()
	// The job's state only: the definition and variables are of no use
	// here, and reading the whole row cost over twice the CPU of these
	// few columns, on every PATCH of every running job.
	j, err := a.authJobState(ctx, r.PathValue("id"), token)
	if err != nil {
		return err
	}
	a.jobHeaders(w, j.Status)
	httpx.Info(ctx).SetTransfer(httpx.TransferTraceIn)
	if !j.Status.Executing() {
		return errNotProcessing
	}
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return &ci.Error{Code: ci.EBadRequest, Message: "400 Missing header Content-Range"}
	}
	start, ok := parseContentRange(cr)
	if !ok {
		return &ci.Error{Code: ci.EBadRequest, Message: "400 Invalid header Content-Range"}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxTracePatch+1))
	if err != nil {
		return nil // the runner went away mid-body; it resends from its offset
	}
	if len(data) > maxTracePatch {
		return &ci.Error{Code: ci.ETooLarge, Message: "413 Request Entity Too Large"}
	}
	size, err := a.store.AppendTrace(ctx, j.ID, start, data, a.cfg.MaxTraceSize)
	if errors.Is(err, store.ErrTraceLimit) {
		// Drop writes the whole job: read all of it.
		full, err := a.store.JobByID(ctx, j.ID)
		if err == nil {
			err = a.eng.Drop(context.WithoutCancel(ctx), full, ci.FailureTraceSizeExceeded)
		}
		if err != nil {
			a.log.Error("drop job over trace limit", "job", j.ID, "err", err)
		}
		if fresh, ferr := a.store.JobByID(ctx, j.ID); ferr == nil {
			a.jobHeaders(w, fresh.Status)
		}
		return ci.Forbidden("Trace size exceeded")
	}
	if err != nil {
		return fmt.Errorf("append trace: %w", err)
	}
	// Any PATCH proves the job alive; a cancel that landed meanwhile shows
	// up in Job-Status so graceful runners start after_script.
	status := j.Status
	if fresh := a.touch(ctx, j.ID, j.UpdatedAt); fresh != nil {
		status = fresh.Status
	}
	a.jobHeaders(w, status)
	// Range is what is stored, never more: the runner reads its buffer up
	// to it, and a larger value fails every later patch.
	w.Header().Set("Range", "0-"+strconv.FormatInt(size, 10))
	if size != start+int64(len(data)) {
		return errRange
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// parseContentRange reads the runner's "start-end" (inclusive end, no
// unit); only start matters, the body length gives the end.
func parseContentRange(s string) (int64, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "bytes"))
	first, _, ok := strings.Cut(s, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
