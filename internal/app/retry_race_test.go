package app_test

import (
	"fmt"
	"sync"
	"testing"
)

const raceConfig = `
a:
  script: echo a
b:
  script: echo b
`

// retryFixture is a pipeline whose two jobs, a and b, failed.
func retryFixture(t *testing.T, o serverOpts) (s *server, project, pipeline, a int64) {
	s = startServer(t, o)
	project = s.project("race", "private")
	s.push("root/race", map[string]string{".gitlab-ci.yml": raceConfig})
	r := s.registerRunner()
	a, tok := r.take("a")
	if got := r.finish(a, tok, "failed", "script_failure"); got.Status != 200 {
		t.Fatalf("finish a: %d %s", got.Status, got.Body)
	}
	b, tok := r.take("b")
	if got := r.finish(b, tok, "failed", "script_failure"); got.Status != 200 {
		t.Fatalf("finish b: %d %s", got.Status, got.Body)
	}
	pipeline = int64(s.jobs(project)["a"]["pipeline"].(map[string]any)["id"].(float64))
	return s, project, pipeline, a
}

// concurrently sends n requests at once and returns their answers.
func concurrently(s *server, n int, method, path string) []resp {
	out := make([]resp, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = s.do(method, path, rootToken, nil)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// jobCounts counts a pipeline's jobs by name, retried ones included.
func jobCounts(s *server, project, pipeline int64) map[string]int {
	var list []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/jobs?include_retried=true&per_page=100", project, pipeline),
		rootToken, nil).json(s.t, &list)
	n := map[string]int{}
	for _, j := range list {
		n[j["name"].(string)]++
	}
	return n
}

// TestConcurrentJobRetryClonesOnce: ten simultaneous retries of one failed
// job create one new job; the other nine get GitLab's 403 "Job is not
// retryable", since the job they retry has been retried.
func TestConcurrentJobRetryClonesOnce(t *testing.T) { forEachDB(t, testConcurrentJobRetryClonesOnce) }

func testConcurrentJobRetryClonesOnce(t *testing.T, o serverOpts) {
	s, project, pipeline, a := retryFixture(t, o)
	answers := concurrently(s, 10, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/retry", project, a))
	created, refused := 0, 0
	for _, r := range answers {
		switch {
		case r.Status == 201:
			created++
		case r.Status == 403 && string(r.Body) == `{"message":"403 Forbidden - Job is not retryable"}`:
			refused++
		default:
			t.Errorf("retry answered %d %s", r.Status, r.Body)
		}
	}
	if created != 1 || refused != 9 {
		t.Errorf("answers: %d created, %d refused; want 1 and 9", created, refused)
	}
	if n := jobCounts(s, project, pipeline); n["a"] != 2 || n["b"] != 1 {
		t.Errorf("jobs after 10 concurrent retries: %v, want a:2 b:1", n)
	}
}

// TestConcurrentPipelineRetryClonesOnce: ten simultaneous pipeline retries
// clone each failed job once; each answers 201 with the pipeline, as
// GitLab's Ci::RetryPipelineService skips jobs that are no longer
// retryable.
func TestConcurrentPipelineRetryClonesOnce(t *testing.T) {
	forEachDB(t, testConcurrentPipelineRetryClonesOnce)
}

func testConcurrentPipelineRetryClonesOnce(t *testing.T, o serverOpts) {
	s, project, pipeline, _ := retryFixture(t, o)
	answers := concurrently(s, 10, "POST", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/retry", project, pipeline))
	for _, r := range answers {
		if r.Status != 201 {
			t.Errorf("pipeline retry answered %d %s", r.Status, r.Body)
		}
	}
	if n := jobCounts(s, project, pipeline); n["a"] != 2 || n["b"] != 2 {
		t.Errorf("jobs after 10 concurrent pipeline retries: %v, want a:2 b:2", n)
	}
}
