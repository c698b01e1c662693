package app_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestJobTokenScopeAPI checks the job token scope settings and inbound
// allowlist routes (lib/api/project_job_token_scope.rb): new projects have
// the allowlist on; maintainers manage it; a listed project's running job
// reaches the project, an unlisted one gets GitLab's 403 until it is added,
// and turning the scope off opens the project to every job token again.
func TestJobTokenScopeAPI(t *testing.T) { forEachDB(t, testJobTokenScopeAPI) }

func testJobTokenScopeAPI(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	target := s.project("target", "private")
	src := s.project("src", "private")
	s.push("root/src", map[string]string{".gitlab-ci.yml": "j:\n  script: echo\n"})
	_, jobTok := s.registerRunner().take("j")
	devID, devTok := s.user("dev")
	s.member(target, devID, 30)
	base := fmt.Sprintf("/api/v4/projects/%d/job_token_scope", target)

	if got := string(s.must(200, "GET", base, rootToken, nil).Body); got != `{"inbound_enabled":true,"outbound_enabled":false}` {
		t.Errorf("new project's scope = %s", got)
	}
	s.must(403, "GET", base, devTok, nil)
	s.must(403, "POST", base+"/allowlist", devTok, map[string]any{"target_project_id": src})
	if got := string(s.must(200, "GET", base+"/allowlist", rootToken, nil).Body); got != "[]" {
		t.Errorf("empty allowlist = %s", got)
	}

	jobs := fmt.Sprintf("/api/v4/projects/%d/jobs", target)
	refused := s.call("GET", jobs, jobCred(jobTok), "")
	if refused.Status != 403 || string(refused.Body) != `{"message":"403 Forbidden - Authentication by CI/CD job token not allowed from src to target."}` {
		t.Errorf("unlisted job token: %d %s", refused.Status, refused.Body)
	}
	if ok, out := gitAs(t, t.TempDir(), "clone", "-q", s.gitURL("gitlab-ci-token", jobTok, "root/target"), "c"); ok ||
		!strings.Contains(out, "Authentication by CI/CD job token not allowed from src to target.") {
		t.Errorf("unlisted job token clones (ok=%v): %s", ok, out)
	}

	if got := string(s.must(201, "POST", base+"/allowlist", rootToken, map[string]any{"target_project_id": src}).Body); got != fmt.Sprintf(`{"source_project_id":%d,"target_project_id":%d}`, target, src) {
		t.Errorf("add: %s", got)
	}
	s.must(400, "POST", base+"/allowlist", rootToken, map[string]any{"target_project_id": src})
	s.must(404, "POST", base+"/allowlist", rootToken, map[string]any{"target_project_id": 9999})
	var list []map[string]any
	s.must(200, "GET", base+"/allowlist", rootToken, nil).json(t, &list)
	if len(list) != 1 || list[0]["path_with_namespace"] != "root/src" {
		t.Errorf("allowlist = %v", list)
	}
	if r := s.call("GET", jobs, jobCred(jobTok), ""); r.Status != 200 {
		t.Errorf("listed job token: %d %s", r.Status, r.Body)
	}
	if ok, out := gitAs(t, t.TempDir(), "clone", "-q", s.gitURL("gitlab-ci-token", jobTok, "root/target"), "c"); !ok {
		t.Errorf("listed job token cannot clone: %s", out)
	}

	s.must(204, "DELETE", fmt.Sprintf("%s/allowlist/%d", base, src), rootToken, nil)
	s.must(400, "DELETE", fmt.Sprintf("%s/allowlist/%d", base, src), rootToken, nil)
	if r := s.call("GET", jobs, jobCred(jobTok), ""); r.Status != 403 {
		t.Errorf("removed job token: %d %s", r.Status, r.Body)
	}
	s.must(400, "PATCH", base, rootToken, map[string]any{})
	s.must(204, "PATCH", base, rootToken, map[string]any{"enabled": false})
	if got := string(s.must(200, "GET", base, rootToken, nil).Body); got != `{"inbound_enabled":false,"outbound_enabled":false}` {
		t.Errorf("scope after PATCH = %s", got)
	}
	if r := s.call("GET", jobs, jobCred(jobTok), ""); r.Status != 200 {
		t.Errorf("job token with the scope off: %d %s", r.Status, r.Body)
	}
}

// TestMembersRules checks the member routes (lib/api/members.rb,
// Members::*Service): no silent role change on POST, PUT and DELETE, and
// only owners touch owners; the namespace owner stays owner.
func TestMembersRules(t *testing.T) { forEachDB(t, testMembersRules) }

func testMembersRules(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("p", "private")
	base := fmt.Sprintf("/api/v4/projects/%d/members", pid)
	mID, mTok := s.user("maint")
	oID, oTok := s.user("own")
	dID, _ := s.user("dev")
	xID, _ := s.user("x")
	s.member(pid, mID, 40)
	s.member(pid, oID, 50)
	s.member(pid, dID, 30)

	if r := s.do("POST", base, rootToken, map[string]any{"user_id": dID, "access_level": 40}); r.Status != 409 || string(r.Body) != `{"message":"Member already exists"}` {
		t.Errorf("existing member: %d %s", r.Status, r.Body)
	}
	var m map[string]any
	s.must(200, "GET", base, rootToken, nil).json(t, &[]any{})
	s.must(200, "PUT", fmt.Sprintf("%s/%d", base, dID), mTok, map[string]any{"access_level": 20}).json(t, &m)
	if m["access_level"] != float64(20) || m["id"] != float64(dID) {
		t.Errorf("PUT answer %v", m)
	}
	tests := []struct {
		name, method, path, token string
		body                      map[string]any
		status                    int
	}{
		{"maintainer cannot add an owner", "POST", base, mTok, map[string]any{"user_id": xID, "access_level": 50}, 403},
		{"maintainer cannot promote to owner", "PUT", fmt.Sprintf("%s/%d", base, dID), mTok, map[string]any{"access_level": 50}, 403},
		{"maintainer cannot demote an owner", "PUT", fmt.Sprintf("%s/%d", base, oID), mTok, map[string]any{"access_level": 30}, 403},
		{"maintainer cannot remove an owner", "DELETE", fmt.Sprintf("%s/%d", base, oID), mTok, nil, 403},
		{"owner cannot demote the namespace owner", "PUT", fmt.Sprintf("%s/1", base), oTok, map[string]any{"access_level": 40}, 403},
		{"owner cannot remove the namespace owner", "DELETE", fmt.Sprintf("%s/1", base), oTok, nil, 403},
		{"unknown member", "PUT", fmt.Sprintf("%s/%d", base, xID), mTok, map[string]any{"access_level": 30}, 404},
		{"bad level", "PUT", fmt.Sprintf("%s/%d", base, dID), mTok, map[string]any{"access_level": 33}, 400},
		{"owner promotes to owner", "PUT", fmt.Sprintf("%s/%d", base, dID), oTok, map[string]any{"access_level": 50}, 200},
		{"owner removes an owner", "DELETE", fmt.Sprintf("%s/%d", base, dID), oTok, nil, 204},
		{"removed member is gone", "DELETE", fmt.Sprintf("%s/%d", base, dID), oTok, nil, 404},
		{"maintainer adds a developer", "POST", base, mTok, map[string]any{"user_id": xID, "access_level": 30}, 201},
		{"maintainer removes a developer", "DELETE", fmt.Sprintf("%s/%d", base, xID), mTok, nil, 204},
	}
	for _, tc := range tests {
		var body any
		if tc.body != nil {
			body = tc.body
		}
		if r := s.do(tc.method, tc.path, tc.token, body); r.Status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.Status, r.Body, tc.status)
		}
	}
}

// TestArtifactsAccessAndDebugTrace checks artifacts:public/access on every
// download route (Ci::JobArtifact#public_access?/none_access?,
// app/policies/ci/build_policy.rb) and that a debug-mode job's trace is for
// developers only (read_build_trace with debug_mode?).
func TestArtifactsAccessAndDebugTrace(t *testing.T) {
	forEachDB(t, testArtifactsAccessAndDebugTrace)
}

func testArtifactsAccessAndDebugTrace(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("p", "private")
	s.push("root/p", map[string]string{".gitlab-ci.yml": `all:
  script: echo
  artifacts: {paths: [a.txt]}
devonly:
  script: echo
  artifacts: {paths: [a.txt], access: developer}
private:
  script: echo
  artifacts: {paths: [a.txt], public: false}
nobody:
  script: echo
  artifacts: {paths: [a.txt], access: none}
debug:
  script: echo
  variables: {CI_DEBUG_TRACE: "true"}
`})
	rn := s.registerRunner()
	ids := map[string]int64{}
	for _, name := range []string{"all", "devonly", "private", "nobody", "debug"} {
		id, tok := rn.take(name)
		ids[name] = id
		rn.uploadArtifact(id, tok)
		rn.patch(id, tok, 0, "log of "+name+"\n")
		if r := rn.finish(id, tok, "success", ""); r.Status != 200 {
			t.Fatalf("finish %s: %d %s", name, r.Status, r.Body)
		}
	}
	repID, repTok := s.user("rep")
	devID, devTok := s.user("dev")
	mID, mTok := s.user("maint")
	s.member(pid, repID, 20)
	s.member(pid, devID, 30)
	s.member(pid, mID, 40)
	base := fmt.Sprintf("/api/v4/projects/%d/jobs", pid)
	routes := func(name string) []string {
		return []string{
			fmt.Sprintf("%s/%d/artifacts", base, ids[name]),
			fmt.Sprintf("%s/%d/artifacts/a.txt", base, ids[name]),
			fmt.Sprintf("%s/artifacts/main/download?job=%s", base, name),
			fmt.Sprintf("%s/artifacts/main/raw/a.txt?job=%s", base, name),
		}
	}
	tests := []struct {
		job, who, token string
		status          int
	}{
		{"all", "reporter", repTok, 200},
		{"devonly", "reporter", repTok, 403},
		{"devonly", "developer", devTok, 200},
		{"private", "reporter", repTok, 403},
		{"private", "developer", devTok, 200},
		{"nobody", "developer", devTok, 403},
		{"nobody", "maintainer", mTok, 403},
	}
	for _, tc := range tests {
		for _, path := range routes(tc.job) {
			if r := s.do("GET", path, tc.token, nil); r.Status != tc.status {
				t.Errorf("%s as %s: GET %s = %d %s, want %d", tc.job, tc.who, path, r.Status, r.Body, tc.status)
			}
		}
	}
	trace := func(name, token string) resp {
		return s.do("GET", fmt.Sprintf("%s/%d/trace", base, ids[name]), token, nil)
	}
	if r := trace("debug", repTok); r.Status != 403 {
		t.Errorf("reporter reads a debug trace: %d %s", r.Status, r.Body)
	}
	if r := trace("debug", devTok); r.Status != 200 || string(r.Body) != "log of debug\n" {
		t.Errorf("developer debug trace: %d %s", r.Status, r.Body)
	}
	if r := trace("all", repTok); r.Status != 200 {
		t.Errorf("reporter plain trace: %d %s", r.Status, r.Body)
	}
}

// TestFinalUpdateAfterCancel checks that a runner's final PUT after the job
// was canceled is refused with 403 and Job-Status (lib/api/ci/runner.rb),
// while a repeated identical final update still answers 200.
func TestFinalUpdateAfterCancel(t *testing.T) { forEachDB(t, testFinalUpdateAfterCancel) }

func testFinalUpdateAfterCancel(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("p", "private")
	s.push("root/p", map[string]string{".gitlab-ci.yml": "a:\n  script: echo\nb:\n  script: echo\n"})
	rn := s.registerRunner()
	aID, aTok := rn.take("a")
	// A graceful cancel (the runner supports it) and then a forced one:
	// the job is canceled while the runner still holds it.
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/cancel", pid, aID), rootToken, nil)
	if st := s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/cancel?force=true", pid, aID), rootToken, nil).obj(t)["status"]; st != "canceled" {
		t.Fatalf("job after forced cancel: %v", st)
	}
	r := rn.finish(aID, aTok, "success", "")
	if r.Status != 403 || r.Header.Get("Job-Status") != "canceled" {
		t.Errorf("final PUT after cancel: %d Job-Status %q %s", r.Status, r.Header.Get("Job-Status"), r.Body)
	}
	bID, bTok := rn.take("b")
	rn.finish(bID, bTok, "success", "")
	if r := rn.finish(bID, bTok, "success", ""); r.Status != 200 {
		t.Errorf("repeated final PUT: %d %s", r.Status, r.Body)
	}
}
