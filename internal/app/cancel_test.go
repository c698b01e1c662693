package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCancelSilentJobReachesRunner cancels a running job that prints
// nothing (a long sleep): the built-in runner must learn of it from its
// regular updates, run after_script and report the job canceled long
// before the sleep would end. (A silent job used to talk to the server
// only every 30 s, so a cancel took up to that long to land.)
func TestCancelSilentJobReachesRunner(t *testing.T) { forEachDB(t, testCancelSilentJobReachesRunner) }

func testCancelSilentJobReachesRunner(t *testing.T, o serverOpts) {
	o.runners = 1
	s := startServer(t, o)
	pid := s.project("sleepy", "private")
	s.push("root/sleepy", map[string]string{".gitlab-ci.yml": `sleepy:
  script:
    - echo started
    - sleep 60
  after_script:
    - echo "after status=$CI_JOB_STATUS"
`})
	job := s.waitJob(pid, "sleepy", "running")
	id := int64(job["id"].(float64))
	// Let the job fall silent: its last output reached the server.
	waitFor(t, "started in the log", 30*time.Second, func() bool {
		r := s.do("GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", pid, id), rootToken, nil)
		return strings.Contains(string(r.Body), "started")
	})
	canceled := time.Now()
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/cancel", pid, id), rootToken, nil)
	// Generous against a loaded machine, yet short of the 30 s a silent
	// job used to wait and far short of the 60 s sleep.
	const bound = 20 * time.Second
	var got map[string]any
	waitFor(t, "job canceled by the runner", bound, func() bool {
		got = s.jobs(pid)["sleepy"]
		return got["status"] == "canceled"
	})
	t.Logf("canceled by the runner %v after the cancel", time.Since(canceled).Round(100*time.Millisecond))
	trace := string(s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", pid, id), rootToken, nil).Body)
	if !strings.Contains(trace, "after status=canceled") {
		t.Errorf("the runner did not run after_script for the cancel (%v after cancel):\n%s", time.Since(canceled), trace)
	}
}
