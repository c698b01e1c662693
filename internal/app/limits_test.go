package app_test

import (
	"fmt"
	"strings"
	"testing"
)

// doublingConfig is about 1.2 KB of references of references, six of the
// level below at each of the ten levels !reference allows.
func doublingConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, ".l0: [%q]\n", strings.Repeat("x", 100))
	for i := 1; i < 10; i++ {
		refs := make([]string, 6)
		for k := range refs {
			refs[k] = fmt.Sprintf("!reference [.l%d]", i-1)
		}
		fmt.Fprintf(&b, ".l%d: [%s]\n", i, strings.Join(refs, ", "))
	}
	b.WriteString("job:\n  script: !reference [.l9]\n")
	return b.String()
}

const msgTotalTooBig = "Total size of combined CI/CD configuration is too big"

// TestConfigExpansionBounded: a configuration whose references would
// expand to gigabytes is answered with GitLab's size error on every
// surface: lint (valid false), a push (a failed pipeline with
// yaml_errors) and pipeline creation by the API (400).
func TestConfigExpansionBounded(t *testing.T) { forEachDB(t, testConfigExpansionBounded) }

func testConfigExpansionBounded(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("bomb", "private")
	cfg := doublingConfig()
	lint := s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint", pid), rootToken, map[string]any{"content": cfg}).obj(t)
	if lint["valid"] != false || fmt.Sprint(lint["errors"]) != "["+msgTotalTooBig+"]" {
		t.Errorf("lint: %v", lint)
	}
	s.push("root/bomb", map[string]string{".gitlab-ci.yml": cfg})
	pl := s.latestPipeline(pid)
	var full map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, pl["id"]), rootToken, nil).json(t, &full)
	if full["status"] != "failed" || full["yaml_errors"] != msgTotalTooBig {
		t.Errorf("push pipeline: status %v yaml_errors %v", full["status"], full["yaml_errors"])
	}
	r := s.must(400, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", pid), rootToken, map[string]any{"ref": "main"})
	if string(r.Body) != `{"message":{"base":["`+msgTotalTooBig+`"]}}` {
		t.Errorf("API create body %s", r.Body)
	}
}
