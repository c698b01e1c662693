package app_test

import (
	"fmt"
	"testing"
)

// TestEntityGoldens pins the JSON of every API entity Gantry serves
// (besides the job and pipeline entities of TestJobsAPIFlows) to
// testdata/golden, on each database: the same requests must answer the
// same bytes on SQLite and PostgreSQL. Rewrite the files with
// `go test ./internal/app -run TestEntityGoldens -update`, then review the
// diff.
func TestEntityGoldens(t *testing.T) { forEachDB(t, testEntityGoldens) }

func testEntityGoldens(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	// Users and tokens.
	golden(t, "user_current", s.must(200, "GET", "/api/v4/user", rootToken, nil).Body)
	created := s.must(201, "POST", "/api/v4/users", rootToken,
		map[string]any{"username": "dev", "name": "Dev Eloper", "email": "dev@example.com"})
	golden(t, "user_created", created.Body)
	var dev struct{ ID int64 }
	created.json(t, &dev)
	golden(t, "user", s.must(200, "GET", fmt.Sprintf("/api/v4/users/%d", dev.ID), rootToken, nil).Body)
	golden(t, "users", s.must(200, "GET", "/api/v4/users", rootToken, nil).Body)
	golden(t, "personal_access_token", s.must(201, "POST", fmt.Sprintf("/api/v4/users/%d/personal_access_tokens", dev.ID),
		rootToken, map[string]any{"name": "ci", "scopes": []string{"api", "read_api"}, "expires_at": "2030-01-31"}).Body)

	// Projects, members, variables.
	golden(t, "project_created", s.must(201, "POST", "/api/v4/projects", rootToken,
		map[string]any{"name": "api", "description": "The API", "visibility": "internal"}).Body)
	s.push("root/api", map[string]string{".gitlab-ci.yml": "build:\n  script: echo $GREETING\n"})
	golden(t, "project", s.must(200, "GET", "/api/v4/projects/root%2Fapi", rootToken, nil).Body)
	golden(t, "projects", s.must(200, "GET", "/api/v4/projects", rootToken, nil).Body)
	golden(t, "project_member", s.must(201, "POST", "/api/v4/projects/1/members", rootToken,
		map[string]any{"user_id": dev.ID, "access_level": 30}).Body)
	golden(t, "project_members", s.must(200, "GET", "/api/v4/projects/1/members", rootToken, nil).Body)
	golden(t, "variable", s.must(201, "POST", "/api/v4/projects/1/variables", rootToken,
		map[string]any{"key": "DEPLOY_TOKEN", "value": "s3cr3t-value-42", "masked": true, "protected": true}).Body)
	golden(t, "variable_file", s.must(201, "POST", "/api/v4/projects/1/variables", rootToken,
		map[string]any{"key": "KUBECONFIG", "value": "apiVersion: v1\n", "variable_type": "file", "raw": true}).Body)

	// A pipeline with variables.
	pl := s.must(201, "POST", "/api/v4/projects/1/pipeline", rootToken, map[string]any{"ref": "main",
		"variables": []map[string]any{{"key": "GREETING", "value": "hello"}, {"key": "CONF", "value": "x=1", "variable_type": "file"}}})
	var p struct{ ID int64 }
	pl.json(t, &p)
	golden(t, "pipeline_variables", s.must(200, "GET", fmt.Sprintf("/api/v4/projects/1/pipelines/%d/variables", p.ID), rootToken, nil).Body)

	// Lint answers: valid, invalid, and of the default branch's file.
	golden(t, "lint_valid", s.must(200, "POST", "/api/v4/projects/1/ci/lint", rootToken,
		map[string]any{"content": "build:\n  script: echo hi\n"}).Body)
	golden(t, "lint_invalid", s.must(200, "POST", "/api/v4/projects/1/ci/lint", rootToken,
		map[string]any{"content": "build:\n  script: echo hi\n  when: sometimes\n"}).Body)
	golden(t, "lint_ref", s.must(200, "GET", "/api/v4/projects/1/ci/lint", rootToken, nil).Body)

	// Runners: creation, detail, lists.
	golden(t, "runner_created", s.must(201, "POST", "/api/v4/user/runners", rootToken,
		map[string]any{"runner_type": "project_type", "project_id": 1, "description": "builder", "tag_list": "linux,docker",
			"maximum_timeout": 3600, "maintenance_note": "rack 3"}).Body)
	golden(t, "runner", s.must(200, "GET", "/api/v4/runners/1", rootToken, nil).Body)
	golden(t, "runners", s.must(200, "GET", "/api/v4/runners/all", rootToken, nil).Body)
	golden(t, "project_runners", s.must(200, "GET", "/api/v4/projects/1/runners", rootToken, nil).Body)

	// Instance metadata.
	golden(t, "version", s.must(200, "GET", "/api/v4/version", rootToken, nil).Body)
	golden(t, "metadata", s.must(200, "GET", "/api/v4/metadata", rootToken, nil).Body)
}
