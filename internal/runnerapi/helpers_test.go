package runnerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/runnerproto"
	"github.com/gantryci/gantry/internal/store/sqlite"
	"github.com/gantryci/gantry/internal/store/sqlstore"
)

const testSHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"

// env is a runner API over a real SQLite store and engine, served by an
// httptest server.
type env struct {
	t    *testing.T
	ctx  context.Context
	st   *sqlstore.DB
	eng  *pipeline.Service
	api  *API
	srv  *httptest.Server
	proj *ci.Project
	// handler is what srv serves (a handlerBox); tests may wrap it.
	handler *atomic.Value
}

type handlerBox struct{ http.Handler }

type envOpt func(*Config)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "gantry.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(&testWriter{t: t}, nil))
	}
	blobs := blob.FS{Root: filepath.Join(dir, "blobs")}
	h := &atomic.Value{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().(handlerBox).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	eng := pipeline.New(st, blobs, pipeline.Config{ExternalURL: srv.URL, ReposDir: filepath.Join(dir, "repos")}, log)
	cfg := Config{
		Store: st, Engine: eng, Blobs: blobs, Log: log, ExternalURL: srv.URL, RegistrationToken: "reg-secret",
		LongPoll: 300 * time.Millisecond, TraceUpdateInterval: 1, MaxArtifactSize: 1 << 20, MaxTraceSize: 1 << 20,
	}
	for _, o := range opts {
		o(&cfg)
	}
	a := New(cfg)
	h.Store(handlerBox{a.Handler()})
	st.OnJobPending(func(context.Context) { a.NotifyPending() })
	proj := &ci.Project{Namespace: "grp", Path: "demo", Name: "demo", Visibility: ci.VisibilityPrivate, DefaultBranch: "main"}
	if err := st.CreateProject(ctx, proj); err != nil {
		t.Fatalf("create project: %v", err)
	}
	return &env{t: t, ctx: ctx, st: st, eng: eng, api: a, srv: srv, proj: proj, handler: h}
}

type testWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runner creates a runner and returns its token.
func (e *env) runner(r *ci.Runner) (string, *ci.Runner) {
	e.t.Helper()
	if r == nil {
		r = &ci.Runner{RunUntagged: true}
	}
	if r.RunnerType == "" {
		r.RunnerType = ci.RunnerInstance
	}
	token := auth.NewToken(auth.PrefixRunner, 20)
	if err := e.st.CreateRunner(e.ctx, r, auth.Digest(token)); err != nil {
		e.t.Fatalf("create runner: %v", err)
	}
	return token, r
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
	p.ProjectID = e.proj.ID
	if p.Ref == "" {
		p.Ref = "main"
	}
	if p.SHA == "" {
		p.SHA = testSHA
	}
	if p.Source == "" {
		p.Source = "push"
	}
	p.Status = ci.StatusPending
	var jobs []*ci.Job
	for _, s := range specs {
		d := s.def
		d.Name = s.name
		if d.Stage == "" {
			d.Stage = "test"
		}
		d.StageIdx = s.stageIdx
		if d.When == "" {
			d.When = ci.WhenOnSuccess
		}
		if d.Script == nil {
			d.Script = []string{"echo " + s.name}
		}
		def, err := json.Marshal(d)
		if err != nil {
			e.t.Fatal(err)
		}
		st := s.status
		if st == "" {
			st = ci.StatusPending
		}
		jobs = append(jobs, &ci.Job{Name: s.name, Stage: d.Stage, StageIdx: s.stageIdx, Status: st, Ref: p.Ref,
			Tag: p.Tag, When: d.When, Tags: s.tags, Definition: def})
	}
	if err := e.st.CreatePipeline(e.ctx, p, jobs); err != nil {
		e.t.Fatalf("create pipeline: %v", err)
	}
	return p, jobs
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
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
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
	j, err := e.st.JobByID(e.ctx, id)
	if err != nil {
		e.t.Fatalf("job %d: %v", id, err)
	}
	return j
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
