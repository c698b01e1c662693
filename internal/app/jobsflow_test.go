package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func ids(t *testing.T, r resp) []int64 {
	t.Helper()
	var list []map[string]any
	r.json(t, &list)
	out := make([]int64, 0, len(list))
	for _, j := range list {
		out = append(out, int64(j["id"].(float64)))
	}
	return out
}

// TestJobsAPIFlows covers the success paths of the Jobs API: listing with
// scopes and both paginations, traces, job tokens, cancel, retry, erase,
// play, bridges, and the entity shapes (golden files).
func TestJobsAPIFlows(t *testing.T) { forEachDB(t, testJobsAPIFlows) }

func testJobsAPIFlows(t *testing.T, o serverOpts) {
	f := newJobsFixture(t, o)
	s, p := f.s, fmt.Sprintf("/api/v4/projects/%d", f.pid)

	// Listing: id descending, limited headers, no totals.
	all := s.must(200, "GET", p+"/jobs", rootToken, nil)
	list := ids(t, all)
	for i := 1; i < len(list); i++ {
		if list[i] >= list[i-1] {
			t.Fatalf("jobs not in id descending order: %v", list)
		}
	}
	h := all.Header
	if h.Get("X-Page") != "1" || h.Get("X-Per-Page") != "20" || h.Get("X-Total") != "" || h.Get("X-Total-Pages") != "" {
		t.Errorf("list headers: %v", h)
	}
	if _, ok := h["X-Next-Page"]; !ok || h.Get("X-Next-Page") != "" || h.Get("X-Prev-Page") != "" {
		t.Errorf("X-Next-Page/X-Prev-Page must be present and empty: %v", h)
	}
	if strings.Contains(h.Get("Link"), `rel="last"`) || !strings.Contains(h.Get("Link"), `rel="first"`) {
		t.Errorf("Link: %s", h.Get("Link"))
	}
	page1 := s.must(200, "GET", p+"/jobs?per_page=1", rootToken, nil)
	if page1.Header.Get("X-Next-Page") != "2" || !strings.Contains(page1.Header.Get("Link"), `rel="next"`) {
		t.Errorf("per_page=1 headers: %v", page1.Header)
	}
	if big := s.must(200, "GET", p+"/jobs?per_page=1000", rootToken, nil); big.Header.Get("X-Per-Page") != "100" {
		t.Errorf("per_page not capped: %s", big.Header.Get("X-Per-Page"))
	}

	// Scopes.
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"scope=success", []int64{f.a}},
		{"scope[]=success&scope[]=running", []int64{f.b, f.a}},
		{"scope[]=created", []int64{f.m}},
		{"scope=running&ref=main", []int64{f.b}},
		{"scope=running&ref=other", []int64{}},
	} {
		if got := ids(t, s.must(200, "GET", p+"/jobs?"+tc.query, rootToken, nil)); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.query, got, tc.want)
		}
	}

	// Keyset pagination walks the same ids as the full list.
	var walked []int64
	next := p + "/jobs?pagination=keyset&per_page=1&order_by=id&sort=desc"
	for range 10 {
		r := s.must(200, "GET", next, rootToken, nil)
		walked = append(walked, ids(t, r)...)
		link := r.Header.Get("Link")
		if link == "" {
			break
		}
		if r.Header.Get("X-Page") != "" {
			t.Errorf("keyset sends X-Page")
		}
		u := link[strings.Index(link, "<")+1 : strings.Index(link, ">")]
		next = strings.TrimPrefix(u, "http://"+strings.TrimPrefix(s.URL, "http://"))
	}
	if fmt.Sprint(walked) != fmt.Sprint(list) {
		t.Errorf("keyset walk %v, want %v", walked, list)
	}

	// Pipeline lists send totals.
	pj := s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/jobs?per_page=2", p, f.pipeline), rootToken, nil)
	if pj.Header.Get("X-Total") != "3" || pj.Header.Get("X-Total-Pages") != "2" || !strings.Contains(pj.Header.Get("Link"), `rel="last"`) {
		t.Errorf("pipeline job headers: %v", pj.Header)
	}

	// Trace with byte ranges.
	tr := s.must(200, "GET", fmt.Sprintf("%s/jobs/%d/trace", p, f.a), rootToken, nil)
	if string(tr.Body) != "line one\nline two\n" {
		t.Errorf("trace %q", tr.Body)
	}
	if cd := tr.Header.Get("Content-Disposition"); cd != fmt.Sprintf(`infile; filename="%d.log"`, f.a) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if part := s.must(200, "GET", fmt.Sprintf("%s/jobs/%d/trace?byte_offset=5&byte_limit=3", p, f.a), rootToken, nil); string(part.Body) != "one" {
		t.Errorf("trace slice %q", part.Body)
	}
	// Windows of the archived log: to its end, and past it.
	if part := s.must(200, "GET", fmt.Sprintf("%s/jobs/%d/trace?byte_offset=9", p, f.a), rootToken, nil); string(part.Body) != "line two\n" {
		t.Errorf("trace from offset 9 %q", part.Body)
	}
	if part := s.must(200, "GET", fmt.Sprintf("%s/jobs/%d/trace?byte_offset=1000&byte_limit=10", p, f.a), rootToken, nil); len(part.Body) != 0 {
		t.Errorf("trace past its end %q", part.Body)
	}
	// Windows of a live log (b is running): read from its chunks, a window
	// at a time, across chunk boundaries.
	live := ""
	for i := range 3 {
		part := strings.Repeat(fmt.Sprintf("chunk %d ", i), 12500) // 100,000 bytes each
		if got := (&fakeRunner{s: s}).patch(f.b, f.aToken, len(live), part); got.Status != 202 {
			t.Fatalf("live trace patch %d: %d %s", i, got.Status, got.Body)
		}
		live += part
	}
	for _, w := range []struct{ off, limit int }{{0, 0}, {5, 10}, {99995, 10}, {150000, 512000}, {299990, 100}, {300000, 5}} {
		url := fmt.Sprintf("%s/jobs/%d/trace?byte_offset=%d", p, f.b, w.off)
		want := live[min(w.off, len(live)):]
		if w.limit > 0 {
			url += fmt.Sprintf("&byte_limit=%d", w.limit)
			want = want[:min(w.limit, len(want))]
		}
		if got := s.must(200, "GET", url, rootToken, nil); string(got.Body) != want {
			t.Errorf("live trace window %+v: %d bytes, want %d", w, len(got.Body), len(want))
		}
	}
	if empty := s.must(200, "GET", fmt.Sprintf("%s/jobs/%d/trace", p, f.m), rootToken, nil); len(empty.Body) != 0 {
		t.Errorf("trace of a job without log: %q", empty.Body)
	}

	// Job tokens: accepted on the list and /job, refused elsewhere.
	jt := func(method, path, how string) resp {
		req, _ := http.NewRequest(method, s.URL+path, nil)
		switch how {
		case "header":
			req.Header.Set("JOB-TOKEN", f.aToken)
		case "bearer":
			req.Header.Set("Authorization", "Bearer "+f.aToken)
		case "param":
			q := req.URL.Query()
			q.Set("job_token", f.aToken)
			req.URL.RawQuery = q.Encode()
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return resp{Status: res.StatusCode}
	}
	for _, how := range []string{"header", "bearer", "param"} {
		if r := jt("GET", "/api/v4/job", how); r.Status != 200 {
			t.Errorf("GET /job with job token (%s): %d", how, r.Status)
		}
	}
	if r := jt("GET", p+"/jobs", "header"); r.Status != 200 {
		t.Errorf("job token on list: %d", r.Status)
	}
	if r := jt("GET", fmt.Sprintf("%s/jobs/%d", p, f.a), "header"); r.Status != 401 {
		t.Errorf("job token on single job: %d, want 401", r.Status)
	}
	if r := jt("GET", "/api/v4/job/allowed_agents", "header"); r.Status != 200 {
		t.Errorf("allowed_agents: %d", r.Status)
	}

	// Entity shapes.
	golden(t, "job_success", s.must(200, "GET", fmt.Sprintf("%s/jobs/%d", p, f.a), rootToken, nil).Body)
	golden(t, "job_manual", s.must(200, "GET", fmt.Sprintf("%s/jobs/%d", p, f.m), rootToken, nil).Body)
	golden(t, "bridges", s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/trigger_jobs", p, f.pipeline), rootToken, nil).Body)
	golden(t, "pipeline", s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d", p, f.pipeline), rootToken, nil).Body)
	golden(t, "pipelines", s.must(200, "GET", p+"/pipelines", rootToken, nil).Body)

	// Cancel: a finished job is unchanged; a running job of a graceful
	// runner goes to canceling, then canceled when the runner reports.
	if c := s.must(201, "POST", fmt.Sprintf("%s/jobs/%d/cancel", p, f.a), rootToken, nil).obj(t); c["status"] != "success" {
		t.Errorf("cancel of success: %v", c["status"])
	}
	if c := s.must(201, "POST", fmt.Sprintf("%s/jobs/%d/cancel", p, f.b), f.devTok, nil).obj(t); c["status"] != "canceling" {
		t.Fatalf("cancel of running: %v", c["status"])
	}
	r := &fakeRunner{s: s}
	if got := r.patch(f.b, f.aToken, 0, "x\n"); got.Header.Get("Job-Status") != "canceling" {
		t.Errorf("PATCH after cancel: Job-Status %q", got.Header.Get("Job-Status"))
	}
	if got := r.finish(f.b, f.aToken, "failed", "unknown_failure"); got.Status != 200 {
		t.Errorf("final PUT of canceling job: %d", got.Status)
	}
	b := s.must(200, "GET", fmt.Sprintf("%s/jobs/%d", p, f.b), rootToken, nil).obj(t)
	if b["status"] != "canceled" || b["finished_at"] == nil {
		t.Errorf("canceled job: %v finished_at %v", b["status"], b["finished_at"])
	}
	if _, ok := b["failure_reason"]; ok {
		t.Errorf("failure_reason present on a canceled job")
	}
	if got := r.patch(f.b, f.aToken, 2, "y\n"); got.Status != 403 || got.Header.Get("Job-Status") != "canceled" {
		t.Errorf("PATCH after the end: %d %q", got.Status, got.Header.Get("Job-Status"))
	}

	// Retry: a new job, the old one keeps its status and leaves the
	// pipeline list unless include_retried.
	nb := s.must(201, "POST", fmt.Sprintf("%s/jobs/%d/retry", p, f.b), f.devTok, nil).obj(t)
	nbID := int64(nb["id"].(float64))
	if nbID == f.b || nb["status"] != "pending" || nb["user"].(map[string]any)["username"] != "dev" {
		t.Errorf("retry answer: id %v status %v user %v", nb["id"], nb["status"], nb["user"])
	}
	if old := s.must(200, "GET", fmt.Sprintf("%s/jobs/%d", p, f.b), rootToken, nil).obj(t); old["status"] != "canceled" {
		t.Errorf("old job after retry: %v", old["status"])
	}
	latest := ids(t, s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/jobs", p, f.pipeline), rootToken, nil))
	withRetried := ids(t, s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/jobs?include_retried=true", p, f.pipeline), rootToken, nil))
	if contains(latest, f.b) || !contains(latest, nbID) || !contains(withRetried, f.b) {
		t.Errorf("pipeline jobs latest %v, with retried %v", latest, withRetried)
	}
	if projectList := ids(t, s.must(200, "GET", p+"/jobs", rootToken, nil)); !contains(projectList, f.b) || !contains(projectList, nbID) {
		t.Errorf("project list must keep both jobs: %v", projectList)
	}

	// Erase: the log and artifacts go, the status stays.
	e := s.must(201, "POST", fmt.Sprintf("%s/jobs/%d/erase", p, f.a), rootToken, nil).obj(t)
	if e["erased_at"] == nil || e["status"] != "success" || len(e["artifacts"].([]any)) != 0 || e["artifacts_expire_at"] != nil {
		t.Errorf("erase answer: %v", e)
	}
	if tr := s.must(200, "GET", fmt.Sprintf("%s/jobs/%d/trace", p, f.a), rootToken, nil); len(tr.Body) != 0 {
		t.Errorf("trace after erase: %q", tr.Body)
	}
	s.must(403, "POST", fmt.Sprintf("%s/jobs/%d/erase", p, f.a), rootToken, nil)

	// Play with variables keeps the id and enqueues.
	pl := s.must(200, "POST", fmt.Sprintf("%s/jobs/%d/play", p, f.m), f.devTok,
		"job_variables_attributes[][key]=TARGET&job_variables_attributes[][value]=prod").obj(t)
	if int64(pl["id"].(float64)) != f.m || pl["status"] != "pending" || pl["user"].(map[string]any)["username"] != "dev" {
		t.Errorf("play answer: %v %v %v", pl["id"], pl["status"], pl["user"])
	}

	// The bridge created its child pipeline.
	var br []map[string]any
	s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/bridges", p, f.pipeline), rootToken, nil).json(t, &br)
	dp, _ := br[0]["downstream_pipeline"].(map[string]any)
	if dp == nil || dp["source"] != "parent_pipeline" {
		t.Fatalf("bridge downstream_pipeline = %v", br[0]["downstream_pipeline"])
	}
	child := s.must(200, "GET", fmt.Sprintf("%s/pipelines/%v/jobs", p, dp["id"]), rootToken, nil)
	if names := jobNames(t, child); fmt.Sprint(names) != "[c]" {
		t.Errorf("child jobs %v", names)
	}
	_ = time.Second
}

func contains(xs []int64, x int64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func jobNames(t *testing.T, r resp) []string {
	var list []map[string]any
	r.json(t, &list)
	var out []string
	for _, j := range list {
		out = append(out, j["name"].(string))
	}
	return out
}
