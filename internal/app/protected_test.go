package app_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

const protectedCI = "show:\n  script: echo hi\n"

// protFixture is a private project whose first push (by root) made main
// its default, protected branch, with a developer and a maintainer.
type protFixture struct {
	s                *server
	pid              int64
	devTok, maintTok string
}

func newProtFixture(t *testing.T, o serverOpts) *protFixture {
	s := startServer(t, o)
	pid := s.project("prot", "private")
	s.push("root/prot", map[string]string{".gitlab-ci.yml": protectedCI, "a.txt": "a"})
	devID, devTok := s.user("dev")
	maintID, maintTok := s.user("maint")
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/members", pid), rootToken, map[string]any{"user_id": devID, "access_level": 30})
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/members", pid), rootToken, map[string]any{"user_id": maintID, "access_level": 40})
	return &protFixture{s: s, pid: pid, devTok: devTok, maintTok: maintTok}
}

func (f *protFixture) api(p string) string { return fmt.Sprintf("/api/v4/projects/%d%s", f.pid, p) }

// clone checks the project out as the token's user and returns a git
// runner in that work tree.
func (f *protFixture) clone(t *testing.T, token string) func(args ...string) (bool, string) {
	t.Helper()
	dir := t.TempDir()
	u := strings.Replace(f.s.URL, "http://", "http://oauth2:"+token+"@", 1) + "/root/prot.git"
	if ok, out := gitAs(t, dir, "clone", "-q", u, "w"); !ok {
		t.Fatalf("clone: %s", out)
	}
	work := filepath.Join(dir, "w")
	n := 0
	return func(args ...string) (bool, string) {
		t.Helper()
		if len(args) == 1 && args[0] == "commit" {
			n++
			if err := os.WriteFile(filepath.Join(work, "a.txt"), []byte(fmt.Sprintf("%s %d", t.Name(), n)), 0o644); err != nil {
				t.Fatal(err)
			}
			args = []string{"commit", "-q", "-am", fmt.Sprintf("change %d", n)}
		}
		return gitAs(t, work, args...)
	}
}

// remoteRef is the ref's value on the server ("" when absent).
func (f *protFixture) remoteRef(t *testing.T, ref string) string {
	t.Helper()
	u := strings.Replace(f.s.URL, "http://", "http://oauth2:"+rootToken+"@", 1) + "/root/prot.git"
	ok, out := gitAs(t, t.TempDir(), "ls-remote", u, ref)
	if !ok {
		t.Fatalf("ls-remote: %s", out)
	}
	if f := strings.Fields(out); len(f) > 0 {
		return f[0]
	}
	return ""
}

// TestProtectedPush pushes with real git as a developer and a maintainer
// against protected branches and tags: git must refuse before any ref
// moves, printing GitLab's message.
func TestProtectedPush(t *testing.T) { forEachDB(t, testProtectedPush) }

func testProtectedPush(t *testing.T, o serverOpts) {
	f := newProtFixture(t, o)
	s := f.s
	dev, maint := f.clone(t, f.devTok), f.clone(t, f.maintTok)
	const declined = "(pre-receive hook declined)"
	denied := func(what string, ok bool, out, msg string) {
		t.Helper()
		if ok {
			t.Fatalf("%s: push succeeded:\n%s", what, out)
		}
		if !strings.Contains(out, "remote: GitLab: "+msg) || !strings.Contains(out, declined) {
			t.Errorf("%s: git output lacks GitLab's message %q:\n%s", what, msg, out)
		}
	}
	allowed := func(what string, ok bool, out string) {
		t.Helper()
		if !ok {
			t.Fatalf("%s: push refused:\n%s", what, out)
		}
	}

	// The first push protected the default branch: developers cannot push.
	main0 := f.remoteRef(t, "refs/heads/main")
	dev("commit")
	ok, out := dev("push", "origin", "main")
	denied("developer pushes to main", ok, out, "You are not allowed to push code to protected branches on this project.")
	if got := f.remoteRef(t, "refs/heads/main"); got != main0 {
		t.Fatalf("main moved from %s to %s after a refused push", main0, got)
	}
	// …and a developer's push of several refs is refused as a whole.
	dev("branch", "topic")
	ok, out = dev("push", "origin", "main", "topic")
	denied("developer pushes main and topic", ok, out, "You are not allowed to push code to protected branches on this project.")
	if f.remoteRef(t, "refs/heads/topic") != "" {
		t.Error("topic was created by a refused push")
	}
	ok, out = dev("push", "origin", "topic")
	allowed("developer pushes an unprotected branch", ok, out)

	maint("commit")
	ok, out = maint("push", "origin", "main")
	allowed("maintainer pushes to main", ok, out)

	// Rewriting main is a force push, refused even to maintainers…
	maint("reset", "-q", "--hard", "HEAD~1")
	maint("commit")
	before := f.remoteRef(t, "refs/heads/main")
	ok, out = maint("push", "-f", "origin", "main")
	denied("maintainer force-pushes main", ok, out, "You are not allowed to force push code to a protected branch on this project.")
	if f.remoteRef(t, "refs/heads/main") != before {
		t.Fatal("main moved after a refused force push")
	}
	// …until the rule allows it.
	s.must(200, "PATCH", f.api("/protected_branches/main"), f.maintTok, map[string]any{"allow_force_push": true})
	ok, out = maint("push", "-f", "origin", "main")
	allowed("maintainer force-pushes main where allowed", ok, out)
	s.must(200, "PATCH", f.api("/protected_branches/main"), f.maintTok, map[string]any{"allow_force_push": false})

	ok, out = maint("push", "origin", ":main")
	denied("maintainer deletes the default branch", ok, out, "The default branch of a project cannot be deleted.")

	// A wildcard rule developers may push to: create and push, not delete.
	s.must(201, "POST", f.api("/protected_branches"), f.maintTok, map[string]any{"name": "release/*", "push_access_level": 30})
	ok, out = dev("push", "origin", "HEAD:refs/heads/release/1.0")
	allowed("developer creates release/1.0", ok, out)
	ok, out = dev("push", "origin", ":release/1.0")
	denied("developer deletes release/1.0", ok, out, "You are not allowed to delete protected branches from this project. "+
		"Only a project maintainer or owner can delete a protected branch.")
	ok, out = maint("push", "origin", ":release/1.0")
	denied("maintainer deletes release/1.0 over git", ok, out, "You can only delete protected branches using the web interface.")
	if f.remoteRef(t, "refs/heads/release/1.0") == "" {
		t.Fatal("release/1.0 was deleted by a refused push")
	}

	// Protected tags: maintainers create, nobody moves one.
	s.must(201, "POST", f.api("/protected_tags"), f.maintTok, map[string]any{"name": "v*"})
	dev("tag", "v1.0")
	ok, out = dev("push", "origin", "v1.0")
	denied("developer creates tag v1.0", ok, out, "You are not allowed to create this tag as it is protected.")
	dev("tag", "nightly-1")
	ok, out = dev("push", "origin", "nightly-1")
	allowed("developer creates an unprotected tag", ok, out)
	maint("tag", "v1.0")
	ok, out = maint("push", "origin", "v1.0")
	allowed("maintainer creates tag v1.0", ok, out)
	maint("commit")
	maint("tag", "-f", "v1.0")
	ok, out = maint("push", "-f", "origin", "v1.0")
	denied("maintainer moves tag v1.0", ok, out, "Protected tags cannot be updated.")
	ok, out = dev("push", "origin", ":refs/tags/v1.0")
	denied("developer deletes tag v1.0", ok, out, "You are not allowed to delete protected tags from this project. "+
		"Only a project maintainer or owner can delete a protected tag.")

	// Unprotecting lifts the rule.
	s.must(204, "DELETE", f.api("/protected_branches/"+url.PathEscape("release/*")), f.maintTok, nil)
	ok, out = dev("push", "origin", ":release/1.0")
	allowed("developer deletes an unprotected release branch", ok, out)
}

// TestProtectedRefsAPI covers the protected_branches and protected_tags
// endpoints: entities, defaults, errors and who may call them.
func TestProtectedRefsAPI(t *testing.T) { forEachDB(t, testProtectedRefsAPI) }

func testProtectedRefsAPI(t *testing.T, o serverOpts) {
	f := newProtFixture(t, o)
	s := f.s
	golden(t, "protected_branches_default", s.must(200, "GET", f.api("/protected_branches"), f.maintTok, nil).Body)

	r := s.must(201, "POST", f.api("/protected_branches"), f.maintTok,
		map[string]any{"name": "release/*", "push_access_level": 30, "merge_access_level": 0, "allow_force_push": true})
	golden(t, "protected_branch_created", r.Body)
	s.must(201, "POST", f.api("/protected_branches"), f.maintTok, "name=admins-only&push_access_level=60")

	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		want                      string
	}{
		{"duplicate", "POST", "/protected_branches", f.maintTok, map[string]any{"name": "main"}, 409,
			`{"message":"Protected branch 'main' already exists"}`},
		{"missing name", "POST", "/protected_branches", f.maintTok, map[string]any{}, 400, `{"error":"name is missing"}`},
		{"bad level", "POST", "/protected_branches", f.maintTok, map[string]any{"name": "x", "push_access_level": 20}, 400,
			`{"error":"push_access_level does not have a valid value"}`},
		{"unknown branch", "GET", "/protected_branches/nope", f.maintTok, nil, 404, `{"message":"404 Not found"}`},
		{"unknown branch patch", "PATCH", "/protected_branches/nope", f.maintTok, map[string]any{"allow_force_push": true}, 404,
			`{"message":"404 Not found"}`},
		{"unknown branch delete", "DELETE", "/protected_branches/nope", f.maintTok, nil, 404, `{"message":"404 Not found"}`},
		{"developer lists", "GET", "/protected_branches", f.devTok, nil, 403, `{"message":"403 Forbidden"}`},
		{"developer protects", "POST", "/protected_branches", f.devTok, map[string]any{"name": "x"}, 403, `{"message":"403 Forbidden"}`},
		{"developer unprotects", "DELETE", "/protected_branches/main", f.devTok, nil, 403, `{"message":"403 Forbidden"}`},
		{"developer lists tags", "GET", "/protected_tags", f.devTok, nil, 403, `{"message":"403 Forbidden"}`},
		{"anonymous", "GET", "/protected_branches", "", nil, 401, `{"message":"401 Unauthorized"}`},
		{"unknown tag", "GET", "/protected_tags/v9", f.maintTok, nil, 404, `{"message":"404 Not found"}`},
		{"bad tag level", "POST", "/protected_tags", f.maintTok, map[string]any{"name": "x", "create_access_level": 50}, 400,
			`{"error":"create_access_level does not have a valid value"}`},
	} {
		got := s.do(tc.method, f.api(tc.path), tc.token, tc.body)
		if got.Status != tc.status || strings.TrimSpace(string(got.Body)) != tc.want {
			t.Errorf("%s: %d %s, want %d %s", tc.name, got.Status, got.Body, tc.status, tc.want)
		}
	}

	// The name travels URL-encoded, slashes included.
	one := s.must(200, "GET", f.api("/protected_branches/release%2F*"), f.maintTok, nil).obj(t)
	if one["name"] != "release/*" || one["allow_force_push"] != true {
		t.Errorf("GET release/*: %v", one)
	}
	p := s.must(200, "PATCH", f.api("/protected_branches/release%2F*"), f.maintTok,
		map[string]any{"allow_force_push": false, "code_owner_approval_required": true}).obj(t)
	if p["allow_force_push"] != false || p["code_owner_approval_required"] != true {
		t.Errorf("PATCH: %v", p)
	}
	var list []map[string]any
	s.must(200, "GET", f.api("/protected_branches?search=RELEASE"), f.maintTok, nil).json(t, &list)
	if len(list) != 1 || list[0]["name"] != "release/*" {
		t.Errorf("search: %v", list)
	}
	pg := s.must(200, "GET", f.api("/protected_branches?per_page=2"), f.maintTok, nil)
	if pg.Header.Get("X-Total") != "3" || pg.Header.Get("X-Next-Page") != "2" {
		t.Errorf("pagination headers: %v", pg.Header)
	}

	golden(t, "protected_tag_created", s.must(201, "POST", f.api("/protected_tags"), f.maintTok,
		map[string]any{"name": "v*", "create_access_level": 30}).Body)
	got := s.do("POST", f.api("/protected_tags"), f.maintTok, map[string]any{"name": "v*"})
	if got.Status != 422 || strings.TrimSpace(string(got.Body)) != `{"message":["Name has already been taken"]}` {
		t.Errorf("duplicate tag: %d %s", got.Status, got.Body)
	}
	golden(t, "protected_tags", s.must(200, "GET", f.api("/protected_tags"), f.maintTok, nil).Body)
	s.must(204, "DELETE", f.api("/protected_tags/v*"), f.maintTok, nil)
	s.must(404, "GET", f.api("/protected_tags/v*"), f.maintTok, nil)

	// GitLab's official Go client reads and writes the same entities.
	gl, err := gitlab.NewClient(f.maintTok, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	pb, _, err := gl.ProtectedBranches.ProtectRepositoryBranches(int(f.pid), &gitlab.ProtectRepositoryBranchesOptions{
		Name: gitlab.Ptr("stable-*"), PushAccessLevel: gitlab.Ptr(gitlab.NoPermissions),
		MergeAccessLevel: gitlab.Ptr(gitlab.DeveloperPermissions)})
	if err != nil || pb.Name != "stable-*" || len(pb.PushAccessLevels) != 1 ||
		pb.PushAccessLevels[0].AccessLevel != gitlab.NoPermissions || pb.PushAccessLevels[0].AccessLevelDescription != "No one" ||
		pb.MergeAccessLevels[0].AccessLevel != gitlab.DeveloperPermissions {
		t.Fatalf("ProtectRepositoryBranches: %v %+v", err, pb)
	}
	all, _, err := gl.ProtectedBranches.ListProtectedBranches(int(f.pid), nil)
	if err != nil || len(all) != 4 || all[0].Name != "main" || all[0].AllowForcePush {
		t.Fatalf("ListProtectedBranches: %v %+v", err, all)
	}
	if _, err := gl.ProtectedBranches.UnprotectRepositoryBranches(int(f.pid), "stable-*"); err != nil {
		t.Fatalf("UnprotectRepositoryBranches: %v", err)
	}
	pt, _, err := gl.ProtectedTags.ProtectRepositoryTags(int(f.pid), &gitlab.ProtectRepositoryTagsOptions{
		Name: gitlab.Ptr("rel-*")})
	if err != nil || pt.Name != "rel-*" || len(pt.CreateAccessLevels) != 1 || pt.CreateAccessLevels[0].AccessLevel != gitlab.MaintainerPermissions {
		t.Fatalf("ProtectRepositoryTags: %v %+v", err, pt)
	}
}

// TestProtectedPipelines checks what hangs on a ref's protection: the
// pipeline's protected flag as the runner sees it, CI_COMMIT_REF_PROTECTED,
// protected variables, and runners that only take protected refs' jobs.
func TestProtectedPipelines(t *testing.T) { forEachDB(t, testProtectedPipelines) }

func testProtectedPipelines(t *testing.T, o serverOpts) {
	f := newProtFixture(t, o)
	s := f.s
	s.must(201, "POST", f.api("/variables"), rootToken, map[string]any{"key": "DEPLOY_KEY", "value": "protected-secret", "protected": true})
	s.must(201, "POST", f.api("/variables"), rootToken, map[string]any{"key": "PLAIN", "value": "everyone"})

	var rn struct{ Token string }
	s.must(201, "POST", "/api/v4/runners", "", map[string]any{"token": registrationToken, "description": "prot",
		"run_untagged": true, "access_level": "ref_protected"}).json(t, &rn)
	protRunner := &fakeRunner{s: s, token: rn.Token}
	anyRunner := s.registerRunner()

	check := func(what string, job map[string]any, protected bool) {
		t.Helper()
		vars := map[string]string{}
		for _, v := range job["variables"].([]any) {
			m := v.(map[string]any)
			vars[m["key"].(string)] = m["value"].(string)
		}
		gi := job["git_info"].(map[string]any)
		if gi["protected"] != protected || vars["CI_COMMIT_REF_PROTECTED"] != fmt.Sprint(protected) {
			t.Errorf("%s: git_info.protected %v, CI_COMMIT_REF_PROTECTED %q, want %v", what, gi["protected"],
				vars["CI_COMMIT_REF_PROTECTED"], protected)
		}
		if _, has := vars["DEPLOY_KEY"]; has != protected {
			t.Errorf("%s: protected variable present = %v, want %v", what, has, protected)
		}
		if vars["PLAIN"] != "everyone" {
			t.Errorf("%s: unprotected variable missing", what)
		}
	}
	finish := func(r *fakeRunner, job map[string]any) {
		t.Helper()
		if res := r.finish(int64(job["id"].(float64)), job["token"].(string), "success", ""); res.Status != 200 {
			t.Fatalf("finish: %d %s", res.Status, res.Body)
		}
	}

	// The first push's pipeline on main (protected at that push) goes to
	// the protected runner, with the protected variable.
	job := protRunner.request()
	if job == nil || job["git_info"].(map[string]any)["ref"] != "main" {
		t.Fatalf("protected runner got %v, want main's job", job)
	}
	check("main", job, true)
	finish(protRunner, job)
	mainJob, mainPipeline := int64(job["id"].(float64)), ""
	for _, v := range job["variables"].([]any) {
		if m := v.(map[string]any); m["key"] == "CI_PIPELINE_ID" {
			mainPipeline = m["value"].(string)
		}
	}

	// Rerunning main's job or pipeline needs the right to push or merge
	// to main (GitLab's build and pipeline policies): not a developer's.
	for _, path := range []string{fmt.Sprintf("/jobs/%d/retry", mainJob), "/pipelines/" + mainPipeline + "/retry",
		"/pipelines/" + mainPipeline + "/cancel", fmt.Sprintf("/jobs/%d/cancel", mainJob)} {
		if r := s.do("POST", f.api(path), f.devTok, nil); r.Status != 403 || strings.TrimSpace(string(r.Body)) != `{"message":"403 Forbidden"}` {
			t.Errorf("developer POST %s: %d %s, want 403", path, r.Status, r.Body)
		}
	}
	s.must(201, "POST", f.api(fmt.Sprintf("/jobs/%d/retry", mainJob)), f.maintTok, nil)
	job = protRunner.request()
	if job == nil || job["git_info"].(map[string]any)["ref"] != "main" {
		t.Fatalf("protected runner got %v, want main's retried job", job)
	}
	check("main retried", job, true)
	finish(protRunner, job)

	// A developer's branch: not protected; the protected runner leaves it.
	dev := f.clone(t, f.devTok)
	dev("commit")
	if ok, out := dev("push", "origin", "HEAD:refs/heads/feature"); !ok {
		t.Fatalf("push feature: %s", out)
	}
	if j := protRunner.request(); j != nil {
		t.Fatalf("protected runner took an unprotected job: %v", j["git_info"])
	}
	job = anyRunner.request()
	if job == nil || job["git_info"].(map[string]any)["ref"] != "feature" {
		t.Fatalf("runner got %v, want feature's job", job)
	}
	check("feature", job, false)
	finish(anyRunner, job)

	// Through the API a developer cannot run a pipeline (and so reach the
	// protected variables) on a ref they may not push or merge to.
	r := s.do("POST", f.api("/pipeline"), f.devTok, map[string]any{"ref": "main"})
	if r.Status != 400 || strings.TrimSpace(string(r.Body)) != `{"message":{"base":["Insufficient permissions for protected ref 'main'"]}}` {
		t.Errorf("developer creates a main pipeline: %d %s", r.Status, r.Body)
	}
	s.must(201, "POST", f.api("/pipeline"), f.devTok, map[string]any{"ref": "feature"})
	s.must(201, "POST", f.api("/pipeline"), f.maintTok, map[string]any{"ref": "main"})
}
