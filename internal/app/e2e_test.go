package app_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

const e2eConfig = `
stages: [build, test, deploy]
variables:
  GREETING: hello
build:
  stage: build
  script:
    - echo "$GREETING from $CI_JOB_NAME on $CI_COMMIT_REF_NAME"
    - mkdir -p out && echo built > out/result.txt && echo secret > out/skip.log
  artifacts:
    paths: [out/]
    exclude: ["out/*.log"]
test:
  stage: test
  script:
    - cat out/result.txt
    - echo "Coverage 87.5%"
  coverage: '/Coverage \d+\.\d+%/'
slow:
  stage: test
  script:
    - echo started
    - for i in $(seq 1 300); do echo tick $i; sleep 1; done
lint:
  stage: test
  script: exit 3
  allow_failure: true
deploy:
  stage: deploy
  script: echo "deploying to $TARGET"
  when: manual
`

// TestPipelineEndToEnd pushes a repository with real git, lets the built-in
// runner run the pipeline, and checks statuses, logs, artifacts, cancel,
// retry and play through the Jobs API.
func TestPipelineEndToEnd(t *testing.T) { forEachDB(t, testPipelineEndToEnd) }

func testPipelineEndToEnd(t *testing.T, o serverOpts) {
	o.runners = 4
	s := startServer(t, o)
	pid := s.project("demo", "private")
	sha := s.push("root/demo", map[string]string{".gitlab-ci.yml": e2eConfig, "README.md": "# demo\n"})

	build := s.waitJob(pid, "build", "success")
	if build["commit"].(map[string]any)["id"] != sha {
		t.Errorf("build commit = %v, want %s", build["commit"], sha)
	}
	af, ok := build["artifacts_file"].(map[string]any)
	if !ok || af["filename"] != "artifacts.zip" {
		t.Fatalf("build artifacts_file = %v", build["artifacts_file"])
	}
	buildID := int64(build["id"].(float64))
	trace := s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", pid, buildID), rootToken, nil)
	if !strings.Contains(string(trace.Body), "hello from build on main") {
		t.Errorf("build log lacks the echoed line:\n%s", trace.Body)
	}
	if ct := trace.Header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("trace content type %q", ct)
	}
	// The archive holds out/result.txt but not the excluded log.
	zipResp := s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/artifacts", pid, buildID), rootToken, nil)
	zr, err := zip.NewReader(bytes.NewReader(zipResp.Body), int64(len(zipResp.Body)))
	if err != nil {
		t.Fatalf("artifacts are not a zip: %v", err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	if !names["out/result.txt"] || names["out/skip.log"] {
		t.Errorf("archive entries = %v", names)
	}

	test := s.waitJob(pid, "test", "success")
	if test["coverage"] != 87.5 {
		t.Errorf("test coverage = %v, want 87.5", test["coverage"])
	}
	testLog := s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%v/trace", pid, test["id"]), rootToken, nil)
	if !strings.Contains(string(testLog.Body), "built") {
		t.Errorf("test did not see the build artifact:\n%s", testLog.Body)
	}
	var plCov map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, test["pipeline"].(map[string]any)["id"]), rootToken, nil).json(t, &plCov)
	if plCov["coverage"] != "87.50" {
		t.Errorf("pipeline coverage = %v, want \"87.50\"", plCov["coverage"])
	}
	lint := s.waitJob(pid, "lint", "failed")
	if lint["failure_reason"] != "script_failure" || lint["allow_failure"] != true {
		t.Errorf("lint = %v / %v", lint["failure_reason"], lint["allow_failure"])
	}

	// Cancel the running slow job: the runner is told and stops it.
	slow := s.waitJob(pid, "slow", "running")
	slowID := int64(slow["id"].(float64))
	waitFor(t, "slow job log", 30*time.Second, func() bool {
		r := s.do("GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", pid, slowID), rootToken, nil)
		return strings.Contains(string(r.Body), "started")
	})
	c := s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/cancel", pid, slowID), rootToken, nil).obj(t)
	if c["status"] != "canceled" && c["status"] != "canceling" {
		t.Fatalf("cancel answered status %v", c["status"])
	}
	s.waitJob(pid, "slow", "canceled")

	// The pipeline ends canceled; later jobs are skipped.
	var pl map[string]any
	waitFor(t, "pipeline to finish", 30*time.Second, func() bool {
		s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, build["pipeline"].(map[string]any)["id"]), rootToken, nil).json(t, &pl)
		return pl["status"] == "canceled"
	})

	// Retry the canceled job: a new id, the old one stays canceled.
	var nj map[string]any
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/retry", pid, slowID), rootToken, nil).json(t, &nj)
	if int64(nj["id"].(float64)) == slowID {
		t.Fatal("retry kept the job id")
	}
	old := s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d", pid, slowID), rootToken, nil).obj(t)
	if old["status"] != "canceled" {
		t.Errorf("retried job status = %v, want canceled", old["status"])
	}
	s.waitJob(pid, "slow", "running")
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%v/cancel", pid, nj["id"]), rootToken, nil)
	s.waitJob(pid, "slow", "canceled")

	// A canceled stage skips the manual deploy after it (even a manual job
	// needs its previous stages to succeed), and the pipeline ends canceled.
	if d := s.waitJob(pid, "deploy", "skipped"); d["status"] != "skipped" {
		t.Errorf("deploy = %v", d["status"])
	}
	waitFor(t, "pipeline to end canceled again", 30*time.Second, func() bool {
		s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, build["pipeline"].(map[string]any)["id"]), rootToken, nil).json(t, &pl)
		return pl["status"] == "canceled"
	})
}

// TestPlayManualJob plays a manual job with variables and reads its log.
func TestPlayManualJob(t *testing.T) { forEachDB(t, testPlayManualJob) }

func testPlayManualJob(t *testing.T, o serverOpts) {
	o.runners = 2
	s := startServer(t, o)
	pid := s.project("play", "private")
	s.push("root/play", map[string]string{".gitlab-ci.yml": `
build:
  script: echo build
deploy:
  stage: deploy
  script: echo "deploying to $TARGET"
  when: manual
`})
	s.waitJob(pid, "build", "success")
	deploy := s.waitJob(pid, "deploy", "manual")
	id := int64(deploy["id"].(float64))
	played := s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/play", pid, id), rootToken,
		map[string]any{"job_variables_attributes": []map[string]string{{"key": "TARGET", "value": "production"}}}).obj(t)
	if int64(played["id"].(float64)) != id {
		t.Errorf("play of a manual job changed its id")
	}
	s.waitJob(pid, "deploy", "success")
	log := s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", pid, id), rootToken, nil)
	if !strings.Contains(string(log.Body), "deploying to production") {
		t.Errorf("deploy log:\n%s", log.Body)
	}
	// Playing the finished manual job again retries it: a new job.
	again := s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/play", pid, id), rootToken, nil).obj(t)
	if int64(again["id"].(float64)) == id {
		t.Errorf("play of a finished manual job kept its id")
	}
	// Unplayable: the build job.
	b := s.jobs(pid)["build"]
	r := s.must(400, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%v/play", pid, b["id"]), rootToken, nil)
	if string(r.Body) != `{"message":"400 Bad request - Unplayable Job"}` {
		t.Errorf("unplayable body %s", r.Body)
	}
}
