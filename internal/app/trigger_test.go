package app_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMultiProjectTrigger(t *testing.T) { forEachDB(t, testMultiProjectTrigger) }

// testMultiProjectTrigger: a bridge with trigger:project starts a pipeline
// (source "pipeline") on the other project's branch; with strategy: depend
// the bridge follows it. A [ci skip] push records a skipped pipeline.
func testMultiProjectTrigger(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	down := s.project("downstream", "private")
	s.push("root/downstream", map[string]string{".gitlab-ci.yml": "deployjob:\n  script: echo deploy\n"})
	up := s.project("upstream", "private")
	s.push("root/upstream", map[string]string{".gitlab-ci.yml": `
build:
  script: echo build
deploy:
  stage: deploy
  trigger:
    project: root/downstream
    branch: main
    strategy: depend
`})
	r := s.registerRunner()
	id, tok := r.take("build")
	r.finish(id, tok, "success", "")

	var bridges []map[string]any
	waitFor(t, "bridge to trigger", 10*time.Second, func() bool {
		pl := s.latestPipeline(up)
		s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/bridges", up, pl["id"]), rootToken, nil).json(t, &bridges)
		return len(bridges) == 1 && bridges[0]["downstream_pipeline"] != nil
	})
	dp := bridges[0]["downstream_pipeline"].(map[string]any)
	if int64(dp["project_id"].(float64)) != down || dp["source"] != "pipeline" || bridges[0]["status"] != "running" {
		t.Fatalf("downstream pipeline %v, bridge status %v", dp, bridges[0]["status"])
	}
	id, tok = r.take("deployjob")
	r.finish(id, tok, "failed", "script_failure")
	waitFor(t, "upstream pipeline to fail with its bridge", 10*time.Second, func() bool {
		return s.pipelineStatus(up, s.latestPipeline(up)["id"]) == "failed"
	})
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/bridges", up, s.latestPipeline(up)["id"]), rootToken, nil).json(t, &bridges)
	if bridges[0]["status"] != "failed" {
		t.Errorf("depend bridge after a failed downstream: %v", bridges[0]["status"])
	}
}

// TestCISkip: a push whose commit message says [ci skip] records a skipped
// pipeline with no jobs, as GitLab does.
func TestCISkip(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	pid := s.project("skip", "private")
	dir := t.TempDir()
	gitAs(t, dir, "init", "-q", "-b", "main")
	if err := os.WriteFile(dir+"/.gitlab-ci.yml", []byte("j:\n  script: echo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitAs(t, dir, "add", ".")
	gitAs(t, dir, "commit", "-q", "-m", "docs only [ci skip]")
	remote := strings.Replace(s.URL, "http://", "http://oauth2:"+rootToken+"@", 1) + "/root/skip.git"
	if ok, out := gitAs(t, dir, "push", "-q", remote, "main"); !ok {
		t.Fatalf("push: %s", out)
	}
	pl := s.latestPipeline(pid)
	if pl["status"] != "skipped" {
		t.Errorf("pipeline status %v, want skipped", pl["status"])
	}
	var jobs []any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/jobs", pid, pl["id"]), rootToken, nil).json(t, &jobs)
	if len(jobs) != 0 {
		t.Errorf("skipped pipeline has %d jobs", len(jobs))
	}
}
