package app_test

import (
	"fmt"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestInstanceVariablesAPI drives /admin/ci/variables with the official Go
// client and checks the precedence jobs see: instance variables override
// YAML ones and yield to project variables; protected ones stay off
// unprotected refs.
func TestInstanceVariablesAPI(t *testing.T) { forEachDB(t, testInstanceVariablesAPI) }

func testInstanceVariablesAPI(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"ONLY_INSTANCE", "inst"}, {"SHARED", "inst"}, {"FROM_YAML", "inst"}} {
		if _, _, err := gl.InstanceVariables.CreateVariable(&gitlab.CreateInstanceVariableOptions{Key: gitlab.Ptr(kv[0]), Value: gitlab.Ptr(kv[1])}); err != nil {
			t.Fatalf("CreateVariable %s: %v", kv[0], err)
		}
	}
	created, _, err := gl.InstanceVariables.CreateVariable(&gitlab.CreateInstanceVariableOptions{Key: gitlab.Ptr("GUARDED"),
		Value: gitlab.Ptr("guarded-value"), Protected: gitlab.Ptr(true), Masked: gitlab.Ptr(true), Description: gitlab.Ptr("only protected refs")})
	if err != nil || !created.Protected || !created.Masked || created.Description != "only protected refs" {
		t.Fatalf("CreateVariable GUARDED: %v %+v", err, created)
	}
	golden(t, "instance_variable", s.must(200, "GET", "/api/v4/admin/ci/variables/GUARDED", rootToken, nil).Body)
	list, _, err := gl.InstanceVariables.ListVariables(nil)
	if err != nil || len(list) != 4 || list[0].Key != "FROM_YAML" {
		t.Fatalf("ListVariables: %v %+v", err, list)
	}
	upd, _, err := gl.InstanceVariables.UpdateVariable("SHARED", &gitlab.UpdateInstanceVariableOptions{Value: gitlab.Ptr("inst2"), VariableType: gitlab.Ptr(gitlab.EnvVariableType)})
	if err != nil || upd.Value != "inst2" {
		t.Fatalf("UpdateVariable: %v %+v", err, upd)
	}
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		want         string
	}{
		{"POST", "/api/v4/admin/ci/variables", map[string]any{"key": "SHARED", "value": "x"}, 400, `{"message":{"key":["(SHARED) has already been taken"]}}`},
		{"POST", "/api/v4/admin/ci/variables", map[string]any{"key": "M", "value": "short", "masked": true}, 400, `{"message":{"value":["is invalid"]}}`},
		{"GET", "/api/v4/admin/ci/variables/NOPE", nil, 404, `{"message":"404 InstanceVariable Not Found"}`},
		{"DELETE", "/api/v4/admin/ci/variables/NOPE", nil, 404, `{"message":"404 InstanceVariable Not Found"}`},
	} {
		if r := s.do(c.method, c.path, rootToken, c.body); r.Status != c.status || string(r.Body) != c.want {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, r.Status, r.Body, c.status, c.want)
		}
	}
	_, user := s.user("plain")
	s.must(403, "GET", "/api/v4/admin/ci/variables", user, nil)
	s.must(403, "POST", "/api/v4/admin/ci/variables", user, map[string]any{"key": "X", "value": "y"})
	s.must(401, "GET", "/api/v4/admin/ci/variables", "", nil)

	pid := s.project("inst", "private")
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/variables", pid), rootToken, map[string]any{"key": "SHARED", "value": "proj"})
	s.push("root/inst", map[string]string{".gitlab-ci.yml": "variables:\n  FROM_YAML: yaml\njob:\n  script: [echo]\n"}, "main", "v1")
	runner := s.registerRunner()
	seen := map[string]map[string]string{}
	for range 2 {
		job := runner.request()
		if job == nil {
			t.Fatal("no job")
		}
		vars := map[string]string{}
		for _, v := range job["variables"].([]any) {
			m := v.(map[string]any)
			vars[m["key"].(string)] = m["value"].(string)
		}
		seen[job["git_info"].(map[string]any)["ref"].(string)] = vars
		runner.finish(int64(job["id"].(float64)), job["token"].(string), "success", "")
	}
	// main is protected (the default branch); the tag v1 is not.
	for ref, want := range map[string]map[string]string{
		"main": {"ONLY_INSTANCE": "inst", "SHARED": "proj", "FROM_YAML": "inst", "GUARDED": "guarded-value"},
		"v1":   {"ONLY_INSTANCE": "inst", "SHARED": "proj", "FROM_YAML": "inst", "GUARDED": ""},
	} {
		for k, v := range want {
			if seen[ref][k] != v {
				t.Errorf("ref %s: %s = %q, want %q", ref, k, seen[ref][k], v)
			}
		}
	}
	if _, err := gl.InstanceVariables.RemoveVariable("GUARDED"); err != nil {
		t.Fatalf("RemoveVariable: %v", err)
	}
	s.must(404, "GET", "/api/v4/admin/ci/variables/GUARDED", rootToken, nil)
}
