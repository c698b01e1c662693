package app_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const apiConfig = `
stages: [build, test, deploy]
a:
  stage: build
  script: echo a
b:
  stage: test
  script: echo b
  allow_failure: true
m:
  stage: deploy
  script: echo m
  when: manual
trig:
  stage: deploy
  trigger:
    include: child.yml
`

const childConfig = `
c:
  script: echo child
`

// jobsFixture is a pipeline with jobs in known states, driven through the
// runner protocol by hand: a success (with a log), b failed (allowed), m
// manual, trig a bridge with a child pipeline.
type jobsFixture struct {
	s              *server
	pid            int64
	a, b, m, trig  int64
	pipeline       int64
	aToken         string
	devTok, repTok string
	outsiderTok    string
}

func newJobsFixture(t *testing.T, o serverOpts) *jobsFixture {
	s := startServer(t, o)
	f := &jobsFixture{s: s}
	f.pid = s.project("api", "private")
	s.push("root/api", map[string]string{".gitlab-ci.yml": apiConfig, "child.yml": childConfig})
	r := s.registerRunner()
	var tok string
	f.a, tok = r.take("a")
	if got := r.patch(f.a, tok, 0, "line one\nline two\n"); got.Status != 202 {
		t.Fatalf("trace patch: %d %s", got.Status, got.Body)
	}
	if got := r.finish(f.a, tok, "success", ""); got.Status != 200 {
		t.Fatalf("finish a: %d %s", got.Status, got.Body)
	}
	f.b, tok = r.take("b")
	f.aToken = tok // b is running now: its token is a live job token
	jobs := s.jobs(f.pid)
	f.m = int64(jobs["m"]["id"].(float64))
	f.pipeline = int64(jobs["a"]["pipeline"].(map[string]any)["id"].(float64))
	devID, dev := s.user("dev")
	repID, rep := s.user("rep")
	_, f.outsiderTok = s.user("outsider")
	f.devTok, f.repTok = dev, rep
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/members", f.pid), rootToken, map[string]any{"user_id": devID, "access_level": 30})
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/members", f.pid), rootToken, map[string]any{"user_id": repID, "access_level": 20})
	// The first push protected main; these tests are about roles, so the
	// developer acts on an unprotected main (protected_test.go covers the rest).
	s.must(204, "DELETE", fmt.Sprintf("/api/v4/projects/%d/protected_branches/main", f.pid), rootToken, nil)
	return f
}

func TestJobsAPIErrors(t *testing.T) { forEachDB(t, testJobsAPIErrors) }

func testJobsAPIErrors(t *testing.T, o serverOpts) {
	f := newJobsFixture(t, o)
	s, p := f.s, fmt.Sprintf("/api/v4/projects/%d", f.pid)
	var bridges []map[string]any
	s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/bridges", p, f.pipeline), rootToken, nil).json(t, &bridges)
	if len(bridges) != 1 {
		t.Fatalf("bridges = %d", len(bridges))
	}
	f.trig = int64(bridges[0]["id"].(float64))

	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		want                      string
	}{
		{"list without credentials", "GET", p + "/jobs", "", nil, 401, `{"message":"401 Unauthorized"}`},
		{"list with a bad token", "GET", p + "/jobs", "glpat-nope", nil, 401, `{"message":"401 Unauthorized"}`},
		{"unknown project", "GET", "/api/v4/projects/999/jobs", rootToken, nil, 404, `{"message":"404 Project Not Found"}`},
		{"private project, outsider", "GET", p + "/jobs", f.outsiderTok, nil, 404, `{"message":"404 Project Not Found"}`},
		{"project by path", "GET", "/api/v4/projects/root%2Fapi/jobs?per_page=1", rootToken, nil, 200, ""},
		{"non-numeric non-path id", "GET", "/api/v4/projects/api/jobs", rootToken, nil, 404, `{"message":"404 Project Not Found"}`},
		{"invalid scope", "GET", p + "/jobs?scope[]=unknown", rootToken, nil, 400, `{"error":"scope does not have a valid value"}`},
		{"invalid scope string", "GET", p + "/jobs?scope=bogus", rootToken, nil, 400, `{"error":"scope does not have a valid value"}`},
		{"per_page zero", "GET", p + "/jobs?per_page=0", rootToken, nil, 400, `{"error":"per_page has a value not allowed"}`},
		{"page not an integer", "GET", p + "/jobs?page=x", rootToken, nil, 400, `{"error":"page is invalid"}`},
		{"keyset ascending", "GET", p + "/jobs?pagination=keyset&sort=asc", rootToken, nil, 405, `{"error":"Keyset pagination is not yet available for this type of request"}`},
		{"job id not an integer", "GET", p + "/jobs/abc", rootToken, nil, 400, `{"error":"job_id is invalid"}`},
		{"bad job id unauthenticated is 401", "GET", p + "/jobs/abc", "", nil, 401, `{"message":"401 Unauthorized"}`},
		{"unknown job", "GET", p + "/jobs/99999", rootToken, nil, 404, `{"message":"404 Not found"}`},
		{"negative job id", "GET", p + "/jobs/-1", rootToken, nil, 404, `{"message":"404 Not found"}`},
		{"bridge on builds-only route", "GET", fmt.Sprintf("%s/jobs/%d", p, f.trig), rootToken, nil, 404, `{"message":"404 Not found"}`},
		{"bridge trace", "GET", fmt.Sprintf("%s/jobs/%d/trace", p, f.trig), rootToken, nil, 404, `{"message":"404 Not found"}`},
		{"reporter reads", "GET", fmt.Sprintf("%s/jobs/%d", p, f.a), f.repTok, nil, 200, ""},
		{"reporter cannot cancel, even an unknown job", "POST", p + "/jobs/99999/cancel", f.repTok, nil, 403, `{"message":"403 Forbidden"}`},
		{"reporter cannot retry", "POST", fmt.Sprintf("%s/jobs/%d/retry", p, f.a), f.repTok, nil, 403, `{"message":"403 Forbidden"}`},
		{"reporter cannot play", "POST", fmt.Sprintf("%s/jobs/%d/play", p, f.m), f.repTok, nil, 403, `{"message":"403 Forbidden"}`},
		{"developer cannot force-cancel", "POST", fmt.Sprintf("%s/jobs/%d/cancel?force=true", p, f.b), f.devTok, nil, 403, `{"message":"403 Forbidden"}`},
		{"developer cannot erase others' jobs", "POST", fmt.Sprintf("%s/jobs/%d/erase", p, f.a), f.devTok, nil, 403, `{"message":"403 Forbidden"}`},
		{"running job is not retryable", "POST", fmt.Sprintf("%s/jobs/%d/retry", p, f.b), rootToken, nil, 403, `{"message":"403 Forbidden - Job is not retryable"}`},
		{"running job is not erasable", "POST", fmt.Sprintf("%s/jobs/%d/erase", p, f.b), rootToken, nil, 403, `{"message":"403 Forbidden - Job is not erasable!"}`},
		{"finished build is not playable", "POST", fmt.Sprintf("%s/jobs/%d/play", p, f.a), rootToken, nil, 400, `{"message":"400 Bad request - Unplayable Job"}`},
		{"play variable without key", "POST", fmt.Sprintf("%s/jobs/%d/play", p, f.m), rootToken, map[string]any{"job_variables_attributes": []map[string]string{{"value": "x"}}}, 400, `{"error":"job_variables_attributes[0][key] is missing"}`},
		{"cancel force not boolean", "POST", fmt.Sprintf("%s/jobs/%d/cancel?force=maybe", p, f.b), rootToken, nil, 400, `{"error":"force is invalid"}`},
		{"trace byte_limit too large", "GET", fmt.Sprintf("%s/jobs/%d/trace?byte_limit=600000", p, f.a), rootToken, nil, 400, `{"error":"byte_limit does not have a valid value"}`},
		{"trace negative offset", "GET", fmt.Sprintf("%s/jobs/%d/trace?byte_offset=-1", p, f.a), rootToken, nil, 400, `{"error":"byte_offset does not have a valid value"}`},
		{"unknown pipeline", "GET", p + "/pipelines/9999/jobs", rootToken, nil, 404, `{"message":"404 Not found"}`},
		{"unknown route", "GET", "/api/v4/nothing-here", rootToken, nil, 404, `{"error":"404 Not Found"}`},
		{"api v3", "GET", "/api/v3/projects", rootToken, nil, 410, `{"error":"API V3 is no longer supported. Use API V4 instead."}`},
		{"PAT on /job", "GET", "/api/v4/job", rootToken, nil, 404, `{"message":"404 Job Not Found"}`},
		{"no credentials on /job", "GET", "/api/v4/job", "", nil, 401, `{"message":"401 Unauthorized"}`},
		{"malformed JSON body", "POST", fmt.Sprintf("%s/jobs/%d/play", p, f.m), rootToken, rawJSON("{"), 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			if raw, ok := tc.body.(rawJSON); ok {
				r = s.doRaw(tc.method, tc.path, tc.token, "application/json", string(raw))
			} else {
				r = s.do(tc.method, tc.path, tc.token, tc.body)
			}
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.want != "" && string(r.Body) != tc.want {
				t.Errorf("body %s, want %s", r.Body, tc.want)
			}
			if ct := r.Header.Get("Content-Type"); r.Status != 200 && ct != "application/json" {
				t.Errorf("error content type %q", ct)
			}
		})
	}
}

type rawJSON string

func (s *server) doRaw(method, path, token, ct, body string) resp {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}
