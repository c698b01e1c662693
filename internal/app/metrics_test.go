package app_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// series is one scraped sample: its metric name, labels and value.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is one /metrics answer, parsed.
type scrape struct {
	samples []series
	// families are the metric names of the # TYPE lines.
	families map[string]bool
}

var labelRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrapeMetrics GETs /metrics from the metrics listener and parses the
// text format.
func (s *server) scrapeMetrics() scrape {
	s.t.Helper()
	res, err := http.Get(s.MetricsURL + "/metrics")
	if err != nil {
		s.t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		s.t.Fatalf("scrape: status %d", res.StatusCode)
	}
	out := scrape{families: map[string]bool{}}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			out.families[strings.Fields(rest)[0]] = true
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			s.t.Fatalf("scrape: bad line %q", line)
		}
		head := line[:i]
		sm := series{name: head, labels: map[string]string{}, value: v}
		if j := strings.IndexByte(head, '{'); j >= 0 {
			sm.name = head[:j]
			for _, m := range labelRe.FindAllStringSubmatch(head[j:], -1) {
				sm.labels[m[1]] = m[2]
			}
		}
		out.samples = append(out.samples, sm)
	}
	return out
}

// get sums the samples of name whose labels include the given pairs.
func (sc scrape) get(name string, kv ...string) float64 {
	sum := 0.0
	for _, sm := range sc.samples {
		if sm.name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if sm.labels[kv[i]] != kv[i+1] {
				ok = false
			}
		}
		if ok {
			sum += sm.value
		}
	}
	return sum
}

func (sc scrape) has(name string) bool {
	return slices.ContainsFunc(sc.samples, func(s series) bool { return s.name == name })
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines parses the JSON log lines.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(b.buf.Bytes(), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMetrics runs pipelines with a runner speaking the protocol, scrapes
// /metrics from the metrics listener before and after, and checks that the
// counters and histograms moved by exactly what happened; that the API
// listener does not serve /metrics; that the request log has its fields and
// no token; and that the Grafana dashboard only uses metrics that exist.
func TestMetrics(t *testing.T) { forEachDB(t, testMetrics) }

func testMetrics(t *testing.T, o serverOpts) {
	logs := &syncBuffer{}
	o.metrics, o.logTo = true, logs
	s := startServer(t, o)
	pid := s.project("metered", "private")
	fr := s.registerRunner()
	before := s.scrapeMetrics()

	// A push pipeline and an API pipeline, one job each.
	s.push("root/metered", map[string]string{".gitlab-ci.yml": "build:\n  script: echo hi\n"})
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline?ref=main", pid), rootToken, nil)
	// A tag whose configuration does not compile: a failed push pipeline.
	s.push("root/metered", map[string]string{".gitlab-ci.yml": "build:\n  script: [\n"}, "v-broken")

	const trace = "hello from the job\n"
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("a.txt")
	_, _ = w.Write([]byte("artifact"))
	_ = zw.Close()
	var jobIDs []int64
	for range 2 {
		j := fr.request()
		if j == nil {
			t.Fatal("no job handed out")
		}
		id, token := int64(j["id"].(float64)), j["token"].(string)
		jobIDs = append(jobIDs, id)
		if r := fr.patch(id, token, 0, trace); r.Status != 202 {
			t.Fatalf("patch: %d %s", r.Status, r.Body)
		}
		fr.uploadFile(id, token, "archive", "zip", "artifacts.zip", zb.Bytes())
		if r := fr.finish(id, token, "success", ""); r.Status != 200 {
			t.Fatalf("finish: %d %s", r.Status, r.Body)
		}
	}
	// Nothing left: this long poll waits its whole time.
	if j := fr.request(); j != nil {
		t.Fatalf("unexpected job %v", j["id"])
	}
	for _, id := range jobIDs {
		waitFor(t, "pipelines to finish", 30*time.Second, func() bool {
			var j map[string]any
			s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d", pid, id), rootToken, nil).json(t, &j)
			return j["pipeline"].(map[string]any)["status"] == "success"
		})
	}

	// Read the log (token in the query string, which must not be logged)
	// and download the artifacts.
	const secret = rootToken
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v4/projects/%d/jobs/%d/trace?private_token=%s", s.URL, pid, jobIDs[0], secret), nil)
	req.Header.Set("X-Request-Id", "test-req-42")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != trace {
		t.Fatalf("trace: %d %q", res.StatusCode, body)
	}
	if got := res.Header.Get("X-Request-Id"); got != "test-req-42" {
		t.Errorf("X-Request-Id = %q, want the incoming one", got)
	}
	art := s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/artifacts", pid, jobIDs[1]), rootToken, nil)
	if len(art.Body) != zb.Len() {
		t.Fatalf("artifact download: %d bytes, want %d", len(art.Body), zb.Len())
	}
	if id := art.Header.Get("X-Request-Id"); len(id) != 26 {
		t.Errorf("generated X-Request-Id = %q, want a 26-character id", id)
	}

	// The API listener does not serve the metrics: /-/metrics (GitLab's
	// path) is the API's 404, /metrics a namespace the web UI does not
	// know.
	if r := s.do("GET", "/-/metrics", "", nil); r.Status != 404 || string(r.Body) != `{"error":"404 Not Found"}` {
		t.Errorf("GET /-/metrics on the API listener: %d %s", r.Status, r.Body)
	}
	if r := s.do("GET", "/metrics", "", nil); r.Status != 404 || bytes.Contains(r.Body, []byte("gantry_")) {
		t.Errorf("GET /metrics on the API listener: %d %s", r.Status, r.Body)
	}
	if r, err := http.Get(s.MetricsURL + "/api/v4/version"); err != nil || r.StatusCode != 404 {
		t.Errorf("the metrics listener serves more than /metrics: %v %v", r, err)
	}

	after := s.scrapeMetrics()
	delta := func(name string, kv ...string) float64 { return after.get(name, kv...) - before.get(name, kv...) }
	const traceRoute, requestRoute = "/api/v4/jobs/{id}/trace", "/api/v4/jobs/request"
	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"pipelines created by push", delta("gantry_pipelines_created_total", "source", "push"), 2},
		{"pipelines created by api", delta("gantry_pipelines_created_total", "source", "api"), 1},
		{"pipeline creations timed", delta("gantry_pipeline_creation_duration_seconds_count"), 3},
		{"config errors of pushes", delta("gantry_pipeline_config_errors_total", "source", "push"), 1},
		{"jobs finished success", delta("gantry_jobs_finished_total", "status", "success", "failure_reason", ""), 2},
		{"long polls with a job", delta("gantry_runner_job_requests_total", "outcome", "job"), 2},
		{"long polls timed out", delta("gantry_runner_job_requests_total", "outcome", "timeout"), 1},
		{"queue times of untagged instance jobs", delta("gantry_job_queue_duration_seconds_count",
			"runner_type", "instance_type", "has_tags", "false"), 2},
		{"trace PATCHes", delta("gantry_trace_patches_total"), 2},
		{"trace bytes in", delta("gantry_trace_received_bytes_total"), float64(2 * len(trace))},
		{"trace bytes read", delta("gantry_trace_read_bytes_total"), float64(len(trace))},
		{"artifact bytes down", delta("gantry_artifact_downloaded_bytes_total"), float64(zb.Len())},
		{"HTTP PATCH trace 202", delta("gantry_http_requests_total", "method", "PATCH", "route", traceRoute, "status", "202"), 2},
		{"HTTP job requests 201", delta("gantry_http_requests_total", "method", "POST", "route", requestRoute, "status", "201"), 2},
		{"HTTP job requests 204", delta("gantry_http_requests_total", "method", "POST", "route", requestRoute, "status", "204"), 1},
		{"HTTP trace reads timed", delta("gantry_http_request_duration_seconds_count", "method", "GET",
			"route", "/api/v4/projects/{id}/jobs/{job_id}/trace", "status", "200"), 1},
		{"HTTP /-/metrics on the API listener", delta("gantry_http_requests_total", "route", "unmatched", "status", "404"), 1},
		{"HTTP /metrics on the API listener", delta("gantry_http_requests_total", "route", "/{namespace}", "status", "404"), 1},
		{"pending builds", after.get("gantry_jobs_pending"), 0},
		{"running builds", after.get("gantry_jobs_running"), 0},
		{"parked long polls", after.get("gantry_runner_requests_parked"), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: moved by %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, c := range []struct {
		what string
		got  float64
	}{
		{"artifact bytes up", delta("gantry_artifact_uploaded_bytes_total") - float64(2*zb.Len())},
		{"processings", delta("gantry_pipeline_processing_duration_seconds_count") - 1},
		{"transactions", delta("gantry_db_transaction_duration_seconds_count") - 1},
		{"sweeps", delta("gantry_background_runs_total", "task", "recover_pipelines") - 1},
		{"runner contact", after.get("gantry_runner_last_contact_timestamp_seconds", "runner_type", "instance_type") - 1},
	} {
		if c.got < 0 {
			t.Errorf("%s: moved too little (%v short)", c.what, c.got)
		}
	}
	// The URL never reaches a label: no route holds a number.
	for _, sm := range after.samples {
		if r := sm.labels["route"]; regexp.MustCompile(`/\d`).MatchString(r) {
			t.Errorf("route label %q holds a raw path", r)
		}
	}
	writerWaits := delta("gantry_db_sqlite_writer_wait_seconds_count")
	if sqlite := s.DB == "" || !strings.HasPrefix(s.DB, "postgres"); sqlite != (writerWaits > 0) {
		t.Errorf("SQLite writer waits moved by %v (database %q)", writerWaits, s.DB)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !after.has(name) {
			t.Errorf("%s missing: Go runtime and process collectors", name)
		}
	}

	checkRequestLog(t, logs, pid, jobIDs[0])
	checkDashboard(t, after)
}

// checkRequestLog finds the trace read's log line and checks its fields,
// the job lifecycle lines, and that no token reached the log.
func checkRequestLog(t *testing.T, logs *syncBuffer, pid, jobID int64) {
	t.Helper()
	var reqLine map[string]any
	var life []string
	for _, l := range logs.lines(t) {
		if l["msg"] == "request" && l["request_id"] == "test-req-42" {
			reqLine = l
		}
		if m, _ := l["msg"].(string); strings.HasPrefix(m, "job ") && l["job_id"] == float64(jobID) {
			life = append(life, m)
			if m == "job picked up" && (l["runner_id"] == nil || l["queued_ms"] == nil) {
				t.Errorf("pick-up line without runner or queue time: %v", l)
			}
			if m == "job finished" && l["status"] != "success" {
				t.Errorf("finish line: %v", l)
			}
		}
	}
	if reqLine == nil {
		t.Fatalf("no request log line with request_id test-req-42 in:\n%s", logs)
	}
	for k, want := range map[string]any{"method": "GET", "route": "/api/v4/projects/{id}/jobs/{job_id}/trace",
		"status": float64(200), "user_id": float64(1), "job_id": float64(jobID)} {
		if reqLine[k] != want {
			t.Errorf("request log %s = %v, want %v (line %v)", k, reqLine[k], want, reqLine)
		}
	}
	if _, ok := reqLine["duration_ms"].(float64); !ok {
		t.Errorf("request log without duration_ms: %v", reqLine)
	}
	if want := []string{"job created", "job queued", "job picked up", "job finished"}; !slices.Equal(life, want) {
		t.Errorf("job %d lifecycle lines %q, want %q", jobID, life, want)
	}
	all := logs.String()
	for _, secret := range []string{rootToken, "private_token", "glrt-", "glcbt-", strconv.FormatInt(pid, 10) + "/jobs"} {
		if strings.Contains(all, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// checkDashboard loads docs/grafana/gantry.json as a Grafana dashboard and
// checks that every metric its queries name is in the registry.
func checkDashboard(t *testing.T, sc scrape) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana", "gantry.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || dash.SchemaVersion == 0 || len(dash.Panels) == 0 {
		t.Fatalf("dashboard lacks title, uid, schemaVersion or panels")
	}
	nameRe := regexp.MustCompile(`\b(gantry|go|process)_[a-zA-Z0-9_]+`)
	used := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %q (%s) has no title or no targets", p.Title, p.Type)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
			for _, name := range nameRe.FindAllString(tg.Expr, -1) {
				used++
				base := name
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suf); ok && sc.families[b] {
						base = b
					}
				}
				if !sc.families[base] {
					t.Errorf("panel %q uses %s, which Gantry does not export", p.Title, name)
				}
			}
		}
	}
	if used == 0 {
		t.Error("the dashboard queries no Gantry metric")
	}
}
