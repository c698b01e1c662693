package runnerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/runnerproto"
	"github.com/gantryci/gantry/internal/store/sqlstore"
	"github.com/gantryci/gantry/internal/testkit"
)

const testSHA = testkit.SHA

// env is a runner API over a real store and engine (testkit) on one
// database, served by a loopback server.
type env struct {
	*testkit.Env
	t    *testing.T
	ctx  context.Context
	st   *sqlstore.DB
	eng  *pipeline.Service
	api  *API
	srv  *testkit.Server
	proj *ci.Project
}

type envOpt func(*Config)

func newEnv(t *testing.T, db testkit.DB, opts ...envOpt) *env {
	t.Helper()
	srv := testkit.NewServer(t)
	k := testkit.NewEnv(t, db, testkit.Options{ExternalURL: srv.URL})
	cfg := Config{
		Store: k.Store, Engine: k.Engine, Blobs: k.Blobs, Log: k.Log, ExternalURL: srv.URL, RegistrationToken: "reg-secret",
		LongPoll: 300 * time.Millisecond, TraceUpdateInterval: 1, MaxArtifactSize: 1 << 20, MaxTraceSize: 1 << 20,
	}
	for _, o := range opts {
		o(&cfg)
	}
	a := New(cfg)
	srv.SetHandler(a.Handler())
	k.Store.OnJobPending(func(context.Context) { a.NotifyPending() })
	return &env{Env: k, t: t, ctx: k.Ctx, st: k.Store, eng: k.Engine, api: a, srv: srv, proj: k.Project(nil)}
}

// runner creates a runner and returns its token.
func (e *env) runner(r *ci.Runner) (string, *ci.Runner) {
	e.t.Helper()
	return e.Runner(r)
}

// jobSpec describes a job for pipeline().
type jobSpec struct {
	name     string
	stageIdx int
	status   ci.Status
	tags     []string
	def      ciconfig.Job
}

// pipeline stores a pipeline with the given jobs; jobs default to pending.
func (e *env) pipeline(p *ci.Pipeline, specs ...jobSpec) (*ci.Pipeline, []*ci.Job) {
	e.t.Helper()
	if p == nil {
		p = &ci.Pipeline{}
	}
	p.Status = ci.StatusPending
	var jobs []*ci.Job
	for _, s := range specs {
		d := s.def
		d.StageIdx = s.stageIdx
		j := testkit.Job(s.name, d)
		j.Status, j.Tags = s.status, s.tags
		jobs = append(jobs, j)
	}
	return e.Pipeline(e.proj, p, jobs...), jobs
}

// do sends a request and returns the response with its body read.
func (e *env) do(method, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return e.srv.Do(e.t, req)
}

// json sends v as a JSON body.
func (e *env) json(method, path string, v any, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range hdr {
		h[k] = v
	}
	return e.do(method, path, bytes.NewReader(b), h)
}

// request polls for a job as gitlab-runner 14.10 does: token in the body
// only, no system_id.
func (e *env) request(token string) (*http.Response, []byte) {
	e.t.Helper()
	return e.json(http.MethodPost, "/api/v4/jobs/request", map[string]any{
		"token": token,
		"info": map[string]any{"name": "gitlab-runner", "version": "14.10.0", "revision": "c6bb62f6",
			"platform": "linux", "architecture": "amd64", "executor": "shell", "shell": "bash",
			"features": map[string]bool{"variables": true, "cancelable": true, "artifacts": true, "trace_size": true}},
	}, nil)
}

// take polls once and decodes the job, failing unless it is a 201.
func (e *env) take(token string) *runnerproto.Job {
	e.t.Helper()
	resp, body := e.request(token)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("jobs/request = %d %s, want 201", resp.StatusCode, body)
	}
	var p runnerproto.Job
	if err := json.Unmarshal(body, &p); err != nil {
		e.t.Fatalf("decode payload: %v", err)
	}
	return &p
}

func (e *env) job(id int64) *ci.Job {
	e.t.Helper()
	return e.ReadJob(id)
}

// multipartBody builds a one-file upload like the artifacts uploader's.
func multipartBody(t *testing.T, field, filename string, data []byte) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}
