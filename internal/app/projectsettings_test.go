package app_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/gantryci/gantry/internal/testkit/gittest"
)

// TestProjectSettingsAPI drives PUT /projects/:id, archive and unarchive
// with the official Go client and checks that the engine obeys the CI
// settings: the config path, the job timeout and git depth a runner gets,
// public_jobs for outsiders, auto-cancel on a new commit, and the
// read-only archived state.
func TestProjectSettingsAPI(t *testing.T) { forEachDB(t, testProjectSettingsAPI) }

func testProjectSettingsAPI(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	id := s.project("settings", "public")
	pid := int(id)
	p := fmt.Sprintf("/api/v4/projects/%d", id)
	mID, maint := s.user("maint")
	s.must(201, "POST", p+"/members", rootToken, map[string]any{"user_id": mID, "access_level": 40})
	glMaint, _ := gitlab.NewClient(maint, gitlab.WithBaseURL(s.URL+"/api/v4"))

	got, _, err := glMaint.Projects.EditProject(pid, &gitlab.EditProjectOptions{
		CIConfigPath: gitlab.Ptr("ci/pipeline.yml"), BuildTimeout: gitlab.Ptr(int64(900)), CIDefaultGitDepth: gitlab.Ptr(int64(3)),
		AutoCancelPendingPipelines: gitlab.Ptr("disabled"), PublicJobs: gitlab.Ptr(false), Description: gitlab.Ptr("settings test")})
	if err != nil || got.CIConfigPath != "ci/pipeline.yml" || got.BuildTimeout != 900 || got.CIDefaultGitDepth != 3 ||
		got.AutoCancelPendingPipelines != "disabled" || got.PublicJobs || got.Description != "settings test" {
		t.Fatalf("EditProject: %v %+v", err, got)
	}
	golden(t, "project_updated", s.must(200, "GET", p, rootToken, nil).Body)
	// Visibility is the owner's (change_visibility_level).
	s.must(403, "PUT", p, maint, map[string]any{"visibility": "private"})
	for _, c := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{}, "at least one parameter must be provided"},
		{map[string]any{"visibility": "secret"}, `"error":"visibility does not have a valid value"`},
		{map[string]any{"build_timeout": 60}, `"message":{"build_timeout":["needs to be between 10 minutes and 1 month"]}`},
		{map[string]any{"ci_default_git_depth": 1001}, `"message":{"ci_default_git_depth":["must be less than or equal to 1000"]}`},
		{map[string]any{"auto_cancel_pending_pipelines": "maybe"}, `"error":"auto_cancel_pending_pipelines does not have a valid value"`},
		{map[string]any{"default_branch": "nope"}, `"message":"Could not set the default branch"`},
	} {
		if r := s.do("PUT", p, rootToken, c.body); r.Status != 400 || !strings.Contains(string(r.Body), c.msg) {
			t.Errorf("PUT %v: %d %s, want %s", c.body, r.Status, r.Body, c.msg)
		}
	}

	// The config comes from ci_config_path; a runner gets the project's
	// timeout and git depth.
	w := gittest.NewWork(t)
	w.Write(map[string]string{"ci/pipeline.yml": "build:\n  script: [echo hi]\n"})
	w.Commit("first")
	remote := strings.Replace(s.URL, "http://", "http://oauth2:"+rootToken+"@", 1) + "/root/settings.git"
	w.Git("push", "-q", remote, "HEAD:main")
	runner := s.registerRunner()
	job := runner.request()
	if job == nil {
		t.Fatal("no job from ci_config_path")
	}
	if to := job["runner_info"].(map[string]any)["timeout"]; to != float64(900) {
		t.Errorf("job timeout %v, want the project's 900", to)
	}
	if d := job["git_info"].(map[string]any)["depth"]; d != float64(3) {
		t.Errorf("git depth %v, want the project's 3", d)
	}
	jobID, jobToken := int64(job["id"].(float64)), job["token"].(string)
	runner.patch(jobID, jobToken, 0, "hello\n")
	runner.finish(jobID, jobToken, "success", "")

	// public_jobs off: outsiders of the public project see no jobs.
	_, outsider := s.user("outsider")
	s.must(403, "GET", p+"/jobs", outsider, nil)
	s.must(403, "GET", fmt.Sprintf("%s/jobs/%d/trace", p, jobID), outsider, nil)
	s.must(200, "PUT", p, maint, map[string]any{"public_jobs": true})
	s.must(200, "GET", p+"/jobs", outsider, nil)
	s.must(200, "GET", fmt.Sprintf("%s/jobs/%d/trace", p, jobID), outsider, nil)

	// Auto-cancel disabled: a new commit leaves the older pipeline alone.
	w.Write(map[string]string{"a.txt": "1"})
	w.Commit("second")
	w.Git("push", "-q", remote, "HEAD:main")
	w.Write(map[string]string{"a.txt": "2"})
	w.Commit("third")
	w.Git("push", "-q", remote, "HEAD:main")
	pls, _, err := gl.Pipelines.ListProjectPipelines(pid, nil)
	if err != nil || len(pls) != 3 || pls[1].Status != "pending" || pls[0].Status != "pending" {
		t.Fatalf("pipelines with auto-cancel disabled: %v %+v", err, pls)
	}
	s.must(200, "PUT", p, maint, map[string]any{"auto_cancel_pending_pipelines": "enabled"})
	w.Write(map[string]string{"a.txt": "3"})
	w.Commit("fourth")
	w.Git("push", "-q", remote, "HEAD:main")
	if pls, _, _ = gl.Pipelines.ListProjectPipelines(pid, nil); len(pls) != 4 || pls[1].Status != "canceled" {
		t.Fatalf("pipelines with auto-cancel enabled: %+v", pls)
	}

	// Archived: read-only for everyone until unarchived (owners only).
	s.must(403, "POST", p+"/archive", maint, nil)
	arch, _, err := gl.Projects.ArchiveProject(pid)
	if err != nil || !arch.Archived {
		t.Fatalf("ArchiveProject: %v %+v", err, arch)
	}
	w.Write(map[string]string{"a.txt": "4"})
	w.Commit("fifth")
	if out, err := w.Try("push", "-q", remote, "HEAD:main"); err == nil || !strings.Contains(string(out), "You can't push code to an archived project.") {
		t.Errorf("push to an archived project: %v %s", err, out)
	}
	s.must(403, "POST", p+"/pipeline", rootToken, map[string]any{"ref": "main"})
	s.must(403, "POST", fmt.Sprintf("%s/jobs/%d/retry", p, jobID), rootToken, nil)
	s.must(200, "GET", p+"/pipelines", rootToken, nil)
	if un, _, err := gl.Projects.UnarchiveProject(pid); err != nil || un.Archived {
		t.Fatalf("UnarchiveProject: %v %+v", err, un)
	}
	w.Git("push", "-q", remote, "HEAD:main")
}

// TestProjectDeleteAPI deletes a project whose job is running: the job
// fails with project_deleted and its runner is refused, and the project's
// rows, blobs and repository are gone.
func TestProjectDeleteAPI(t *testing.T) { forEachDB(t, testProjectDeleteAPI) }

func testProjectDeleteAPI(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	id := s.project("doomed", "private")
	keep := s.project("kept", "private")
	p := fmt.Sprintf("/api/v4/projects/%d", id)
	s.push("root/doomed", map[string]string{".gitlab-ci.yml": "a:\n  script: [echo a]\nb:\n  script: [echo b]\n"})
	runner := s.registerRunner()
	aID, aTok := runner.take("a")
	runner.patch(aID, aTok, 0, "log\n")
	runner.finish(aID, aTok, "success", "")
	bID, bTok := runner.take("b")
	runner.patch(bID, bTok, 0, "running\n")
	blobs := countFiles(t, filepath.Join(s.Data, "blobs"))
	if blobs == 0 {
		t.Fatal("no blobs stored for the finished job")
	}

	devID, dev := s.user("dev")
	s.must(201, "POST", p+"/members", rootToken, map[string]any{"user_id": devID, "access_level": 40})
	s.must(403, "DELETE", p, dev, nil)
	r := s.must(202, "DELETE", p, rootToken, nil)
	if strings.TrimSpace(string(r.Body)) != `{"message":"202 Accepted"}` {
		t.Errorf("delete answer %s", r.Body)
	}
	if _, resp, err := gl.Projects.GetProject(int(id), nil); err == nil || resp.StatusCode != 404 {
		t.Fatalf("deleted project still answers: %v", err)
	}
	// The runner of the running job is refused at its next update.
	if fin := runner.finish(bID, bTok, "success", ""); fin.Status == 200 {
		t.Errorf("runner update after delete: %d %s", fin.Status, fin.Body)
	}
	if n := countFiles(t, filepath.Join(s.Data, "blobs")); n != 0 {
		t.Errorf("%d blobs left after the delete", n)
	}
	if _, err := os.Stat(filepath.Join(s.Data, "repositories", fmt.Sprintf("%d.git", id))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("repository left: %v", err)
	}
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d", keep), rootToken, nil)
	s.must(404, "DELETE", p, rootToken, nil)
}

// countFiles counts the regular files under dir (0 when it is missing).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
