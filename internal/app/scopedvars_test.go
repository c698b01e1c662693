package app_test

import (
	"fmt"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestScopedVariablesAPI keeps several variables of one key for different
// environment scopes, picks them with filter[environment_scope] (409
// without it, as GitLab), and checks that each job gets the variable of
// the scope fitting its environment best.
func TestScopedVariablesAPI(t *testing.T) { forEachDB(t, testScopedVariablesAPI) }

func testScopedVariablesAPI(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("scoped", "private")
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	for _, scope := range []string{"*", "review/*", "review/special", "production"} {
		v, _, err := gl.ProjectVariables.CreateVariable(int(pid), &gitlab.CreateProjectVariableOptions{
			Key: gitlab.Ptr("TARGET"), Value: gitlab.Ptr("value for " + scope), EnvironmentScope: gitlab.Ptr(scope)})
		if err != nil || v.EnvironmentScope != scope {
			t.Fatalf("CreateVariable %s: %v %+v", scope, err, v)
		}
	}
	p := fmt.Sprintf("/api/v4/projects/%d/variables", pid)
	r := s.do("POST", p, rootToken, map[string]any{"key": "TARGET", "value": "again", "environment_scope": "production"})
	if r.Status != 400 || !strings.Contains(string(r.Body), `"(TARGET) has already been taken"`) {
		t.Errorf("same key and scope: %d %s", r.Status, r.Body)
	}
	list, _, err := gl.ProjectVariables.ListVariables(int(pid), nil)
	if err != nil || len(list) != 4 {
		t.Fatalf("ListVariables: %v %d", err, len(list))
	}
	const ambiguous = `{"message":"There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"}`
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		r := s.do(m, p+"/TARGET", rootToken, map[string]any{"value": "x"})
		if r.Status != 409 || string(r.Body) != ambiguous {
			t.Errorf("%s without filter: %d %s", m, r.Status, r.Body)
		}
	}
	got, _, err := gl.ProjectVariables.GetVariable(int(pid), "TARGET", &gitlab.GetProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "review/*"}})
	if err != nil || got.Value != "value for review/*" {
		t.Fatalf("GetVariable review/*: %v %+v", err, got)
	}
	upd, _, err := gl.ProjectVariables.UpdateVariable(int(pid), "TARGET", &gitlab.UpdateProjectVariableOptions{
		Value: gitlab.Ptr("prod value"), Filter: &gitlab.VariableFilter{EnvironmentScope: "production"}})
	if err != nil || upd.Value != "prod value" || upd.EnvironmentScope != "production" {
		t.Fatalf("UpdateVariable production: %v %+v", err, upd)
	}
	// Moving a variable onto a taken scope is refused.
	r = s.do("PUT", p+"/TARGET?filter[environment_scope]=production", rootToken, map[string]any{"environment_scope": "*"})
	if r.Status != 400 || !strings.Contains(string(r.Body), "has already been taken") {
		t.Errorf("update onto a taken scope: %d %s", r.Status, r.Body)
	}
	if _, err := gl.ProjectVariables.RemoveVariable(int(pid), "TARGET", &gitlab.RemoveProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "review/special"}}); err != nil {
		t.Fatalf("RemoveVariable review/special: %v", err)
	}
	if _, resp, err := gl.ProjectVariables.GetVariable(int(pid), "TARGET", &gitlab.GetProjectVariableOptions{Filter: &gitlab.VariableFilter{EnvironmentScope: "review/special"}}); err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("removed scope still answers: %v", err)
	}
	s.must(201, "POST", p, rootToken, map[string]any{"key": "TARGET", "value": "value for review/special", "environment_scope": "review/special"})

	// Jobs get the most specific scope that fits their environment.
	s.push("root/scoped", map[string]string{".gitlab-ci.yml": `
plain:
  script: [echo]
review_one:
  script: [echo]
  environment: review/one
review_special:
  script: [echo]
  environment: review/special
prod:
  script: [echo]
  environment: production
`})
	runner := s.registerRunner()
	want := map[string]string{"plain": "value for *", "review_one": "value for review/*",
		"review_special": "value for review/special", "prod": "prod value"}
	for range want {
		job := runner.request()
		if job == nil {
			t.Fatal("no job")
		}
		name := job["job_info"].(map[string]any)["name"].(string)
		var value []string
		for _, v := range job["variables"].([]any) {
			if m := v.(map[string]any); m["key"] == "TARGET" {
				value = append(value, m["value"].(string))
			}
		}
		if len(value) != 1 || value[0] != want[name] {
			t.Errorf("job %s got TARGET %v, want %q", name, value, want[name])
		}
		runner.finish(int64(job["id"].(float64)), job["token"].(string), "success", "")
	}
}
