package app_test

import (
	"fmt"
	"testing"
)

// doublingConfig is 1.2 KB of references of references, six of the level
// below at each of the ten levels !reference allows: expanded, 6^9 copies
// of a 100-byte string.
const doublingConfig = `.l0: ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
.l1: [!reference [.l0], !reference [.l0], !reference [.l0], !reference [.l0], !reference [.l0], !reference [.l0]]
.l2: [!reference [.l1], !reference [.l1], !reference [.l1], !reference [.l1], !reference [.l1], !reference [.l1]]
.l3: [!reference [.l2], !reference [.l2], !reference [.l2], !reference [.l2], !reference [.l2], !reference [.l2]]
.l4: [!reference [.l3], !reference [.l3], !reference [.l3], !reference [.l3], !reference [.l3], !reference [.l3]]
.l5: [!reference [.l4], !reference [.l4], !reference [.l4], !reference [.l4], !reference [.l4], !reference [.l4]]
.l6: [!reference [.l5], !reference [.l5], !reference [.l5], !reference [.l5], !reference [.l5], !reference [.l5]]
.l7: [!reference [.l6], !reference [.l6], !reference [.l6], !reference [.l6], !reference [.l6], !reference [.l6]]
.l8: [!reference [.l7], !reference [.l7], !reference [.l7], !reference [.l7], !reference [.l7], !reference [.l7]]
.l9: [!reference [.l8], !reference [.l8], !reference [.l8], !reference [.l8], !reference [.l8], !reference [.l8]]
job:
  script: !reference [.l9]
`

const msgTotalTooBig = "Total size of combined CI/CD configuration is too big"

// TestConfigExpansionBounded: a configuration whose references would
// expand to gigabytes is answered with GitLab's size error on every
// surface: lint (valid false), a push (a failed pipeline with
// yaml_errors) and pipeline creation by the API (400).
func TestConfigExpansionBounded(t *testing.T) { forEachDB(t, testConfigExpansionBounded) }

func testConfigExpansionBounded(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("bomb", "private")
	cfg := doublingConfig
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
