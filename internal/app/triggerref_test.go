package app_test

import (
	"fmt"
	"net/url"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestTriggerRefFormAndInputs: a trigger token starts a pipeline through
// the webhook form POST /projects/:id/ref/:ref/trigger/pipeline?token=…
// (a ref with a slash included), and a trigger passes spec:inputs.
func TestTriggerRefFormAndInputs(t *testing.T) { forEachDB(t, testTriggerRefFormAndInputs) }

func testTriggerRefFormAndInputs(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	pid := s.project("hook", "private")
	s.push("root/hook", map[string]string{".gitlab-ci.yml": inputsConfig})
	if _, _, err := gl.Branches.CreateBranch(int(pid), &gitlab.CreateBranchOptions{Branch: gitlab.Ptr("release/1"), Ref: gitlab.Ptr("main")}); err != nil {
		t.Fatal(err)
	}
	tr, _, err := gl.PipelineTriggers.AddPipelineTrigger(int(pid), &gitlab.AddPipelineTriggerOptions{Description: gitlab.Ptr("hook")})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v4/projects/%d/ref/release/1/trigger/pipeline?token=%s&variables[FOO]=bar", pid, url.QueryEscape(tr.Token))
	var pl struct {
		ID     int64
		Ref    string
		Source string
	}
	s.must(201, "POST", path, "", nil).json(t, &pl)
	if pl.Ref != "release/1" || pl.Source != "trigger" {
		t.Fatalf("webhook trigger: %+v", pl)
	}
	vars, _, err := gl.Pipelines.GetPipelineVariables(int(pid), pl.ID)
	if err != nil || len(vars) != 1 || vars[0].Key != "FOO" || vars[0].Value != "bar" {
		t.Fatalf("webhook trigger variables: %v %+v", err, vars)
	}
	s.must(404, "POST", fmt.Sprintf("/api/v4/projects/%d/ref/release/1/trigger/nope?token=%s", pid, tr.Token), "", nil)
	s.must(404, "POST", fmt.Sprintf("/api/v4/projects/%d/ref/main/trigger/pipeline?token=glptt-nope", pid), "", nil)

	// Inputs through the client's trigger call.
	run, _, err := gl.PipelineTriggers.RunPipelineTrigger(int(pid), &gitlab.RunPipelineTriggerOptions{Ref: gitlab.Ptr("main"), Token: gitlab.Ptr(tr.Token),
		Inputs: gitlab.PipelineInputsOption{"env": gitlab.NewPipelineInputValue("production")}})
	if err != nil || run.Source != "trigger" {
		t.Fatalf("RunPipelineTrigger with inputs: %v %+v", err, run)
	}
	jobs, _, err := gl.Jobs.ListPipelineJobs(int(pid), run.ID, nil)
	if err != nil || len(jobs) != 1 || jobs[0].Name != "deploy-production" {
		t.Fatalf("jobs of the triggered pipeline: %v %+v", err, jobs)
	}
	r := s.do("POST", fmt.Sprintf("/api/v4/projects/%d/trigger/pipeline", pid), "", map[string]any{"token": tr.Token, "ref": "main",
		"inputs": map[string]any{"nope": "x"}})
	if r.Status != 400 {
		t.Errorf("unknown input: %d %s", r.Status, r.Body)
	}
}
