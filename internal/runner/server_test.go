package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a minimal in-test implementation of the server half of the
// runner protocol: it hands out queued jobs and records what the runner
// sends. It behaves like GitLab where the runner cares: authoritative trace
// offsets with 416, Job-Status headers, 201 artifact uploads.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	mu       sync.Mutex
	queue    []Job
	rawQueue []string // raw 201 bodies served before queue
	polls    []recordedPoll
	events   []string // "put:<id>:<state>" and "patch:<id>" in arrival order
	puts     map[int64][]recordedPut
	patches  map[int64][]recordedPatch
	traces   map[int64][]byte
	uploads  map[int64][]recordedUpload
	depFiles map[int64][]byte
	depSeen  map[int64]string // JOB-TOKEN used to download a dependency
	finals   map[int64]chan struct{}

	// Hooks, called with mu held. respond decides the answer to a PUT
	// (kind "put"), a PATCH before it is applied ("patch") and after
	// ("patch-applied"): status 0 and jobStatus "" keep the defaults.
	respond func(s *fakeServer, kind string, jobID int64, body []byte) (status int, jobStatus string)
	// beforePatch may alter the stored trace before a PATCH is applied.
	beforePatch  func(s *fakeServer, jobID int64, n int)
	uploadStatus int
}

type recordedPoll struct {
	Header http.Header
	Body   map[string]any
}

type recordedPut struct {
	Header http.Header
	Body   map[string]any
}

func (p recordedPut) state() string { s, _ := p.Body["state"].(string); return s }

type recordedPatch struct {
	Header http.Header
	Query  string
	Start  int
	Body   []byte
	Status int
}

type recordedUpload struct {
	Header   http.Header
	Query    map[string]string
	Field    string
	Filename string
	Data     []byte
}

func newFakeServer(t *testing.T, jobs ...Job) *fakeServer {
	t.Helper()
	s := &fakeServer{
		t: t, mux: http.NewServeMux(), queue: jobs,
		puts: map[int64][]recordedPut{}, patches: map[int64][]recordedPatch{},
		traces: map[int64][]byte{}, uploads: map[int64][]recordedUpload{},
		depFiles: map[int64][]byte{}, depSeen: map[int64]string{}, finals: map[int64]chan struct{}{},
		uploadStatus: http.StatusCreated,
	}
	for _, j := range jobs {
		s.finals[j.ID] = make(chan struct{})
	}
	s.mux.HandleFunc("POST /api/v4/jobs/request", s.handleRequest)
	s.mux.HandleFunc("PUT /api/v4/jobs/{id}", s.handlePut)
	s.mux.HandleFunc("PATCH /api/v4/jobs/{id}/trace", s.handlePatch)
	s.mux.HandleFunc("POST /api/v4/jobs/{id}/artifacts", s.handleUpload)
	s.mux.HandleFunc("GET /api/v4/jobs/{id}/artifacts", s.handleDownload)
	s.mux.HandleFunc("GET /files/{id}", s.handleFile)
	s.srv = httptest.NewServer(s.mux)
	t.Cleanup(s.srv.Close)
	return s
}

func pathID(r *http.Request) int64 {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id
}

func (s *fakeServer) handleRequest(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	s.mu.Lock()
	s.polls = append(s.polls, recordedPoll{Header: r.Header.Clone(), Body: body})
	if len(s.rawQueue) > 0 {
		raw := s.rawQueue[0]
		s.rawQueue = s.rawQueue[1:]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, raw)
		return
	}
	if len(s.queue) == 0 {
		s.mu.Unlock()
		w.Header().Set(headerLastUpdate, "lu-0001")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	job := s.queue[0]
	s.queue = s.queue[1:]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(job)
}

func (s *fakeServer) handlePut(w http.ResponseWriter, r *http.Request) {
	id := pathID(r)
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	s.mu.Lock()
	defer s.mu.Unlock()
	put := recordedPut{Header: r.Header.Clone(), Body: body}
	s.puts[id] = append(s.puts[id], put)
	s.events = append(s.events, fmt.Sprintf("put:%d:%s", id, put.state()))
	status, jobStatus := http.StatusOK, "running"
	if s.respond != nil {
		st, js := s.respond(s, "put", id, raw)
		if st != 0 {
			status = st
		}
		if js != "" {
			jobStatus = js
		}
	}
	if st := put.state(); (st == "success" || st == "failed") && status == http.StatusOK {
		jobStatus = st
		if ch, ok := s.finals[id]; ok {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}
	w.Header().Set(headerJobStatus, jobStatus)
	w.WriteHeader(status)
}

var contentRangeRE = regexp.MustCompile(`^(\d+)-(\d+)$`)

func (s *fakeServer) handlePatch(w http.ResponseWriter, r *http.Request) {
	id := pathID(r)
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := contentRangeRE.FindStringSubmatch(r.Header.Get("Content-Range"))
	rec := recordedPatch{Header: r.Header.Clone(), Query: r.URL.RawQuery, Body: body, Start: -1}
	if m == nil {
		rec.Status = http.StatusBadRequest
		s.patches[id] = append(s.patches[id], rec)
		http.Error(w, "bad Content-Range", http.StatusBadRequest)
		return
	}
	rec.Start, _ = strconv.Atoi(m[1])
	end, _ := strconv.Atoi(m[2])
	if end != rec.Start+len(body)-1 {
		s.t.Errorf("Content-Range %q does not match body length %d", r.Header.Get("Content-Range"), len(body))
	}
	if s.beforePatch != nil {
		s.beforePatch(s, id, len(s.patches[id]))
	}
	s.events = append(s.events, fmt.Sprintf("patch:%d", id))
	status, jobStatus := 0, "running"
	if s.respond != nil {
		var js string
		status, js = s.respond(s, "patch", id, body)
		if js != "" {
			jobStatus = js
		}
	}
	if status == 0 {
		if rec.Start != len(s.traces[id]) {
			status = http.StatusRequestedRangeNotSatisfiable
		} else {
			s.traces[id] = append(s.traces[id], body...)
			status = http.StatusAccepted
			// Let the hook see the trace including this patch.
			if s.respond != nil {
				st, js := s.respond(s, "patch-applied", id, body)
				if st != 0 {
					status = st
				}
				if js != "" {
					jobStatus = js
				}
			}
		}
	}
	rec.Status = status
	s.patches[id] = append(s.patches[id], rec)
	w.Header().Set(headerJobStatus, jobStatus)
	w.Header().Set("Range", fmt.Sprintf("0-%d", len(s.traces[id])))
	w.WriteHeader(status)
}

func (s *fakeServer) handleUpload(w http.ResponseWriter, r *http.Request) {
	id := pathID(r)
	rec := recordedUpload{Header: r.Header.Clone(), Query: map[string]string{}}
	for k, v := range r.URL.Query() {
		rec.Query[k] = v[0]
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	parts := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		parts++
		rec.Field, rec.Filename = p.FormName(), p.FileName()
		rec.Data, _ = io.ReadAll(p)
	}
	if parts != 1 {
		s.t.Errorf("upload has %d parts, want exactly 1", parts)
	}
	s.mu.Lock()
	s.uploads[id] = append(s.uploads[id], rec)
	status := s.uploadStatus
	s.mu.Unlock()
	w.WriteHeader(status)
}

// handleDownload redirects to /files/:id like GitLab with object storage.
func (s *fakeServer) handleDownload(w http.ResponseWriter, r *http.Request) {
	id := pathID(r)
	s.mu.Lock()
	s.depSeen[id] = r.Header.Get(headerJobToken)
	_, ok := s.depFiles[id]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/files/%d", id), http.StatusFound)
}

func (s *fakeServer) handleFile(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	data := s.depFiles[pathID(r)]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/zip")
	_, _ = w.Write(data)
}

// trace returns what the server has stored for a job.
func (s *fakeServer) trace(id int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.traces[id])
}

func (s *fakeServer) putsOf(id int64) []recordedPut {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recordedPut(nil), s.puts[id]...)
}

// finalPut returns the last PUT with a final state.
func (s *fakeServer) finalPut(t *testing.T, id int64) recordedPut {
	t.Helper()
	puts := s.putsOf(id)
	for i := len(puts) - 1; i >= 0; i-- {
		if st := puts[i].state(); st == "success" || st == "failed" {
			return puts[i]
		}
	}
	t.Fatalf("job %d: no final PUT among %d PUTs", id, len(puts))
	return recordedPut{}
}

// testConfig returns a Config with short intervals for tests.
func testConfig(t *testing.T, url string) Config {
	return Config{
		URL:           url,
		Token:         "glrt-t1_TESTRUNNER0001",
		BuildsDir:     t.TempDir(),
		PollInterval:  50 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		traceInterval: 100 * time.Millisecond,
		killGrace:     time.Second,
	}
}

// hostConfig is testConfig without job isolation, for tests that watch a
// job's processes (by host pid) or files from outside its build dir.
func hostConfig(t *testing.T, url string) Config {
	cfg := testConfig(t, url)
	cfg.Isolation = IsolationNone
	return cfg
}

// testWriter sends slog output to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runner starts Run in the background and returns a stop function that
// cancels it and waits for it to return.
func startRunner(t *testing.T, cfg Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFinal waits for the final PUT of job id.
func (s *fakeServer) waitFinal(t *testing.T, id int64, timeout time.Duration) {
	t.Helper()
	select {
	case <-s.finals[id]:
	case <-time.After(timeout):
		t.Fatalf("job %d: no final PUT within %v; trace so far:\n%s", id, timeout, s.trace(id))
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkFinalOutput verifies the final PUT's checksum and size against the
// trace the server stored.
func checkFinalOutput(t *testing.T, s *fakeServer, id int64, put recordedPut) {
	t.Helper()
	tr := s.trace(id)
	want := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE([]byte(tr)))
	out, _ := put.Body["output"].(map[string]any)
	if got := put.Body["checksum"]; got != want {
		t.Errorf("checksum = %v, want %v", got, want)
	}
	if got := out["checksum"]; got != want {
		t.Errorf("output.checksum = %v, want %v", got, want)
	}
	if got, _ := out["bytesize"].(float64); int(got) != len(tr) {
		t.Errorf("output.bytesize = %v, want %d", out["bytesize"], len(tr))
	}
}

// shellJob returns a job payload without git.
func shellJob(id int64, script []string, after []string, vars ...Variable) Job {
	steps := []Step{{Name: "script", Script: script, Timeout: 600, When: "on_success"}}
	if after != nil {
		steps = append(steps, Step{Name: "after_script", Script: after, Timeout: 600, When: "always", AllowFailure: true})
	}
	token := fmt.Sprintf("glcbt-JOBTOKEN%d", id)
	return Job{
		ID:            id,
		Token:         token,
		AllowGitFetch: true,
		JobInfo:       JobInfo{ID: id, Name: "test", Stage: "test", ProjectID: 7, ProjectName: "demo"},
		GitInfo: GitInfo{
			RepoURL: "http://gitlab-ci-token:" + token + "@127.0.0.1:1/grp/demo.git",
			Ref:     "main", Sha: "9fceb02d0ae598e95dc970b74767f19372d61af8", RefType: "branch",
		},
		RunnerInfo: RunnerInfo{Timeout: 600},
		Variables: append([]Variable{
			{Key: "CI", Value: "true", Public: true},
			{Key: "CI_JOB_ID", Value: strconv.FormatInt(id, 10), Public: true},
			{Key: "CI_JOB_TOKEN", Value: token, Masked: true},
			{Key: "GIT_STRATEGY", Value: "none", Public: true},
		}, vars...),
		Steps: steps,
		Features: Features{TraceSections: true, FailureReasons: []string{
			"unknown_failure", "script_failure", "runner_system_failure", "job_execution_timeout",
			"runner_unsupported", "stuck_or_timeout_failure",
		}},
	}
}

// processGone reports whether pid has exited (a zombie counts as gone: in
// a container nobody may reap it).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	var pid int
	waitFor(t, "pid file "+file, 10*time.Second, func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}
