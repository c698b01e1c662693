package app_test

import (
	"fmt"
	"slices"
	"testing"
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
	s.project("lib", "private")
	lib := s.workTree()
	lib.commit("lib", map[string]string{"Dockerfile": "FROM scratch\n"})
	lib.push("root/lib")

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
