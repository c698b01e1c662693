package app_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// cell is the expected answer of one route for one caller: a status and,
// when set, a string the body must contain (it tells a policy refusal from
// a later state check, e.g. "403 Forbidden" from "Job is not erasable").
// For the git families status is 0 for "git succeeds", else the refusal.
type cell struct {
	status int
	body   string
}

func ok(status int) cell { return cell{status: status} }

var (
	c401      = cell{401, ""}
	c403      = cell{403, `{"message":"403 Forbidden"}`}
	c404      = cell{404, `"404 Project Not Found"`}
	scope403  = cell{403, `"error":"insufficient_scope"`}
	gitOK     = cell{0, ""}
	gitDenied = cell{-1, ""}
)

// jobTokenNotAllowed is GitLab's refusal of a token from outside the allowlist.
const jobTokenNotAllowed = "Authentication by CI/CD job token not allowed from denied to target."

// TestAccessMatrix is the access matrix: project roles and token kinds ×
// route families, each cell GitLab's answer (app/policies/project_policy.rb,
// app/policies/ci/build_policy.rb, lib/api/helpers.rb, Gitlab::GitAccess).
// The project is private with public pipelines on (the default).
func TestAccessMatrix(t *testing.T) { forEachDB(t, testAccessMatrix) }

func testAccessMatrix(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	target := s.project("target", "private")
	allowed := s.project("allowed", "private")
	denied := s.project("denied", "private")
	s.push("root/target", map[string]string{".gitlab-ci.yml": "build:\n  script: echo\nrdev:\n  script: echo\nrmaint:\n  script: echo\nrown:\n  script: echo\nrun:\n  script: echo\ndeploy:\n  script: echo\n  when: manual\n"})
	// The first push protected main; the matrix is about roles and tokens,
	// so it acts on an unprotected main (protected_test.go covers the
	// protected-ref rules).
	s.must(204, "DELETE", fmt.Sprintf("/api/v4/projects/%d/protected_branches/main", target), rootToken, nil)
	rn := s.registerRunner()
	buildID, buildTok := rn.take("build")
	rn.uploadArtifact(buildID, buildTok)
	rn.patch(buildID, buildTok, 0, "hello\n")
	if r := rn.finish(buildID, buildTok, "success", ""); r.Status != 200 {
		t.Fatalf("finish build: %d %s", r.Status, r.Body)
	}
	runID, runTok := rn.take("run")
	jobIDs := map[string]int64{}
	for name, j := range s.jobs(target) {
		jobIDs[name] = int64(j["id"].(float64))
	}
	s.push("root/allowed", map[string]string{".gitlab-ci.yml": "src_ok:\n  script: echo\n"})
	_, okTok := rn.take("src_ok")
	s.push("root/denied", map[string]string{".gitlab-ci.yml": "src_no:\n  script: echo\n"})
	_, noTok := rn.take("src_no")
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/job_token_scope/allowlist", target), rootToken,
		map[string]any{"target_project_id": allowed})
	_ = denied

	roles := []struct {
		name  string
		level int
	}{{"guest", 10}, {"reporter", 20}, {"developer", 30}, {"maintainer", 40}, {"owner", 50}, {"outsider", 0}}
	ids := map[string]int64{}
	toks := map[string]string{}
	for _, r := range roles {
		id, tok := s.user(r.name)
		ids[r.name], toks[r.name] = id, tok
		if r.level > 0 {
			s.member(target, id, r.level)
		}
	}
	_, readAPI := s.tokenFor(ids["developer"], "", "read_api")
	_, expired := s.tokenFor(ids["developer"], "2020-01-01", "api")
	revokedID, revoked := s.tokenFor(ids["developer"], "", "api")
	s.must(204, "DELETE", fmt.Sprintf("/api/v4/personal_access_tokens/%d", revokedID), rootToken, nil)

	base := fmt.Sprintf("/api/v4/projects/%d", target)
	families := []struct {
		name, method, path, body string
	}{
		{"project", "GET", base, ""},
		{"jobs", "GET", base + "/jobs", ""},
		{"job", "GET", fmt.Sprintf("%s/jobs/%d", base, buildID), ""},
		{"trace", "GET", fmt.Sprintf("%s/jobs/%d/trace", base, buildID), ""},
		{"cancel", "POST", fmt.Sprintf("%s/jobs/%d/cancel", base, buildID), ""},
		{"retry", "POST", fmt.Sprintf("%s/jobs/%d/retry", base, buildID), ""},
		{"play", "POST", fmt.Sprintf("%s/jobs/%d/play", base, buildID), ""},
		{"erase", "POST", fmt.Sprintf("%s/jobs/%d/erase", base, runID), ""},
		{"pipelines", "GET", base + "/pipelines", ""},
		{"create pipeline", "POST", base + "/pipeline", "ref=main"},
		{"artifacts", "GET", fmt.Sprintf("%s/jobs/%d/artifacts", base, buildID), ""},
		{"variables", "POST", base + "/variables", "key=K&value=v"},
		{"members", "GET", base + "/members", ""},
		{"add member", "POST", base + "/members", fmt.Sprintf("user_id=%d&access_level=10", ids["guest"])},
		{"clone", "", "", ""},
		{"push", "", "", ""},
	}
	// Answers of each role through an api-scoped token, by family, in the
	// order above.
	reader := []cell{ok(200), ok(200), ok(200), ok(200), c403, c403, c403, c403, ok(200), c403, ok(200), c403, ok(200), c403}
	developer := []cell{ok(200), ok(200), ok(200), ok(200), ok(201), ok(201), {400, "Unplayable Job"}, c403, ok(200), ok(201), ok(200), c403, ok(200), c403}
	maintainer := []cell{ok(200), ok(200), ok(200), ok(200), ok(201), ok(201), {400, "Unplayable Job"}, {403, "Job is not erasable"}, ok(200), ok(201), ok(200), ok(201), ok(200), {409, "Member already exists"}}
	all := func(c cell) []cell {
		out := make([]cell, 14)
		for i := range out {
			out[i] = c
		}
		return out
	}
	readOnly := []cell{ok(200), ok(200), ok(200), ok(200), scope403, scope403, scope403, scope403, ok(200), scope403, ok(200), scope403, ok(200), scope403}
	// A job token works only on the routes that take one (jobs list,
	// pipelines list, artifacts); elsewhere it is no credential at all.
	jobTok := func(jobRoutes cell) []cell {
		return []cell{c404, jobRoutes, c401, c401, c401, c401, c401, c401, jobRoutes, c401, jobRoutes, c401, c401, c401}
	}
	notAllowed := cell{403, jobTokenNotAllowed}
	finishedPipelines := c401
	finished := jobTok(c401)
	finished[8] = finishedPipelines

	rows := []struct {
		name  string
		c     cred
		user  string // git user name
		cells []cell
		clone cell
		push  cell
	}{
		{"guest PAT api", patCred(toks["guest"]), "oauth2", reader, gitDenied, gitDenied},
		{"reporter PAT api", patCred(toks["reporter"]), "oauth2", reader, gitOK, gitDenied},
		{"developer PAT api", patCred(toks["developer"]), "oauth2", developer, gitOK, gitOK},
		{"maintainer PAT api", patCred(toks["maintainer"]), "oauth2", maintainer, gitOK, gitOK},
		{"owner PAT api", patCred(toks["owner"]), "oauth2", maintainer, gitOK, gitOK},
		{"non-member PAT api", patCred(toks["outsider"]), "oauth2", all(c404), gitDenied, gitDenied},
		{"developer PAT read_api", patCred(readAPI), "oauth2", readOnly, gitOK, gitDenied},
		{"developer PAT expired", patCred(expired), "oauth2", all(c401), gitDenied, gitDenied},
		{"developer PAT revoked", patCred(revoked), "oauth2", all(c401), gitDenied, gitDenied},
		{"job token of the project", jobCred(runTok), "gitlab-ci-token", jobTok(ok(200)), gitOK, gitDenied},
		{"job token of an allowlisted project", jobCred(okTok), "gitlab-ci-token", jobTok(ok(200)), gitOK, gitDenied},
		{"job token of a project not allowlisted", jobCred(noTok), "gitlab-ci-token", jobTok(notAllowed), gitDenied, gitDenied},
		{"job token of a finished job", jobCred(buildTok), "gitlab-ci-token", finished, gitDenied, gitDenied},
	}
	for ri, row := range rows {
		for fi, f := range families {
			t.Run(row.name+"/"+f.name, func(t *testing.T) {
				secret := row.c.pat + row.c.job
				switch f.name {
				case "clone":
					dir := t.TempDir()
					okGit, out := gitAs(t, dir, "clone", "-q", s.gitURL(row.user, secret, "root/target"), "c")
					checkGit(t, row.clone, okGit, out)
					if row.name == "job token of a project not allowlisted" && !strings.Contains(out, jobTokenNotAllowed) {
						t.Errorf("git says %q, want %q", out, jobTokenNotAllowed)
					}
					return
				case "push":
					branch := fmt.Sprintf("m%d", ri)
					okGit, out := gitPushNew(t, s.gitURL(row.user, secret, "root/target"), branch)
					checkGit(t, row.push, okGit, out)
					if !okGit {
						// A refused push starts no pipeline.
						var pls []any
						s.must(200, "GET", base+"/pipelines?ref="+url.QueryEscape(branch), rootToken, nil).json(t, &pls)
						if len(pls) != 0 {
							t.Errorf("refused push created %d pipelines", len(pls))
						}
					}
					return
				}
				want := row.cells[fi]
				path := f.path
				if f.name == "retry" {
					// Each role that may retry has its own finished job:
					// a retried job is not retryable again.
					name := map[string]string{"developer PAT api": "rdev", "maintainer PAT api": "rmaint", "owner PAT api": "rown"}[row.name]
					if name == "" {
						name = "build"
					}
					path = fmt.Sprintf("%s/jobs/%d/retry", base, jobIDs[name])
				}
				body := f.body
				if f.name == "variables" {
					// Each role creates its own key: a taken key is 400,
					// as in GitLab.
					body = fmt.Sprintf("key=K%d&value=v", ri)
				}
				r := s.call(f.method, path, row.c, body)
				if r.Status != want.status || !strings.Contains(string(r.Body), want.body) {
					t.Errorf("%s %s: %d %s, want %d with %q", f.method, path, r.Status, r.Body, want.status, want.body)
				}
			})
		}
	}
}

func checkGit(t *testing.T, want cell, ok bool, out string) {
	t.Helper()
	if ok != (want.status == 0) {
		t.Errorf("git succeeded=%v, want %v: %s", ok, want.status == 0, out)
	}
}
