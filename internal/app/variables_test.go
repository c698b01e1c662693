package app_test

import (
	"fmt"
	"net/http"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestProjectVariablesAPI drives /projects/:id/variables through GitLab's Go
// client: create, list, get (with filter), update, delete, and GitLab's
// validation answers.
func TestProjectVariablesAPI(t *testing.T) { forEachDB(t, testProjectVariablesAPI) }

func testProjectVariablesAPI(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("vars", "private")
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	created, _, err := gl.ProjectVariables.CreateVariable(pid, &gitlab.CreateProjectVariableOptions{
		Key: gitlab.Ptr("DEPLOY_TOKEN"), Value: gitlab.Ptr("s3cr3t-value"), Masked: gitlab.Ptr(true), Protected: gitlab.Ptr(true),
		EnvironmentScope: gitlab.Ptr("production"), Description: gitlab.Ptr("deploys"), VariableType: gitlab.Ptr(gitlab.EnvVariableType)})
	if err != nil || created.Key != "DEPLOY_TOKEN" || !created.Masked || created.EnvironmentScope != "production" || created.Description != "deploys" {
		t.Fatalf("CreateVariable: %v %+v", err, created)
	}
	if _, _, err := gl.ProjectVariables.CreateVariable(pid, &gitlab.CreateProjectVariableOptions{
		Key: gitlab.Ptr("CONFIG"), Value: gitlab.Ptr("a: b\n"), VariableType: gitlab.Ptr(gitlab.FileVariableType), Raw: gitlab.Ptr(true)}); err != nil {
		t.Fatalf("CreateVariable file: %v", err)
	}
	list, resp, err := gl.ProjectVariables.ListVariables(pid, &gitlab.ListProjectVariablesOptions{ListOptions: gitlab.ListOptions{PerPage: 1}})
	if err != nil || len(list) != 1 || list[0].Key != "CONFIG" || list[0].VariableType != gitlab.FileVariableType || resp.NextPage != 2 || resp.TotalItems != 2 {
		t.Fatalf("ListVariables: %v %+v next=%d", err, list, resp.NextPage)
	}
	got, _, err := gl.ProjectVariables.GetVariable(pid, "DEPLOY_TOKEN", &gitlab.GetProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "production"}})
	if err != nil || got.Value != "s3cr3t-value" || !got.Protected {
		t.Fatalf("GetVariable: %v %+v", err, got)
	}
	if _, r, err := gl.ProjectVariables.GetVariable(pid, "DEPLOY_TOKEN", &gitlab.GetProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "staging"}}); err == nil || r.StatusCode != 404 {
		t.Fatalf("GetVariable other scope: %v", err)
	}
	upd, _, err := gl.ProjectVariables.UpdateVariable(pid, "DEPLOY_TOKEN", &gitlab.UpdateProjectVariableOptions{
		Value: gitlab.Ptr("rotated-value-2"), Filter: &gitlab.VariableFilter{EnvironmentScope: "production"}, Protected: gitlab.Ptr(false)})
	if err != nil || upd.Value != "rotated-value-2" || upd.Protected || !upd.Masked || upd.Description != "deploys" {
		t.Fatalf("UpdateVariable: %v %+v", err, upd)
	}
	golden(t, "project_variable", s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/variables/DEPLOY_TOKEN", pid), rootToken, nil).Body)

	p := fmt.Sprintf("/api/v4/projects/%d/variables", pid)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"duplicate", "POST", p, map[string]any{"key": "CONFIG", "value": "x"}, 400, `{"message":{"key":["(CONFIG) has already been taken"]}}`},
		{"bad key", "POST", p, map[string]any{"key": "A-B", "value": "x"}, 400, `{"message":{"key":["can contain only letters, digits and '_'."]}}`},
		{"no value", "POST", p, map[string]any{"key": "A"}, 400, `{"error":"value is missing"}`},
		{"short masked", "POST", p, map[string]any{"key": "A", "value": "short", "masked": true}, 400, `{"message":{"value":["is invalid"]}}`},
		{"bad type", "POST", p, map[string]any{"key": "A", "value": "x", "variable_type": "yaml"}, 400, `{"error":"variable_type does not have a valid value"}`},
		{"unmaskable update", "PUT", p + "/DEPLOY_TOKEN", map[string]any{"value": "has space in it"}, 400, `{"message":{"value":["is invalid"]}}`},
		{"get unknown", "GET", p + "/NOPE", nil, 404, `{"message":"404 Variable Not Found"}`},
		{"update unknown", "PUT", p + "/NOPE", map[string]any{"value": "x"}, 404, `{"message":"404 Variable Not Found"}`},
		{"delete unknown", "DELETE", p + "/NOPE", nil, 404, `{"message":"404 Variable Not Found"}`},
	} {
		r := s.do(tc.method, tc.path, rootToken, tc.body)
		if r.Status != tc.status || string(r.Body) != tc.want {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.want)
		}
	}
	// Developers may not read variables.
	devID, dev := s.user("dev")
	s.member(pid, devID, 30)
	if r := s.do("GET", p, dev, nil); r.Status != http.StatusForbidden {
		t.Errorf("developer list: %d %s", r.Status, r.Body)
	}

	if _, err := gl.ProjectVariables.RemoveVariable(pid, "DEPLOY_TOKEN", nil); err != nil {
		t.Fatalf("RemoveVariable: %v", err)
	}
	list, _, err = gl.ProjectVariables.ListVariables(pid, nil)
	if err != nil || len(list) != 1 || list[0].Key != "CONFIG" {
		t.Fatalf("after remove: %v %+v", err, list)
	}
}
