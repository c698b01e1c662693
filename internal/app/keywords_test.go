package app_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRulesCompareToAndExistsProject: rules:changes:compare_to diffs the
// pushed commit against the merge base with another ref, and
// rules:exists:project looks at another project's files, on real
// repositories.
func TestRulesCompareToAndExistsProject(t *testing.T) {
	forEachDB(t, testRulesCompareToAndExistsProject)
}

func testRulesCompareToAndExistsProject(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	s.libProject(map[string]string{"Dockerfile": "FROM scratch\n"})

	pid := s.project("app", "private")
	w := s.workTree()
	w.commit("main", map[string]string{"src/a.go": "package a\n", ".gitlab-ci.yml": `workflow:
  rules:
    - if: $CI_COMMIT_BRANCH == "feature"
src-since-main:
  script: x
  rules:
    - changes: {paths: ["src/**/*"], compare_to: main}
docs-since-main:
  script: x
  rules:
    - changes: {paths: ["docs/**/*"], compare_to: refs/heads/main}
lib-dockerfile:
  script: x
  rules:
    - exists: {paths: [Dockerfile], project: root/lib}
lib-missing:
  script: x
  rules:
    - exists: {paths: [nope], project: root/lib, ref: main}
`})
	w.push("root/app")
	w.git("checkout", "-q", "-b", "feature")
	w.commit("docs", map[string]string{"docs/x.md": "x\n"})
	w.git("push", "-q", w.remote("root/app"), "feature")
	s.waitJob(pid, "docs-since-main", "pending")
	pl := s.latestPipeline(pid)
	var jobs []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/jobs", pid, pl["id"]), rootToken, nil).json(t, &jobs)
	var names []string
	for _, j := range jobs {
		names = append(names, j["name"].(string))
	}
	slices.Sort(names)
	if fmt.Sprint(names) != "[docs-since-main lib-dockerfile]" {
		t.Errorf("jobs = %v, want docs-since-main and lib-dockerfile", names)
	}

	// A compare_to that names nothing fails the pipeline with GitLab's seed error.
	r := s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint?dry_run=true&ref=feature", pid), rootToken,
		map[string]any{"content": "j:\n  script: x\n  rules:\n    - changes: {paths: [a], compare_to: nope}\n"}).obj(t)
	if fmt.Sprint(r["errors"]) != "[Failed to parse rule for j: rules:changes:compare_to is not a valid ref]" {
		t.Errorf("lint errors = %v", r["errors"])
	}
}

// TestHooksPreGetSourcesScript: hooks:pre_get_sources_script (here from
// default:) reaches the runner in the job payload's hooks and the built-in
// runner runs it before fetching the sources; a failing hook fails the job.
func TestHooksPreGetSourcesScript(t *testing.T) {
	forEachDB(t, testHooksPreGetSourcesScript)
}

func testHooksPreGetSourcesScript(t *testing.T, o serverOpts) {
	o.runners = 1
	s := startServer(t, o)
	pid := s.project("app", "private")
	s.push("root/app", map[string]string{".gitlab-ci.yml": `default:
  hooks:
    pre_get_sources_script: echo "hook for $CI_JOB_NAME"
ok:
  script: test -f .gitlab-ci.yml
broken-hook:
  hooks:
    pre_get_sources_script: exit 3
  script: echo never
`})
	job := s.waitJob(pid, "ok", "success")
	trace := string(s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%v/trace", pid, job["id"]), rootToken, nil).Body)
	hook, fetch := strings.Index(trace, "hook for ok"), strings.Index(trace, "Fetching changes")
	if hook < 0 || fetch < 0 || hook > fetch {
		t.Errorf("the hook did not run before the fetch:\n%s", trace)
	}
	broken := s.waitJob(pid, "broken-hook", "failed")
	if broken["failure_reason"] != "script_failure" {
		t.Errorf("failure_reason = %v, want script_failure", broken["failure_reason"])
	}
}

// TestDynamicChildPipeline: trigger:include:artifact runs a child pipeline
// from a file a job of the parent wrote (a dynamic child pipeline), a child
// job downloads that artifact with needs:pipeline: $PARENT_PIPELINE_ID, and
// trigger:include:project one from another project's file; a missing
// artifact fails the child pipeline with GitLab's message, and its trigger
// job with downstream_pipeline_creation_failed.
func TestDynamicChildPipeline(t *testing.T) { forEachDB(t, testDynamicChildPipeline) }

func testDynamicChildPipeline(t *testing.T, o serverOpts) {
	o.runners = 1
	s := startServer(t, o)
	s.libProject(map[string]string{"ci/child.yml": "from-lib:\n  script: echo lib child\n"})
	pid := s.project("app", "private")
	s.push("root/app", map[string]string{"child-needs.yml": `uses-parent-artifact:
  needs:
    - pipeline: $PARENT_PIPELINE_ID
      job: generate
  script: grep generated-job child.yml
`, ".gitlab-ci.yml": `stages: [gen, run]
generate:
  stage: gen
  script:
    - "printf 'generated-job:\\n  script: echo generated\\n' > child.yml"
  artifacts:
    paths: [child.yml]
dynamic:
  stage: run
  trigger:
    include:
      - artifact: child.yml
        job: generate
    strategy: depend
from-project:
  stage: run
  trigger:
    include:
      - project: root/lib
        file: ci/child.yml
    strategy: depend
with-parent-artifacts:
  stage: run
  variables:
    PARENT_PIPELINE_ID: $CI_PIPELINE_ID
  trigger:
    include: child-needs.yml
    strategy: depend
missing:
  stage: run
  trigger:
    include:
      - artifact: nope.yml
        job: generate
`})
	s.waitJob(pid, "generated-job", "success")
	s.waitJob(pid, "from-lib", "success")
	s.waitJob(pid, "uses-parent-artifact", "success")
	parent := s.latestPipeline(pid)
	bridges := map[string]map[string]any{}
	waitFor(t, "the trigger jobs to finish", 60*time.Second, func() bool {
		var list []map[string]any
		s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/bridges", pid, parent["id"]), rootToken, nil).json(t, &list)
		for _, b := range list {
			bridges[b["name"].(string)] = b
		}
		return bridges["dynamic"]["status"] == "success" && bridges["from-project"]["status"] == "success" &&
			bridges["missing"]["status"] == "failed"
	})
	down, _ := bridges["missing"]["downstream_pipeline"].(map[string]any)
	if down == nil {
		t.Fatalf("missing has no downstream pipeline: %v", bridges["missing"])
	}
	var full map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, down["id"]), rootToken, nil).json(t, &full)
	if bridges["missing"]["failure_reason"] != "downstream_pipeline_creation_failed" {
		t.Errorf("missing's failure_reason = %v", bridges["missing"]["failure_reason"])
	}
	if full["yaml_errors"] != "Path `nope.yml` does not exist inside the `generate` artifacts archive!" {
		t.Errorf("failed child's yaml_errors = %v", full["yaml_errors"])
	}
}

// TestTriggerInputs: trigger:inputs give a multi-project downstream
// pipeline's spec:inputs, and trigger:include:inputs a child pipeline
// file's.
func TestTriggerInputs(t *testing.T) { forEachDB(t, testTriggerInputs) }

func testTriggerInputs(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	down := s.project("down", "private")
	s.push("root/down", map[string]string{".gitlab-ci.yml": "spec:\n  inputs:\n    env:\n    replicas:\n      type: number\n---\ndeploy-$[[ inputs.env ]]-$[[ inputs.replicas ]]:\n  script: echo\n"})
	pid := s.project("app", "private")
	s.push("root/app", map[string]string{
		"child.yml": "spec:\n  inputs:\n    who:\n---\nhello-$[[ inputs.who ]]:\n  script: echo\n",
		".gitlab-ci.yml": `multi:
  trigger:
    project: root/down
    inputs:
      env: prod
      replicas: 3
child:
  trigger:
    include:
      - local: child.yml
        inputs:
          who: world
`})
	s.waitJob(down, "deploy-prod-3", "pending")
	s.waitJob(pid, "hello-world", "pending")
}

// libProject creates the private project root/lib holding files.
func (s *server) libProject(files map[string]string) {
	s.t.Helper()
	s.project("lib", "private")
	lib := s.workTree()
	lib.commit("lib", files)
	lib.push("root/lib")
}
