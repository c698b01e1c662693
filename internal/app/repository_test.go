package app_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// repoFixture is a project with a small history pushed with real git:
//
//	c1  README.md, src/main.go           (tag v1.0, lightweight)
//	c2  src/main.go changed, run.sh +x   (main; tag v2.0, annotated)
//	c3  feature/x.txt                    (branch feature/x, not merged)
type repoFixture struct {
	s          *server
	pid        int64
	c1, c2, c3 string
}

func newRepoFixture(t *testing.T, o serverOpts) *repoFixture {
	s := startServer(t, o)
	f := &repoFixture{s: s, pid: s.project("repo", "private")}
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
			"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_TERMINAL_PROMPT=0",
			"GIT_AUTHOR_DATE=2026-01-02T03:04:05+02:00", "GIT_COMMITTER_DATE=2026-01-02T03:04:05+02:00")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("README.md", "# repo\n", 0o644)
	write("src/main.go", "package main\n", 0o644)
	git("add", "-A")
	git("commit", "-q", "-m", "First")
	f.c1 = git("rev-parse", "HEAD")
	git("tag", "v1.0")
	write("src/main.go", "package main\n\nfunc main() {}\n", 0o644)
	write("run.sh", "#!/bin/sh\necho run\n", 0o755)
	git("add", "-A")
	git("commit", "-q", "-m", "Second\n\nSigned-off-by: Dev <dev@example.com>")
	f.c2 = git("rev-parse", "HEAD")
	git("tag", "-a", "v2.0", "-m", "Release 2.0")
	git("checkout", "-q", "-b", "feature/x")
	write("feature/x.txt", "x\n", 0o644)
	git("add", "-A")
	git("commit", "-q", "-m", "Feature")
	f.c3 = git("rev-parse", "HEAD")
	remote := strings.Replace(s.URL, "http://", "http://oauth2:"+rootToken+"@", 1) + "/root/repo.git"
	git("push", "-q", remote, "main", "feature/x", "v1.0", "v2.0")
	return f
}

// TestRepositoryAPI drives the repository API with GitLab's official Go
// client and checks the shapes against golden files.
func TestRepositoryAPI(t *testing.T) { forEachDB(t, testRepositoryAPI) }

func testRepositoryAPI(t *testing.T, o serverOpts) {
	f := newRepoFixture(t, o)
	s := f.s
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	pid := int(f.pid)
	p := fmt.Sprintf("/api/v4/projects/%d", f.pid)

	// Commits: default branch, newest first, paged with totals.
	commits, resp, err := gl.Commits.ListCommits(pid, &gitlab.ListCommitsOptions{ListOptions: gitlab.ListOptions{PerPage: 1}})
	if err != nil || len(commits) != 1 || commits[0].ID != f.c2 || resp.TotalItems != 2 || resp.NextPage != 2 {
		t.Fatalf("ListCommits: %v %d total=%d next=%d", err, len(commits), resp.TotalItems, resp.NextPage)
	}
	commits, _, err = gl.Commits.ListCommits(pid, &gitlab.ListCommitsOptions{RefName: gitlab.Ptr("feature/x"), Path: gitlab.Ptr("src/main.go")})
	if err != nil || len(commits) != 2 || commits[0].ID != f.c2 || commits[1].ID != f.c1 {
		t.Fatalf("ListCommits path: %v %+v", err, commits)
	}
	if got := s.must(200, "GET", p+"/repository/commits?ref_name=nope", rootToken, nil).Body; strings.TrimSpace(string(got)) != "[]" {
		t.Errorf("unknown ref: %s", got)
	}
	s.must(400, "GET", p+"/repository/commits?since=yesterday", rootToken, nil)

	// One commit, by branch name (with a slash) as glab asks for it.
	c, _, err := gl.Commits.GetCommit(pid, "feature/x", nil)
	if err != nil || c.ID != f.c3 || c.Stats == nil || c.Stats.Additions != 1 || c.ProjectID != int64(pid) {
		t.Fatalf("GetCommit feature/x: %v %+v", err, c)
	}
	golden(t, "commit_detail", s.must(200, "GET", p+"/repository/commits/"+f.c2, rootToken, nil).Body)
	s.must(404, "GET", p+"/repository/commits/0123456789012345678901234567890123456789", rootToken, nil)
	if got := s.do("GET", p+"/repository/commits/nope", rootToken, nil); got.Status != 404 || !strings.Contains(string(got.Body), "404 Commit Not Found") {
		t.Errorf("missing commit: %d %s", got.Status, got.Body)
	}
	refs, _, err := gl.Commits.GetCommitRefs(pid, f.c1, nil)
	if err != nil || len(refs) != 4 {
		t.Fatalf("GetCommitRefs: %v %+v", err, refs)
	}
	golden(t, "commit_refs", s.must(200, "GET", p+"/repository/commits/"+f.c2+"/refs", rootToken, nil).Body)
	if got := s.must(200, "GET", p+"/repository/commits/"+f.c1+"/refs?type=tag", rootToken, nil).Body; !strings.Contains(string(got), `"v1.0"`) || strings.Contains(string(got), "branch") {
		t.Errorf("refs type=tag: %s", got)
	}

	// Statuses: the jobs of the commit's pipelines (none: no CI config).
	sts, _, err := gl.Commits.GetCommitStatuses(pid, f.c2, nil)
	if err != nil || len(sts) != 0 {
		t.Fatalf("GetCommitStatuses: %v %+v", err, sts)
	}

	// A commit with a pipeline: its jobs are its statuses, and the commit
	// names the pipeline (glab ci view finds the pipeline through it).
	cid := s.project("ci", "private")
	sha := s.push("root/ci", map[string]string{".gitlab-ci.yml": "a:\n  script: [echo a]\nb:\n  stage: test\n  script: [echo b]\n  allow_failure: true\n"})
	sts, _, err = gl.Commits.GetCommitStatuses(int(cid), sha, nil)
	if err != nil || len(sts) != 2 || sts[0].Name != "a" || sts[1].Name != "b" || !sts[1].AllowFailure || sts[0].Status != "pending" || sts[0].Author.Username != "root" {
		t.Fatalf("GetCommitStatuses: %v %+v", err, sts)
	}
	sts, _, err = gl.Commits.GetCommitStatuses(int(cid), sha, &gitlab.GetCommitStatusesOptions{Name: gitlab.Ptr("b")})
	if err != nil || len(sts) != 1 {
		t.Fatalf("GetCommitStatuses name=b: %v %+v", err, sts)
	}
	golden(t, "commit_statuses", s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/repository/commits/%s/statuses", cid, sha), rootToken, nil).Body)
	withPipeline, _, err := gl.Commits.GetCommit(int(cid), "main", nil)
	if err != nil || withPipeline.LastPipeline == nil || withPipeline.LastPipeline.SHA != sha || withPipeline.Status == nil || *withPipeline.Status != "pending" {
		t.Fatalf("GetCommit with a pipeline: %v %+v", err, withPipeline)
	}

	// Branches.
	branches, _, err := gl.Branches.ListBranches(pid, nil)
	if err != nil || len(branches) != 2 || branches[0].Name != "feature/x" || branches[1].Name != "main" || !branches[1].Default || branches[0].Merged {
		t.Fatalf("ListBranches: %v %+v", err, branches)
	}
	b, _, err := gl.Branches.GetBranch(pid, "feature/x")
	if err != nil || b.Commit.ID != f.c3 {
		t.Fatalf("GetBranch: %v %+v", err, b)
	}
	golden(t, "branch", s.must(200, "GET", p+"/repository/branches/main", rootToken, nil).Body)
	s.must(404, "GET", p+"/repository/branches/nope", rootToken, nil)
	if got := s.must(200, "GET", p+"/repository/branches?search=feat", rootToken, nil).Body; !strings.Contains(string(got), "feature/x") || strings.Contains(string(got), `"main"`) {
		t.Errorf("branch search: %s", got)
	}

	// Tags: newest first; annotated ones carry their message.
	tags, _, err := gl.Tags.ListTags(pid, nil)
	if err != nil || len(tags) != 2 || tags[0].Name != "v2.0" || tags[0].Message != "Release 2.0" || tags[0].Commit.ID != f.c2 {
		t.Fatalf("ListTags: %v %+v", err, tags)
	}
	golden(t, "tag", s.must(200, "GET", p+"/repository/tags/v2.0", rootToken, nil).Body)
	s.must(404, "GET", p+"/repository/tags/v9", rootToken, nil)

	// Tree.
	tree, _, err := gl.Repositories.ListTree(pid, &gitlab.ListTreeOptions{Recursive: gitlab.Ptr(true)})
	if err != nil || len(tree) != 4 {
		t.Fatalf("ListTree: %v %+v", err, tree)
	}
	golden(t, "tree", s.must(200, "GET", p+"/repository/tree?path=src&ref=main", rootToken, nil).Body)
	s.must(404, "GET", p+"/repository/tree?path=nope", rootToken, nil)

	// Files.
	file, _, err := gl.RepositoryFiles.GetFile(pid, "src/main.go", &gitlab.GetFileOptions{Ref: gitlab.Ptr("main")})
	if err != nil || file.LastCommitID != f.c2 || file.Content == "" {
		t.Fatalf("GetFile: %v %+v", err, file)
	}
	golden(t, "file", s.must(200, "GET", p+"/repository/files/run.sh?ref=v2.0", rootToken, nil).Body)
	raw, _, err := gl.RepositoryFiles.GetRawFile(pid, "src/main.go", &gitlab.GetRawFileOptions{Ref: gitlab.Ptr("v1.0")})
	if err != nil || string(raw) != "package main\n" {
		t.Fatalf("GetRawFile: %v %q", err, raw)
	}
	if got := s.do("GET", p+"/repository/files/README.md", rootToken, nil); got.Status != 400 || !strings.Contains(string(got.Body), `"error":"ref is missing"`) {
		t.Errorf("file without ref: %d %s", got.Status, got.Body)
	}
	if got := s.do("GET", p+"/repository/files/nope.txt?ref=main", rootToken, nil); got.Status != 404 || !strings.Contains(string(got.Body), "404 File Not Found") {
		t.Errorf("missing file: %d %s", got.Status, got.Body)
	}
	s.must(404, "GET", p+"/repository/files/src%2F..%2F..%2Fetc%2Fpasswd?ref=main", rootToken, nil)

	// Archive: the tree of the ref under one prefix.
	arch, _, err := gl.Repositories.Archive(pid, &gitlab.ArchiveOptions{SHA: gitlab.Ptr("v1.0")})
	if err != nil {
		t.Fatal(err)
	}
	if names := tarNames(t, arch); !strings.Contains(strings.Join(names, ","), "src/main.go") || strings.Contains(strings.Join(names, ","), "run.sh") {
		t.Errorf("archive of v1.0 holds %v", names)
	}
	zip := s.must(200, "GET", p+"/repository/archive.zip?sha=main", rootToken, nil)
	if ct := zip.Header.Get("Content-Type"); ct != "application/zip" || !bytes.HasPrefix(zip.Body, []byte("PK")) {
		t.Errorf("archive.zip: %s %q", ct, zip.Body[:min(4, len(zip.Body))])
	}
	s.must(404, "GET", p+"/repository/archive.rar", rootToken, nil)

	// Merge requests do not exist yet.
	mrs, _, err := gl.MergeRequests.ListProjectMergeRequests(pid, nil)
	if err != nil || len(mrs) != 0 {
		t.Fatalf("ListProjectMergeRequests: %v %+v", err, mrs)
	}
	s.must(404, "GET", p+"/merge_requests/1", rootToken, nil)

	// Access: a guest of a private project may not read code, a
	// non-member does not see the project, a reporter reads.
	guestID, guest := s.user("guest")
	repID, rep := s.user("rep")
	_, outsider := s.user("outsider")
	s.must(201, "POST", p+"/members", rootToken, map[string]any{"user_id": guestID, "access_level": 10})
	s.must(201, "POST", p+"/members", rootToken, map[string]any{"user_id": repID, "access_level": 20})
	for _, path := range []string{"/repository/commits", "/repository/branches", "/repository/tags", "/repository/tree", "/repository/files/README.md?ref=main", "/repository/archive"} {
		s.must(403, "GET", p+path, guest, nil)
		s.must(404, "GET", p+path, outsider, nil)
		s.must(404, "GET", p+path, "", nil) // anonymous: the private project is invisible
		s.must(200, "GET", p+path, rep, nil)
	}
}

func tarNames(t *testing.T, gz []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("archive is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}
