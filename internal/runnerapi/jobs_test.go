package runnerapi

import (
	"context"
	"github.com/gantryci/gantry/internal/testkit"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
)

// runningJob stores a pending job, claims it over HTTP and returns it with
// its job token.
func (e *env) runningJob(specs ...jobSpec) (*ci.Job, string) {
	e.t.Helper()
	token, _ := e.runner(nil)
	if len(specs) == 0 {
		specs = []jobSpec{{name: "test"}}
	}
	e.pipeline(nil, specs...)
	p := e.take(token)
	return e.job(p.ID), p.Token
}

func (e *env) put(id int64, body map[string]any, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	return e.json(http.MethodPut, "/api/v4/jobs/"+strconv.FormatInt(id, 10), body, hdr)
}

func TestUpdateJob(t *testing.T) { testkit.ForEachDB(t, testUpdateJob) }

func testUpdateJob(t *testing.T, db testkit.DB) {
	intp := func(i int) *int { return &i }
	tests := []struct {
		name string
		// setup may move the job before the PUT (cancel, finish).
		setup     func(e *env, j *ci.Job)
		body      func(token string) map[string]any
		hdr       func(token string) map[string]string
		wrongID   bool
		status    int
		jobStatus string // Job-Status header; "" = absent
		after     ci.Status
		reason    string
		exitCode  *int
	}{
		{name: "unknown token", body: func(string) map[string]any { return map[string]any{"token": "glcbt-nope", "state": "running"} },
			status: http.StatusForbidden, after: ci.StatusRunning},
		{name: "token of another job", wrongID: true, body: func(tok string) map[string]any { return map[string]any{"token": tok, "state": "running"} },
			status: http.StatusForbidden, after: ci.StatusRunning},
		{name: "running, token in body only (14.10)", body: func(tok string) map[string]any { return map[string]any{"token": tok, "state": "running"} },
			status: http.StatusOK, jobStatus: "running", after: ci.StatusRunning},
		{name: "running, token in header", body: func(string) map[string]any { return map[string]any{"state": "running"} },
			hdr: func(tok string) map[string]string { return map[string]string{"JOB-TOKEN": tok} }, status: http.StatusOK,
			jobStatus: "running", after: ci.StatusRunning},
		{name: "invalid state", body: func(tok string) map[string]any { return map[string]any{"token": tok, "state": "canceled"} },
			status: http.StatusBadRequest, jobStatus: "running", after: ci.StatusRunning},
		{name: "success", body: func(tok string) map[string]any {
			return map[string]any{"token": tok, "state": "success", "checksum": "crc32:0a1b2c3d", "output": map[string]any{"bytesize": 0}}
		}, status: http.StatusOK, jobStatus: "success", after: ci.StatusSuccess},
		{name: "failed with exit code", body: func(tok string) map[string]any {
			return map[string]any{"token": tok, "state": "failed", "failure_reason": "script_failure", "exit_code": 3}
		}, status: http.StatusOK, jobStatus: "failed", after: ci.StatusFailed, reason: "script_failure", exitCode: intp(3)},
		{name: "job_canceled reason (14.10) is unknown_failure", body: func(tok string) map[string]any {
			return map[string]any{"token": tok, "state": "failed", "failure_reason": "job_canceled"}
		}, status: http.StatusOK, jobStatus: "failed", after: ci.StatusFailed, reason: "unknown_failure"},
		{name: "canceling job is told so", setup: cancelGracefully,
			body:   func(tok string) map[string]any { return map[string]any{"token": tok, "state": "running"} },
			status: http.StatusOK, jobStatus: "canceling", after: ci.StatusCanceling},
		{name: "canceling job ends canceled", setup: cancelGracefully,
			body: func(tok string) map[string]any {
				return map[string]any{"token": tok, "state": "failed", "failure_reason": "unknown_failure"}
			}, status: http.StatusOK, jobStatus: "canceled", after: ci.StatusCanceled},
		{name: "hard-canceled job: touch is refused", setup: func(e *env, j *ci.Job) {
			if _, err := e.eng.CancelJob(e.ctx, j, false); err != nil {
				e.t.Fatal(err)
			}
		}, body: func(tok string) map[string]any { return map[string]any{"token": tok, "state": "running"} },
			status: http.StatusForbidden, jobStatus: "canceled", after: ci.StatusCanceled},
		{name: "repeated final update is 200", setup: func(e *env, j *ci.Job) {
			if err := e.eng.Finish(e.ctx, j, true, "", nil); err != nil {
				e.t.Fatal(err)
			}
		}, body: func(tok string) map[string]any { return map[string]any{"token": tok, "state": "success"} },
			status: http.StatusOK, jobStatus: "success", after: ci.StatusSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, db)
			j, tok := e.runningJob()
			if tt.setup != nil {
				tt.setup(e, j)
			}
			id := j.ID
			if tt.wrongID {
				id = j.ID + 1000
			}
			var hdr map[string]string
			if tt.hdr != nil {
				hdr = tt.hdr(tok)
			}
			resp, body := e.put(id, tt.body(tok), hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if got := resp.Header.Get("Job-Status"); got != tt.jobStatus {
				t.Errorf("Job-Status = %q, want %q", got, tt.jobStatus)
			}
			if got := resp.Header.Get("X-GitLab-Trace-Update-Interval"); got != "1" {
				t.Errorf("X-GitLab-Trace-Update-Interval = %q, want 1", got)
			}
			got := e.job(j.ID)
			if got.Status != tt.after || got.FailureReason != tt.reason {
				t.Errorf("job = %s/%q, want %s/%q", got.Status, got.FailureReason, tt.after, tt.reason)
			}
			if (tt.exitCode == nil) != (got.ExitCode == nil) || (tt.exitCode != nil && *tt.exitCode != *got.ExitCode) {
				t.Errorf("exit code = %v, want %v", got.ExitCode, tt.exitCode)
			}
		})
	}
}

// cancelGracefully records a manager that supports graceful cancel for the
// job and cancels it, so it goes to canceling.
func cancelGracefully(e *env, j *ci.Job) {
	e.t.Helper()
	m := &ci.RunnerManager{RunnerID: j.RunnerID, SystemID: "s_graceful", Features: map[string]bool{"cancel_gracefully": true}}
	if err := e.st.UpsertRunnerManager(e.ctx, m); err != nil {
		e.t.Fatal(err)
	}
	j.RunnerManagerID = m.ID
	if err := e.st.UpdateJob(e.ctx, j, j.Status); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.eng.CancelJob(e.ctx, j, false); err != nil {
		e.t.Fatal(err)
	}
	if got := e.job(j.ID); got.Status != ci.StatusCanceling {
		e.t.Fatalf("cancel gave %s", got.Status)
	}
}

// TestTouchThrottled: a running PUT refreshes updated_at only when it is
// older than touchJobEvery, so keep-alives do not write every time.
func TestTouchThrottled(t *testing.T) { testkit.ForEachDB(t, testTouchThrottled) }

func testTouchThrottled(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	j, tok := e.runningJob()
	before := e.job(j.ID).UpdatedAt
	e.put(j.ID, map[string]any{"token": tok, "state": "running"}, nil)
	if got := e.job(j.ID).UpdatedAt; !got.Equal(before) {
		t.Errorf("fresh job touched: %v -> %v", before, got)
	}
	e.api.now = func() time.Time { return time.Now().UTC().Add(2 * touchJobEvery) }
	e.put(j.ID, map[string]any{"token": tok, "state": "running"}, nil)
	if got := e.job(j.ID).UpdatedAt; !got.After(before) {
		t.Errorf("stale job not touched: %v -> %v", before, got)
	}
}

func TestPatchTrace(t *testing.T) { testkit.ForEachDB(t, testPatchTrace) }

func testPatchTrace(t *testing.T, db testkit.DB) {
	type patch struct {
		rng, body string
		token     string // "" = the job's token
		status    int
		wantRange string
		jobStatus string
	}
	tests := []struct {
		name    string
		setup   func(e *env, j *ci.Job)
		patches []patch
		after   ci.Status
		trace   string
		reason  string
	}{
		{name: "append in order", patches: []patch{
			{rng: "0-5", body: "hello ", status: 202, wantRange: "0-6", jobStatus: "running"},
			{rng: "6-10", body: "world", status: 202, wantRange: "0-11", jobStatus: "running"},
		}, after: ci.StatusRunning, trace: "hello world"},
		{name: "offset past the end resyncs", patches: []patch{
			{rng: "0-4", body: "hello", status: 202, wantRange: "0-5", jobStatus: "running"},
			{rng: "9-12", body: "lost", status: 416, wantRange: "0-5", jobStatus: "running"},
			{rng: "5-9", body: " more", status: 202, wantRange: "0-10", jobStatus: "running"},
		}, after: ci.StatusRunning, trace: "hello more"},
		{name: "offset before the end resyncs", patches: []patch{
			{rng: "0-4", body: "hello", status: 202, wantRange: "0-5"},
			{rng: "2-9", body: "llo world", status: 416, wantRange: "0-5"},
		}, after: ci.StatusRunning, trace: "hello"},
		{name: "resent chunk is idempotent", patches: []patch{
			{rng: "0-4", body: "hello", status: 202, wantRange: "0-5"},
			{rng: "0-4", body: "hello", status: 202, wantRange: "0-5"},
		}, after: ci.StatusRunning, trace: "hello"},
		{name: "missing Content-Range", patches: []patch{{rng: "", body: "x", status: 400}}, after: ci.StatusRunning},
		{name: "bad token", patches: []patch{{rng: "0-0", body: "x", token: "glcbt-nope", status: 403}}, after: ci.StatusRunning},
		{name: "canceling job still streams", setup: cancelGracefully, patches: []patch{
			{rng: "0-0", body: "x", status: 202, wantRange: "0-1", jobStatus: "canceling"},
		}, after: ci.StatusCanceling, trace: "x"},
		{name: "finished job is refused", setup: func(e *env, j *ci.Job) {
			if err := e.eng.Finish(e.ctx, j, false, "script_failure", nil); err != nil {
				e.t.Fatal(err)
			}
		}, patches: []patch{{rng: "0-0", body: "x", status: 403, jobStatus: "failed"}}, after: ci.StatusFailed, reason: "script_failure"},
		{name: "over the size limit drops the job", patches: []patch{
			{rng: "0-9", body: strings.Repeat("a", 10), status: 202, wantRange: "0-10"},
			{rng: "10-" + strconv.Itoa(10+1<<20), body: strings.Repeat("b", 1<<20), status: 403, jobStatus: "failed"},
			{rng: "10-10", body: "c", status: 403, jobStatus: "failed"},
		}, after: ci.StatusFailed, reason: "trace_size_exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, db)
			j, tok := e.runningJob()
			if tt.setup != nil {
				tt.setup(e, j)
			}
			for i, p := range tt.patches {
				hdr := map[string]string{"Content-Type": "text/plain", "JOB-TOKEN": tok}
				if p.token != "" {
					hdr["JOB-TOKEN"] = p.token
				}
				if p.rng != "" {
					hdr["Content-Range"] = p.rng
				}
				resp, body := e.do(http.MethodPatch, "/api/v4/jobs/"+strconv.FormatInt(j.ID, 10)+"/trace?debug_trace=false",
					strings.NewReader(p.body), hdr)
				if resp.StatusCode != p.status {
					t.Fatalf("patch %d: status = %d %s, want %d", i, resp.StatusCode, body, p.status)
				}
				if p.wantRange != "" && resp.Header.Get("Range") != p.wantRange {
					t.Errorf("patch %d: Range = %q, want %q", i, resp.Header.Get("Range"), p.wantRange)
				}
				if p.jobStatus != "" && resp.Header.Get("Job-Status") != p.jobStatus {
					t.Errorf("patch %d: Job-Status = %q, want %q", i, resp.Header.Get("Job-Status"), p.jobStatus)
				}
				if resp.Header.Get("X-GitLab-Trace-Update-Interval") != "1" {
					t.Errorf("patch %d: no update interval", i)
				}
				if p.status == 416 && !strings.Contains(string(body), "416 Range Not Satisfiable") {
					t.Errorf("patch %d: 416 body %s", i, body)
				}
			}
			got := e.job(j.ID)
			if got.Status != tt.after || got.FailureReason != tt.reason {
				t.Errorf("job = %s/%q, want %s/%q", got.Status, got.FailureReason, tt.after, tt.reason)
			}
			if tt.after.Executing() {
				trace, err := e.st.ReadTrace(context.Background(), j.ID)
				if err != nil || string(trace) != tt.trace {
					t.Errorf("trace = %q (%v), want %q", trace, err, tt.trace)
				}
			}
		})
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0-99", 0, true}, {"100-199", 100, true}, {"bytes 5-9", 5, true}, {"5-", 5, true},
		{"", 0, false}, {"abc", 0, false}, {"-5", 0, false}, {"x-5", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseContentRange(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseContentRange(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
