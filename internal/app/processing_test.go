package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// pipelineStatus reads a pipeline's status.
func (s *server) pipelineStatus(pid int64, id any) string {
	var pl map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, id), rootToken, nil).json(s.t, &pl)
	return pl["status"].(string)
}

// latestPipeline returns the newest pipeline of a project.
func (s *server) latestPipeline(pid int64) map[string]any {
	var pls []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines", pid), rootToken, nil).json(s.t, &pls)
	if len(pls) == 0 {
		s.t.Fatal("no pipeline")
	}
	return pls[0]
}

// TestProcessingSemantics checks GitLab's processing rules through HTTP with
// a hand-driven runner: needs, resource groups, delayed jobs, automatic
// retry and child pipelines with strategy: depend.
func TestProcessingSemantics(t *testing.T) { forEachDB(t, testProcessingSemantics) }

func testProcessingSemantics(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("proc", "private")
	s.push("root/proc", map[string]string{".gitlab-ci.yml": `
stages: [build, test, deploy]
compile:
  stage: build
  script: echo compile
unit:
  stage: test
  needs: [compile]
  script: echo unit
  retry: 1
slowtest:
  stage: test
  script: echo slow
deploy:
  stage: deploy
  needs: [unit]
  resource_group: production
  script: echo deploy
later:
  stage: deploy
  needs: []
  when: delayed
  start_in: 1 second
  script: echo later
child:
  stage: deploy
  needs: [unit]
  trigger:
    include: child.yml
    strategy: depend
`, "child.yml": "inner:\n  script: echo inner\n"})
	r := s.registerRunner()

	jobs := s.jobs(pid)
	if jobs["compile"]["status"] != "pending" || jobs["slowtest"]["status"] != "created" || jobs["later"]["status"] != "scheduled" {
		t.Fatalf("initial statuses: compile %v slowtest %v later %v", jobs["compile"]["status"], jobs["slowtest"]["status"], jobs["later"]["status"])
	}
	id, tok := r.take("compile")
	r.finish(id, tok, "success", "")
	// unit needs only compile: it runs before slowtest's stage ordering
	// matters; fail it once: retry: 1 makes a new unit job.
	id, tok = r.take("unit")
	r.finish(id, tok, "failed", "script_failure")
	jobs = s.jobs(pid)
	if jobs["unit"]["status"] != "pending" || int64(jobs["unit"]["id"].(float64)) == id {
		t.Fatalf("automatic retry: unit %v (id %v, failed id %d)", jobs["unit"]["status"], jobs["unit"]["id"], id)
	}
	// The delayed job becomes pending once its time has come.
	s.waitJob(pid, "later", "pending")

	id, tok = r.take("unit")
	r.finish(id, tok, "success", "")
	// deploy (needs unit) and the child bridge start; slowtest is still pending.
	s.waitJob(pid, "deploy", "pending")
	pl := s.latestPipeline(pid)
	var bridges []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/bridges", pid, pl["id"]), rootToken, nil).json(t, &bridges)
	if len(bridges) != 1 || bridges[0]["status"] != "running" || bridges[0]["downstream_pipeline"] == nil {
		t.Fatalf("depend bridge: %v", bridges)
	}
	childID := bridges[0]["downstream_pipeline"].(map[string]any)["id"]

	// A second pipeline's deploy waits for the production resource.
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", pid), rootToken, map[string]any{"ref": "main"})
	var all []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs?per_page=100", pid), rootToken, nil).json(t, &all)

	// Finish everything the runner gets, in order; the second deploy must
	// only be handed out after the first one finished.
	deployDone := false
	for i := 0; i < 40; i++ {
		j := r.request()
		if j == nil {
			break
		}
		name := j["job_info"].(map[string]any)["name"].(string)
		jid, jtok := int64(j["id"].(float64)), j["token"].(string)
		if name == "deploy" {
			if deployDone {
				// The first deploy finished before this one was handed out.
				t.Logf("second deploy handed out after the first finished")
			}
			// While a deploy runs, no other deploy of the group is pending.
			var waiting []map[string]any
			s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs?scope[]=pending&scope[]=running", pid), rootToken, nil).json(t, &waiting)
			n := 0
			for _, w := range waiting {
				if w["name"] == "deploy" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d deploy jobs pending or running at once", n)
			}
			deployDone = true
		}
		r.finish(jid, jtok, "success", "")
	}
	waitFor(t, "child pipeline success", 10*time.Second, func() bool { return s.pipelineStatus(pid, childID) == "success" })
	waitFor(t, "parent pipeline success", 10*time.Second, func() bool { return s.pipelineStatus(pid, pl["id"]) == "success" })
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/bridges", pid, pl["id"]), rootToken, nil).json(t, &bridges)
	if bridges[0]["status"] != "success" {
		t.Errorf("bridge after child success: %v", bridges[0]["status"])
	}
}

// TestConfigErrors checks how bad configurations surface: a push makes a
// failed pipeline with yaml_errors, the API answers 400, lint lists errors.
func TestConfigErrors(t *testing.T) { forEachDB(t, testConfigErrors) }

func testConfigErrors(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("bad", "private")
	s.push("root/bad", map[string]string{".gitlab-ci.yml": "build:\n  script: echo\n  foo: bar\n"})
	pl := s.latestPipeline(pid)
	var full map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, pl["id"]), rootToken, nil).json(t, &full)
	if full["status"] != "failed" || full["yaml_errors"] != "jobs:build config contains unknown keys: foo" {
		t.Errorf("push pipeline: status %v yaml_errors %v", full["status"], full["yaml_errors"])
	}
	r := s.must(400, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", pid), rootToken, map[string]any{"ref": "main"})
	if string(r.Body) != `{"message":{"base":["jobs:build config contains unknown keys: foo"]}}` {
		t.Errorf("API create body %s", r.Body)
	}
	r = s.must(400, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", pid), rootToken, map[string]any{"ref": "nope"})
	if string(r.Body) != `{"message":{"base":["Reference not found"]}}` {
		t.Errorf("unknown ref body %s", r.Body)
	}
	lint := s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint", pid), rootToken,
		map[string]any{"content": "a:\n  script: 1\n  when: sometimes\n"}).obj(t)
	if lint["valid"] != false || !strings.Contains(fmt.Sprint(lint["errors"]), "when should be one of") {
		t.Errorf("lint: %v", lint)
	}
	ok := s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint?include_jobs=true", pid), rootToken,
		map[string]any{"content": "a:\n  script: echo\n"}).obj(t)
	if ok["valid"] != true || ok["merged_yaml"] == nil {
		t.Errorf("valid lint: %v", ok)
	}
}
