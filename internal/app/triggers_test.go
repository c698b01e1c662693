package app_test

import (
	"fmt"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestPipelineTriggers drives /projects/:id/triggers and
// /projects/:id/trigger/pipeline through GitLab's Go client: the glptt-
// token is shown whole once, starts a pipeline of source "trigger" with its
// variables, and a running job's token starts one too.
func TestPipelineTriggers(t *testing.T) { forEachDB(t, testPipelineTriggers) }

func testPipelineTriggers(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("trig", "private")
	s.push("root/trig", map[string]string{".gitlab-ci.yml": "build:\n  script: [echo $GREETING]\n"})
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	tr, _, err := gl.PipelineTriggers.AddPipelineTrigger(pid, &gitlab.AddPipelineTriggerOptions{Description: gitlab.Ptr("nightly")})
	if err != nil || !strings.HasPrefix(tr.Token, "glptt-") || tr.Owner == nil || tr.Owner.Username != "root" {
		t.Fatalf("AddPipelineTrigger: %v %+v", err, tr)
	}
	token := tr.Token
	got, _, err := gl.PipelineTriggers.GetPipelineTrigger(pid, tr.ID)
	if err != nil || got.Token != token[6:10] || got.Description != "nightly" {
		t.Fatalf("GetPipelineTrigger: %v %+v", err, got)
	}
	ed, _, err := gl.PipelineTriggers.EditPipelineTrigger(pid, tr.ID, &gitlab.EditPipelineTriggerOptions{Description: gitlab.Ptr("hourly")})
	if err != nil || ed.Description != "hourly" {
		t.Fatalf("EditPipelineTrigger: %v %+v", err, ed)
	}

	anon, err := gitlab.NewClient("", gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	pl, _, err := anon.PipelineTriggers.RunPipelineTrigger(pid, &gitlab.RunPipelineTriggerOptions{Ref: gitlab.Ptr("main"), Token: gitlab.Ptr(token),
		Variables: map[string]string{"GREETING": "hello"}})
	if err != nil || pl.Source != "trigger" || pl.Ref != "main" || pl.User == nil || pl.User.Username != "root" {
		t.Fatalf("RunPipelineTrigger: %v %+v", err, pl)
	}
	vars, _, err := gl.Pipelines.GetPipelineVariables(pid, pl.ID)
	if err != nil || len(vars) != 1 || vars[0].Key != "GREETING" || vars[0].Value != "hello" {
		t.Fatalf("pipeline variables: %v %+v", err, vars)
	}
	// PUT …/metadata names the pipeline; ?name= finds it.
	named, _, err := gl.Pipelines.UpdatePipelineMetadata(pid, pl.ID, &gitlab.UpdatePipelineMetadataOptions{Name: gitlab.Ptr("nightly run")})
	if err != nil || named.Name != "nightly run" {
		t.Fatalf("UpdatePipelineMetadata: %v %+v", err, named)
	}
	byName, _, err := gl.Pipelines.ListProjectPipelines(pid, &gitlab.ListProjectPipelinesOptions{Name: gitlab.Ptr("nightly run")})
	if err != nil || len(byName) != 1 || byName[0].ID != pl.ID {
		t.Fatalf("ListProjectPipelines by name: %v %+v", err, byName)
	}
	if r := s.do("PUT", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/metadata", pid, pl.ID), rootToken, map[string]any{"name": ""}); r.Status != 400 {
		t.Errorf("empty name: %d %s", r.Status, r.Body)
	}
	list, _, err := gl.PipelineTriggers.ListPipelineTriggers(pid, nil)
	if err != nil || len(list) != 1 || list[0].LastUsed == nil {
		t.Fatalf("ListPipelineTriggers: %v %+v", err, list)
	}
	golden(t, "trigger", normalizeTrigger(s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/triggers/%d", pid, tr.ID), rootToken, nil).Body))

	// A running job's token creates a pipeline as the job's user.
	r := s.registerRunner()
	id, jobTok := r.take("build")
	jpl, _, err := anon.PipelineTriggers.RunPipelineTrigger(pid, &gitlab.RunPipelineTriggerOptions{Ref: gitlab.Ptr("main"), Token: gitlab.Ptr(jobTok)})
	if err != nil || jpl.Source != "pipeline" {
		t.Fatalf("RunPipelineTrigger with a job token: %v %+v", err, jpl)
	}
	r.finish(id, jobTok, "success", "")

	p := fmt.Sprintf("/api/v4/projects/%d", pid)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"unknown token", "POST", p + "/trigger/pipeline", map[string]any{"token": "glptt-nope", "ref": "main"}, 404, `{"message":"404 Not Found"}`},
		{"finished job token", "POST", p + "/trigger/pipeline", map[string]any{"token": jobTok, "ref": "main"}, 404, `{"message":"404 Not Found"}`},
		{"no ref", "POST", p + "/trigger/pipeline", map[string]any{"token": token}, 400, `{"error":"ref is missing"}`},
		{"bad variables", "POST", p + "/trigger/pipeline", map[string]any{"token": token, "ref": "main", "variables": []string{"x"}}, 400, `{"error":"variables is invalid"}`},
		{"unknown ref", "POST", p + "/trigger/pipeline", map[string]any{"token": token, "ref": "nope"}, 400, ""},
		{"no description", "POST", p + "/triggers", map[string]any{}, 400, `{"error":"description is missing"}`},
		{"unknown trigger", "GET", p + "/triggers/999", nil, 404, `{"message":"404 Trigger Not Found"}`},
	} {
		tok := rootToken
		if strings.Contains(tc.path, "/trigger/") {
			tok = ""
		}
		r := s.do(tc.method, tc.path, tok, tc.body)
		if r.Status != tc.status || (tc.want != "" && string(r.Body) != tc.want) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.want)
		}
	}
	// Developers may not manage triggers.
	devID, dev := s.user("dev")
	s.member(pid, devID, 30)
	if r := s.do("GET", p+"/triggers", dev, nil); r.Status != 403 {
		t.Errorf("developer list: %d %s", r.Status, r.Body)
	}
	if _, err := gl.PipelineTriggers.DeletePipelineTrigger(pid, tr.ID); err != nil {
		t.Fatalf("DeletePipelineTrigger: %v", err)
	}
	if r := s.do("POST", p+"/trigger/pipeline", "", map[string]any{"token": token, "ref": "main"}); r.Status != 404 {
		t.Errorf("deleted trigger: %d %s", r.Status, r.Body)
	}
}

// normalizeTrigger hides the short token, which is random.
func normalizeTrigger(b []byte) []byte {
	var out []byte
	i := strings.Index(string(b), `"token":"`)
	if i < 0 {
		return b
	}
	j := strings.IndexByte(string(b[i+9:]), '"')
	out = append(out, b[:i+9]...)
	out = append(out, "<short>"...)
	return append(out, b[i+9+j:]...)
}
