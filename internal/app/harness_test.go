package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/app"
	"github.com/gantryci/gantry/internal/testkit"
	"github.com/gantryci/gantry/internal/testkit/gittest"
)

// rootToken is the bootstrap token every test server gets.
const rootToken = "glpat-test-root-token-0001"

// server is a real Gantry coordinator on loopback over a real SQLite file
// in its data dir, or a new PostgreSQL database (see forEachDB).
type server struct {
	t    *testing.T
	URL  string
	Data string
	// DB is the database URL the server uses ("" for SQLite in Data).
	DB string
	// MetricsURL is the metrics listener's base URL (with serverOpts.metrics).
	MetricsURL string
}

type serverOpts struct {
	runners int
	// db is the database; SQLite when empty.
	db testkit.DB
	// dbURL, when set, is the database URL to use instead of a new one.
	dbURL string
	// dataDir, when set, is the data dir to use (default a fresh temp dir).
	dataDir string
	// metrics serves /metrics on a loopback listener of its own.
	metrics bool
	// logTo, when set, receives the server's log as JSON lines (debug level).
	logTo io.Writer
	// now, when set, is the coordinator's clock.
	now func() time.Time
	// allowLocalRequests lets include:remote reach loopback test servers.
	allowLocalRequests bool
}

// registrationToken enables legacy runner registration on test servers.
const registrationToken = "test-registration-token"

// startServer runs app.Run in-process until the test ends.
func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	dir := o.dataDir
	if dir == "" {
		dir = t.TempDir()
	}
	database := o.dbURL
	if database == "" {
		database = o.db.URL(t)
	}
	ready, metricsReady := make(chan string, 1), make(chan string, 1)
	metricsListen := ""
	if o.metrics {
		metricsListen = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GANTRY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if o.logTo != nil {
		log = slog.New(slog.NewJSONHandler(o.logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	go func() {
		done <- app.Run(ctx, app.Config{Listen: "127.0.0.1:0", DataDir: dir, RootToken: rootToken,
			EmbeddedRunners: o.runners, LongPoll: 2 * time.Second, SweepInterval: 200 * time.Millisecond,
			DatabaseURL: database, Log: log, RegistrationToken: registrationToken, Ready: ready, MaxTraceSize: 1 << 20, MaxArtifact: 10 << 20,
			MetricsListen: metricsListen, MetricsReady: metricsReady,
			Now: o.now, AllowLocalRequests: o.allowLocalRequests})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server start timed out")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	s := &server{t: t, URL: "http://" + addr, Data: dir, DB: database}
	if o.metrics {
		s.MetricsURL = "http://" + <-metricsReady
	}
	return s
}

// resp is an HTTP answer.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r resp) obj(t *testing.T) map[string]any {
	var m map[string]any
	r.json(t, &m)
	return m
}

// do sends a request with a token header ("" for none). A string body is a
// form; anything else is JSON.
func (s *server) do(method, path, token string, body any) resp {
	s.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

// must asserts the status of an answer and returns it.
func (s *server) must(status int, method, path, token string, body any) resp {
	s.t.Helper()
	r := s.do(method, path, token, body)
	if r.Status != status {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, status, r.Body)
	}
	return r
}

// user creates a user with a token and returns (id, token).
func (s *server) user(name string) (int64, string) {
	s.t.Helper()
	var u struct{ ID int64 }
	s.must(201, "POST", "/api/v4/users", rootToken, map[string]any{"username": name, "name": name, "email": name + "@example.com"}).json(s.t, &u)
	var tok struct{ Token string }
	s.must(201, "POST", fmt.Sprintf("/api/v4/users/%d/personal_access_tokens", u.ID), rootToken,
		map[string]any{"name": "t", "scopes": []string{"api"}}).json(s.t, &tok)
	return u.ID, tok.Token
}

// project creates a project of root.
func (s *server) project(name, visibility string) int64 {
	s.t.Helper()
	var p struct{ ID int64 }
	s.must(201, "POST", "/api/v4/projects", rootToken, map[string]any{"name": name, "visibility": visibility}).json(s.t, &p)
	return p.ID
}

// push commits files into a fresh clone and pushes them with real git.
func (s *server) push(project string, files map[string]string, refs ...string) string {
	s.t.Helper()
	w := gittest.NewWork(s.t, "GIT_AUTHOR_DATE=2026-01-02T03:04:05+02:00")
	w.Write(files)
	w.Commit("Add CI config\n\nWith a body.")
	git := w.Git
	remote := strings.Replace(s.URL, "http://", "http://oauth2:"+rootToken+"@", 1) + "/" + project + ".git"
	if len(refs) == 0 {
		refs = []string{"main"}
	}
	for _, r := range refs {
		if r != "main" {
			git("tag", r)
		}
	}
	git(append([]string{"push", "-q", remote}, refs...)...)
	return git("rev-parse", "HEAD")
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// jobs lists a project's jobs by name (latest first wins).
func (s *server) jobs(project int64) map[string]map[string]any {
	s.t.Helper()
	var list []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs?per_page=100", project), rootToken, nil).json(s.t, &list)
	out := map[string]map[string]any{}
	for _, j := range list {
		name := j["name"].(string)
		if _, ok := out[name]; !ok {
			out[name] = j
		}
	}
	return out
}

// jobStatus waits until the named latest job has one of the statuses.
func (s *server) waitJob(project int64, name string, statuses ...string) map[string]any {
	s.t.Helper()
	var got map[string]any
	waitFor(s.t, name+" to be "+strings.Join(statuses, "|"), 60*time.Second, func() bool {
		got = s.jobs(project)[name]
		if got == nil {
			return false
		}
		for _, st := range statuses {
			if got["status"] == st {
				return true
			}
		}
		return false
	})
	return got
}

// fakeRunner speaks the runner protocol by hand, to put jobs in exact states.
type fakeRunner struct {
	s     *server
	token string
}

func (s *server) registerRunner(tags ...string) *fakeRunner {
	s.t.Helper()
	body := map[string]any{"token": registrationToken, "description": "fake", "run_untagged": true}
	if len(tags) > 0 {
		body["tag_list"] = strings.Join(tags, ",")
	}
	var r struct{ Token string }
	s.must(201, "POST", "/api/v4/runners", "", body).json(s.t, &r)
	return &fakeRunner{s: s, token: r.Token}
}

// request asks for a job; nil when none is handed out.
func (f *fakeRunner) request() map[string]any {
	f.s.t.Helper()
	r := f.s.do("POST", "/api/v4/jobs/request", "", map[string]any{"token": f.token,
		"info": map[string]any{"name": "fake", "version": "17.0.0", "features": map[string]bool{"cancel_gracefully": true}}})
	if r.Status == 204 {
		return nil
	}
	if r.Status != 201 {
		f.s.t.Fatalf("jobs/request: %d %s", r.Status, r.Body)
	}
	return r.obj(f.s.t)
}

// take claims jobs until the named one comes, returning (id, token).
func (f *fakeRunner) take(name string) (int64, string) {
	f.s.t.Helper()
	for i := 0; i < 20; i++ {
		j := f.request()
		if j == nil {
			continue
		}
		if j["job_info"].(map[string]any)["name"] == name {
			return int64(j["id"].(float64)), j["token"].(string)
		}
		f.finish(int64(j["id"].(float64)), j["token"].(string), "success", "")
	}
	f.s.t.Fatalf("job %s never handed out", name)
	return 0, ""
}

func (f *fakeRunner) patch(id int64, token string, offset int, data string) resp {
	f.s.t.Helper()
	req, _ := http.NewRequest("PATCH", fmt.Sprintf("%s/api/v4/jobs/%d/trace", f.s.URL, id), strings.NewReader(data))
	req.Header.Set("JOB-TOKEN", token)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", offset, offset+len(data)-1))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

func (f *fakeRunner) finish(id int64, token, state, reason string) resp {
	f.s.t.Helper()
	body := map[string]any{"token": token, "state": state}
	if reason != "" {
		body["failure_reason"], body["exit_code"] = reason, 1
	}
	return f.s.do("PUT", fmt.Sprintf("/api/v4/jobs/%d", id), "", body)
}
