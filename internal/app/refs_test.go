package app_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestRefWritesAPI drives branch and tag creation and deletion with the
// official Go client: protected ref rules judge them as GitLab's
// pre-receive check does for changes from the web, and new refs start
// pipelines as a push does.
func TestRefWritesAPI(t *testing.T) { forEachDB(t, testRefWritesAPI) }

func testRefWritesAPI(t *testing.T, o serverOpts) {
	f := newRepoFixture(t, o)
	s := f.s
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	pid := int(f.pid)
	p := fmt.Sprintf("/api/v4/projects/%d", f.pid)
	devID, dev := s.user("dev")
	repID, rep := s.user("rep")
	s.must(201, "POST", p+"/members", rootToken, map[string]any{"user_id": devID, "access_level": 30})
	s.must(201, "POST", p+"/members", rootToken, map[string]any{"user_id": repID, "access_level": 20})
	glDev, _ := gitlab.NewClient(dev, gitlab.WithBaseURL(s.URL+"/api/v4"))
	expect := func(what string, r resp, status int, msg string) {
		t.Helper()
		if r.Status != status || !strings.Contains(string(r.Body), msg) {
			t.Errorf("%s: %d %s, want %d %s", what, r.Status, r.Body, status, msg)
		}
	}

	// Branches.
	b, _, err := glDev.Branches.CreateBranch(pid, &gitlab.CreateBranchOptions{Branch: gitlab.Ptr("topic/a"), Ref: gitlab.Ptr(f.c1)})
	if err != nil || b.Name != "topic/a" || b.Commit.ID != f.c1 || !b.Merged || b.Protected || b.Default {
		t.Fatalf("CreateBranch: %v %+v", err, b)
	}
	if got, _, err := gl.Branches.GetBranch(pid, "topic/a"); err != nil || got.Commit.ID != f.c1 {
		t.Fatalf("GetBranch after create: %v %+v", err, got)
	}
	for _, c := range []struct {
		body   map[string]any
		status int
		msg    string
	}{
		{map[string]any{}, 400, `"error":"branch is missing, ref is missing"`},
		{map[string]any{"branch": "", "ref": "main"}, 400, `"error":"branch is empty"`},
		{map[string]any{"branch": "topic/a", "ref": "main"}, 400, `"message":"Branch already exists"`},
		{map[string]any{"branch": "a..b", "ref": "main"}, 400, `"message":"Branch name is invalid"`},
		{map[string]any{"branch": "y", "ref": "nope"}, 400, `"message":"Failed to create branch 'y': invalid reference name 'nope'"`},
	} {
		expect(fmt.Sprint("create ", c.body), s.do("POST", p+"/repository/branches", dev, c.body), c.status, c.msg)
	}
	expect("reporter creates", s.do("POST", p+"/repository/branches", rep, map[string]any{"branch": "r", "ref": "main"}), 403, "403 Forbidden")

	// Protected branches: developers may neither create nor delete them;
	// maintainers may delete them through the API (GitLab's "web").
	s.must(201, "POST", p+"/protected_branches", rootToken, map[string]any{"name": "rel/*", "push_access_level": 40, "merge_access_level": 40})
	expect("developer creates protected", s.do("POST", p+"/repository/branches", dev, map[string]any{"branch": "rel/1", "ref": "main"}),
		400, "You are not allowed to create protected branches on this project.")
	if _, _, err := gl.Branches.CreateBranch(pid, &gitlab.CreateBranchOptions{Branch: gitlab.Ptr("rel/1"), Ref: gitlab.Ptr("main")}); err != nil {
		t.Fatalf("maintainer creates protected: %v", err)
	}
	enc := url.PathEscape("rel/1")
	expect("developer deletes protected", s.do("DELETE", p+"/repository/branches/"+enc, dev, nil), 400,
		"You are not allowed to delete protected branches from this project. Only a project maintainer or owner can delete a protected branch.")
	expect("delete default", s.do("DELETE", p+"/repository/branches/main", rootToken, nil), 400, "The default branch of a project cannot be deleted.")
	if _, err := gl.Branches.DeleteBranch(pid, "rel/1"); err != nil {
		t.Fatalf("maintainer deletes protected: %v", err)
	}
	expect("delete missing", s.do("DELETE", p+"/repository/branches/nope", dev, nil), 404, "404 Branch Not Found")
	expect("reporter deletes", s.do("DELETE", p+"/repository/branches/"+url.PathEscape("feature/x"), rep, nil), 403, "403 Forbidden")

	// Merged branches go (topic/a is merged into main), others stay.
	if _, err := glDev.Branches.DeleteMergedBranches(pid); err != nil {
		t.Fatalf("DeleteMergedBranches: %v", err)
	}
	expect("merged deleted", s.do("GET", p+"/repository/branches/"+url.PathEscape("topic/a"), rootToken, nil), 404, "404 Branch Not Found")
	s.must(200, "GET", p+"/repository/branches/"+url.PathEscape("feature/x"), rootToken, nil)
	s.must(200, "GET", p+"/repository/branches/main", rootToken, nil)

	// Tags.
	tg, _, err := glDev.Tags.CreateTag(pid, &gitlab.CreateTagOptions{TagName: gitlab.Ptr("v3.0"), Ref: gitlab.Ptr("feature/x"), Message: gitlab.Ptr("  Three\n")})
	if err != nil || tg.Name != "v3.0" || tg.Message != "Three" || tg.Commit.ID != f.c3 || tg.Target == f.c3 || tg.CreatedAt == nil {
		t.Fatalf("CreateTag annotated: %v %+v", err, tg)
	}
	light, _, err := glDev.Tags.CreateTag(pid, &gitlab.CreateTagOptions{TagName: gitlab.Ptr("light"), Ref: gitlab.Ptr(f.c1)})
	if err != nil || light.Target != f.c1 || light.Message != "" {
		t.Fatalf("CreateTag lightweight: %v %+v", err, light)
	}
	for _, c := range []struct {
		body   map[string]any
		status int
		msg    string
	}{
		{map[string]any{"ref": "main"}, 400, `"error":"tag_name is missing"`},
		{map[string]any{"tag_name": "v1.0", "ref": "main"}, 400, `"message":"Tag v1.0 already exists"`},
		{map[string]any{"tag_name": "v9", "ref": "nope"}, 400, `"message":"Target nope is invalid"`},
		{map[string]any{"tag_name": "v9", "ref": ""}, 400, `"message":"Target is empty"`},
		{map[string]any{"tag_name": "bad..name", "ref": "main"}, 400, `"message":"Tag name invalid"`},
	} {
		expect(fmt.Sprint("create tag ", c.body), s.do("POST", p+"/repository/tags", dev, c.body), c.status, c.msg)
	}
	s.must(201, "POST", p+"/protected_tags", rootToken, map[string]any{"name": "v*", "create_access_level": 40})
	expect("developer creates protected tag", s.do("POST", p+"/repository/tags", dev, map[string]any{"tag_name": "v5", "ref": "main"}),
		400, "You are not allowed to create this tag as it is protected.")
	expect("developer deletes protected tag", s.do("DELETE", p+"/repository/tags/v1.0", dev, nil), 400,
		"You are not allowed to delete protected tags from this project. Only a project maintainer or owner can delete a protected tag.")
	if _, err := gl.Tags.DeleteTag(pid, "v1.0"); err != nil {
		t.Fatalf("maintainer deletes protected tag: %v", err)
	}
	if _, err := glDev.Tags.DeleteTag(pid, "light"); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	expect("delete missing tag", s.do("DELETE", p+"/repository/tags/light", dev, nil), 404, "404 Tag Not Found")
	tags, _, err := gl.Tags.ListTags(pid, nil)
	if err != nil || len(tags) != 2 {
		t.Fatalf("tags left: %v %+v", err, tags)
	}

	// New refs start pipelines as a push does.
	cid := int(s.project("refci", "private"))
	s.push("root/refci", map[string]string{".gitlab-ci.yml": "a:\n  script: [echo a]\n"})
	if _, _, err := gl.Branches.CreateBranch(cid, &gitlab.CreateBranchOptions{Branch: gitlab.Ptr("topic"), Ref: gitlab.Ptr("main")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gl.Tags.CreateTag(cid, &gitlab.CreateTagOptions{TagName: gitlab.Ptr("t1"), Ref: gitlab.Ptr("main")}); err != nil {
		t.Fatal(err)
	}
	pls, _, err := gl.Pipelines.ListProjectPipelines(cid, nil)
	if err != nil || len(pls) != 3 || pls[0].Ref != "t1" || pls[1].Ref != "topic" || pls[0].Source != "push" || pls[1].Source != "push" {
		t.Fatalf("pipelines of new refs: %v %+v", err, pls)
	}
}
