package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestCommitStatusAPI drives POST /projects/:id/statuses/:sha with the
// official Go client: external statuses become external jobs of a pipeline
// of the commit, move through the status machine and count in the
// pipeline's status, but are no jobs of the Jobs API.
func TestCommitStatusAPI(t *testing.T) { forEachDB(t, testCommitStatusAPI) }

func testCommitStatusAPI(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	pid := int(s.project("ext", "private"))
	// No CI config: the push makes no pipeline.
	sha := s.push("root/ext", map[string]string{"README.md": "hi\n"})
	apiErr := func(err error, status int, msg string) {
		t.Helper()
		var e *gitlab.ErrorResponse
		if !errors.As(err, &e) || e.Response.StatusCode != status || !strings.Contains(string(e.Body), msg) {
			t.Fatalf("want %d %q, got %v", status, msg, err)
		}
	}

	st, _, err := gl.Commits.SetCommitStatus(pid, sha, &gitlab.SetCommitStatusOptions{State: gitlab.Pending,
		Name: gitlab.Ptr("ext-ci"), TargetURL: gitlab.Ptr("https://ci.example.com/1"), Description: gitlab.Ptr("queued")})
	if err != nil || st.Status != "pending" || st.Ref != "main" || st.SHA != sha || st.TargetURL != "https://ci.example.com/1" || st.Author.Username != "root" {
		t.Fatalf("SetCommitStatus pending: %v %+v", err, st)
	}
	pl, _, err := gl.Pipelines.GetPipeline(pid, st.PipelineID)
	if err != nil || pl.Source != "external" || pl.Status != "pending" || pl.SHA != sha {
		t.Fatalf("external pipeline: %v %+v", err, pl)
	}
	// running moves the same status on; a second running is refused in
	// GitLab's words.
	run, _, err := gl.Commits.SetCommitStatus(pid, sha, &gitlab.SetCommitStatusOptions{State: gitlab.Running, Context: gitlab.Ptr("ext-ci")})
	if err != nil || run.ID != st.ID || run.Status != "running" || run.StartedAt == nil || run.Description != "queued" {
		t.Fatalf("SetCommitStatus running: %v %+v", err, run)
	}
	_, _, err = gl.Commits.SetCommitStatus(pid, sha, &gitlab.SetCommitStatusOptions{State: gitlab.Running, Name: gitlab.Ptr("ext-ci")})
	apiErr(err, 400, `Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")`)
	if pl, _, _ = gl.Pipelines.GetPipeline(pid, st.PipelineID); pl.Status != "running" {
		t.Fatalf("pipeline while the status runs: %s", pl.Status)
	}
	done := s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/statuses/%s", pid, sha), rootToken,
		map[string]any{"state": "success", "name": "ext-ci", "coverage": 87.5, "description": "all green"})
	golden(t, "commit_status", done.Body)
	if pl, _, _ = gl.Pipelines.GetPipeline(pid, st.PipelineID); pl.Status != "success" {
		t.Fatalf("pipeline after success: %s", pl.Status)
	}
	// A finished status is replaced by a new one of the same name, in the
	// same pipeline; the list shows the latest unless all=true.
	failed, _, err := gl.Commits.SetCommitStatus(pid, sha, &gitlab.SetCommitStatusOptions{State: gitlab.Failed, Name: gitlab.Ptr("ext-ci")})
	if err != nil || failed.ID == st.ID || failed.PipelineID != st.PipelineID || failed.Status != "failed" {
		t.Fatalf("SetCommitStatus failed: %v %+v", err, failed)
	}
	if pl, _, _ = gl.Pipelines.GetPipeline(pid, st.PipelineID); pl.Status != "failed" {
		t.Fatalf("pipeline after failure: %s", pl.Status)
	}
	latest, _, err := gl.Commits.GetCommitStatuses(pid, sha, nil)
	if err != nil || len(latest) != 1 || latest[0].ID != failed.ID || latest[0].Name != "ext-ci" {
		t.Fatalf("GetCommitStatuses: %v %+v", err, latest)
	}
	all, _, err := gl.Commits.GetCommitStatuses(pid, sha, &gitlab.GetCommitStatusesOptions{All: gitlab.Ptr(true)})
	if err != nil || len(all) != 2 || all[0].TargetURL != "https://ci.example.com/1" || all[0].Coverage != 87.5 {
		t.Fatalf("GetCommitStatuses all: %v %+v", err, all)
	}
	// External statuses are not jobs: the Jobs API lists builds only.
	if jobs, _, err := gl.Jobs.ListPipelineJobs(pid, st.PipelineID, nil); err != nil || len(jobs) != 0 {
		t.Fatalf("ListPipelineJobs: %v %+v", err, jobs)
	}
	if jobs, _, err := gl.Jobs.ListProjectJobs(pid, nil); err != nil || len(jobs) != 0 {
		t.Fatalf("ListProjectJobs: %v %+v", err, jobs)
	}
	s.must(404, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d", pid, st.ID), rootToken, nil)

	// Errors.
	p := fmt.Sprintf("/api/v4/projects/%d/statuses/", pid)
	for _, c := range []struct {
		sha    string
		body   map[string]any
		status int
		msg    string
	}{
		{sha, map[string]any{}, 400, `"error":"state is missing, state does not have a valid value"`},
		{sha, map[string]any{"state": "error"}, 400, `"error":"state does not have a valid value"`},
		{sha, map[string]any{"state": "success", "coverage": "lots"}, 400, `"error":"coverage is invalid"`},
		{sha, map[string]any{"state": "success", "target_url": "not a url"}, 400, `"message":{"target_url":["must be a valid URL"]}`},
		{"0123456789012345678901234567890123456789", map[string]any{"state": "success"}, 404, `"message":"404 Commit Not Found"`},
		{sha, map[string]any{"state": "success", "pipeline_id": 999999}, 404, `"message":"404 Pipeline for pipeline_id, sha and ref Not Found"`},
		{sha, map[string]any{"state": "canceled", "name": "other", "ref": "main"}, 201, `"status":"canceled"`},
	} {
		got := s.do("POST", p+c.sha, rootToken, c.body)
		if got.Status != c.status || !strings.Contains(string(got.Body), c.msg) {
			t.Errorf("POST %v: %d %s, want %d %s", c.body, got.Status, got.Body, c.status, c.msg)
		}
	}
	// A commit only a tag holds has no branch to attach the status to.
	tagged := s.push("root/ext", map[string]string{"other.txt": "x\n"}, "v9")
	got := s.do("POST", p+tagged, rootToken, map[string]any{"state": "pending"})
	if got.Status != 404 || !strings.Contains(string(got.Body), `"404 References for commit Not Found"`) {
		t.Errorf("tag-only commit: %d %s", got.Status, got.Body)
	}
	s.must(201, "POST", p+tagged, rootToken, map[string]any{"state": "pending", "ref": "v9"})

	// Roles: developers report, reporters may not.
	devID, dev := s.user("dev")
	repID, rep := s.user("rep")
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/members", pid), rootToken, map[string]any{"user_id": devID, "access_level": 30})
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/members", pid), rootToken, map[string]any{"user_id": repID, "access_level": 20})
	s.must(403, "POST", p+sha, rep, map[string]any{"state": "pending"})
	// main is protected by default: a developer may not update its pipeline.
	s.must(403, "POST", p+sha, dev, map[string]any{"state": "pending"})
	s.must(401, "POST", p+sha, "", map[string]any{"state": "pending"})

	// A commit with a CI pipeline: the status joins that pipeline and keeps
	// it from finishing while it is pending.
	cid := int(s.project("withci", "private"))
	csha := s.push("root/withci", map[string]string{".gitlab-ci.yml": "a:\n  script: [echo a]\n"})
	pls, _, err := gl.Pipelines.ListProjectPipelines(cid, nil)
	if err != nil || len(pls) != 1 {
		t.Fatalf("pipelines: %v %+v", err, pls)
	}
	ext, _, err := gl.Commits.SetCommitStatus(cid, csha, &gitlab.SetCommitStatusOptions{State: gitlab.Success})
	if err != nil || ext.PipelineID != pls[0].ID || ext.Name != "default" {
		t.Fatalf("status on a CI pipeline: %v %+v", err, ext)
	}
	if jobs, _, _ := gl.Jobs.ListPipelineJobs(cid, pls[0].ID, nil); len(jobs) != 1 || jobs[0].Name != "a" {
		t.Fatalf("pipeline jobs: %+v", jobs)
	}
	sts, _, _ := gl.Commits.GetCommitStatuses(cid, csha, &gitlab.GetCommitStatusesOptions{Stage: gitlab.Ptr("external")})
	if len(sts) != 1 || sts[0].ID != ext.ID {
		t.Fatalf("statuses of stage external: %+v", sts)
	}
}
