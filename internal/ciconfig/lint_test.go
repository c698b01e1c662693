package ciconfig

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		yaml      string
		valid     bool
		errors    []string
		warnings  int
		jobs      []string
		mergedHas string
	}{
		{
			name:  "valid with rules not evaluated",
			yaml:  "build:\n  script: x\n  rules:\n    - if: $NEVER_SET\ntest:\n  script: y\n  parallel: 2\n",
			valid: true, jobs: []string{"build", "test 1/2", "test 2/2"},
			mergedHas: "build:\n  script: x\n",
		},
		{
			name:   "all syntax errors",
			yaml:   "a:\n  script: x\n  foo: 1\n  when: later\nb:\n  script: x\n  tags: t\n",
			errors: []string{"jobs:a config contains unknown keys: foo", "jobs:a when should be one of: on_success, on_failure, always, manual, delayed", "jobs:b:tags config should be an array of strings"},
		},
		{
			name:  "rules:when warning without workflow",
			yaml:  "a:\n  script: x\n  rules:\n    - if: $A\n    - when: on_success\n",
			valid: true, warnings: 1, jobs: []string{"a"},
		},
		{
			name:  "no warning with workflow rules",
			yaml:  "workflow:\n  rules: [{when: always}]\na:\n  script: x\n  rules:\n    - when: on_success\n",
			valid: true, jobs: []string{"a"},
		},
		{
			name:   "single logical error",
			yaml:   "a:\n  stage: nope\n  script: x\nb:\n  stage: nope2\n  script: x\n",
			errors: []string{"a job: chosen stage nope does not exist; available stages are .pre, build, test, deploy, .post"},
		},
		{
			name:  "merged yaml has includes and extends applied",
			yaml:  "include: ci/lint.yml\n.t:\n  tags: [x]\nj:\n  extends: .t\n  script: y\n",
			valid: true, jobs: []string{"lint", "j"},
			mergedHas: "j:\n  tags:\n    - x\n  extends: .t\n  script: y\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := Lint(context.Background(), repoSource(t, []byte(tc.yaml)))
			if res.Valid != tc.valid {
				t.Fatalf("valid = %v, errors %q", res.Valid, res.Errors)
			}
			if tc.errors != nil && !slices.Equal(res.Errors, tc.errors) {
				t.Fatalf("errors = %q, want %q", res.Errors, tc.errors)
			}
			if len(res.Warnings) != tc.warnings {
				t.Fatalf("warnings = %q", res.Warnings)
			}
			var names []string
			for _, j := range res.Jobs {
				names = append(names, j.Name)
			}
			if !slices.Equal(names, tc.jobs) {
				t.Fatalf("jobs = %q, want %q", names, tc.jobs)
			}
			if !strings.HasPrefix(res.MergedYAML, "---\n") && res.Valid {
				t.Fatalf("merged yaml %q", res.MergedYAML)
			}
			if tc.mergedHas != "" && !strings.Contains(res.MergedYAML, tc.mergedHas) {
				t.Fatalf("merged yaml %q lacks %q", res.MergedYAML, tc.mergedHas)
			}
		})
	}
}

// TestRefsAndSources checks which jobs only/except and rules keep for
// different pipelines.
func TestRefsAndSources(t *testing.T) {
	t.Parallel()
	const cfg = `
default-only:
  script: x
branches:
  script: x
  only: [branches]
tags:
  script: x
  only: [tags]
main-only:
  script: x
  only: [main]
regex:
  script: x
  only: ["/^release-\\d+$/"]
regex-i:
  script: x
  only: ["/^HOTFIX/i"]
pushes:
  script: x
  only: [pushes]
web:
  script: x
  only: [web]
triggers:
  script: x
  only: [triggers]
schedules:
  script: x
  only: [schedules]
mrs:
  script: x
  only: [merge_requests]
except-main:
  script: x
  except: [main]
only-var:
  script: x
  only:
    variables: [$DEPLOY == "yes"]
except-var:
  script: x
  except:
    variables: [$DEPLOY]
project-scoped:
  script: x
  only: [main@group/project, main@other/project]
rules-if:
  script: x
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
    - if: $DEPLOY == "yes"
      when: manual
`
	tests := []struct {
		name string
		src  Source
		want []string
	}{
		{"push to main", Source{Ref: "main", PipelineSource: "push", Variables: map[string]string{"CI_PROJECT_PATH": "group/project"}},
			[]string{"default-only", "branches", "main-only", "pushes", "except-var", "project-scoped"}},
		{"tag", Source{Ref: "v1", Tag: true, PipelineSource: "push"},
			[]string{"default-only", "tags", "pushes", "except-main", "except-var"}},
		{"release branch via web with variable", Source{Ref: "release-12", PipelineSource: "web", Variables: map[string]string{"DEPLOY": "yes"}},
			[]string{"default-only", "branches", "regex", "web", "except-main", "only-var", "rules-if"}},
		{"hotfix lower case regex flag", Source{Ref: "hotfix-1", PipelineSource: "trigger"},
			[]string{"default-only", "branches", "regex-i", "triggers", "except-main", "except-var"}},
		{"schedule", Source{Ref: "main", PipelineSource: "schedule", Variables: map[string]string{"CI_PIPELINE_SOURCE": "schedule"}},
			[]string{"default-only", "branches", "main-only", "schedules", "except-var", "project-scoped", "rules-if"}},
		{"merge request", Source{Ref: "feature", PipelineSource: "merge_request_event"},
			[]string{"mrs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := tc.src
			src.Content = []byte(cfg)
			plan, err := Compile(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, j := range plan.Jobs {
				names = append(names, j.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("jobs = %q\nwant   %q", names, tc.want)
			}
		})
	}
}

// TestVariablePrecedence: YAML variables override predefined CI_* values
// but not project/pipeline variables, for rules:if.
func TestVariablePrecedence(t *testing.T) {
	t.Parallel()
	const cfg = "variables:\n  TARGET: staging\n  CI_DEBUG: \"yes\"\njob:\n  script: x\n  rules:\n    - if: $TARGET == \"prod\" && $CI_DEBUG == \"yes\"\n"
	tests := []struct {
		name string
		vars map[string]string
		want bool
	}{
		{"yaml value", map[string]string{"CI_DEBUG": "no"}, false},
		{"pipeline variable wins", map[string]string{"TARGET": "prod", "CI_DEBUG": "no"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(context.Background(), Source{Content: []byte(cfg), Ref: "main", PipelineSource: "push", Variables: tc.vars})
			if got := err == nil; got != tc.want {
				t.Fatalf("job kept = %v (err %v), want %v", got, err, tc.want)
			}
			if err != nil && !errors.Is(err, ErrNoJobs) {
				t.Fatalf("err = %v, want ErrNoJobs", err)
			}
		})
	}
}

func TestWorkflowFiltered(t *testing.T) {
	t.Parallel()
	_, err := Compile(context.Background(), Source{Content: []byte("workflow:\n  rules:\n    - if: $X\n      when: always\n    - when: never\nj:\n  script: x\n"), Ref: "main"})
	if !errors.Is(err, ErrWorkflowFiltered) {
		t.Fatalf("err = %v", err)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Errors[0] != "Pipeline filtered out by workflow rules." {
		t.Fatalf("err = %#v", err)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"1h 30m", 5400, true}, {"90 minutes", 5400, true}, {"3600", 3600, true}, {"1 day", 86400, true},
		{"2 weeks", 1209600, true}, {"1 hour and 5 minutes", 3900, true}, {"3h30m", 12600, true},
		{"1.5 hours", 5400, true}, {"1:30:00", 5400, true}, {"", 0, false}, {"soon", 0, false}, {"5 parsecs", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok := parseDuration(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseDuration(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"*.md", "README.md", true}, {"*.md", "docs/a.md", false}, {"docs/**/*", "docs/a/b.md", true},
		{"**/*.go", "main.go", true}, {"**/*.go", "a/b/c.go", true}, {"src/{a,b}/*", "src/b/x", true},
		{"src/{a,b}/*", "src/c/x", false}, {".*", ".gitignore", true}, {"file?.txt", "file1.txt", true},
		{"[ab].txt", "a.txt", true}, {"[!ab].txt", "a.txt", false},
		{"src/**/*.{js,ts}", "src/a/b/c.ts", true}, {"src/**/*.{js,ts}", "src/c.js", true},
		{"src/**/*.{js,ts}", "src/a/c.go", false}, {"**/*.yml", ".gitlab/ci/.hidden.yml", true},
		{"/README.md", "README.md", true}, {"docs/*", "docs/a/b.md", false},
	}
	for _, tc := range tests {
		t.Run(tc.glob+"_"+tc.path, func(t *testing.T) {
			t.Parallel()
			if got := MatchGlob(tc.glob, tc.path); got != tc.want {
				t.Fatalf("glob %q on %q = %v", tc.glob, tc.path, got)
			}
		})
	}
}

// TestLintIncludes: CI Lint lists every included file as GitLab's
// External::File::*#metadata does: the files of one level first, then the
// files each of them includes, with the including file's project and
// commit as context.
func TestLintIncludes(t *testing.T) {
	t.Parallel()
	projects := memProjects{
		refs:  map[string]map[string]string{"g/lib": {"v1": "s1"}, "g/comp": {"1.0.0": "c1"}},
		files: map[string]map[string]string{"s1": {"a.yml": "include: b.yml\na:\n  script: x\n", "b.yml": "b:\n  script: x\n"}, "c1": {"templates/t.yml": "t:\n  script: x\n"}},
	}
	src := Source{
		Content:     []byte("include:\n  - local: ci/l.yml\n  - project: g/lib\n    ref: v1\n    file: a.yml\n  - remote: https://example.com/r.yml\n  - component: ci.example.com/g/comp/t@1.0.0\nmain:\n  script: x\n"),
		ReadFile:    mapReader(map[string]string{"ci/l.yml": "l:\n  script: x\n"}),
		Projects:    projects,
		FetchRemote: func(string) ([]byte, error) { return []byte("r:\n  script: x\n"), nil },
		Variables: map[string]string{"CI_SERVER_FQDN": "ci.example.com", "CI_SERVER_URL": "https://ci.example.com",
			"CI_PROJECT_PATH": "g/app", "CI_COMMIT_SHA": "s0"},
	}
	res := Lint(context.Background(), src)
	if !res.Valid {
		t.Fatalf("errors: %v", res.Errors)
	}
	got, _ := json.Marshal(res.Includes)
	want := `[` +
		`{"context_project":"g/app","context_sha":"s0","type":"local","location":"ci/l.yml","blob":"https://ci.example.com/g/app/-/blob/s0/ci/l.yml","raw":"https://ci.example.com/g/app/-/raw/s0/ci/l.yml","extra":{}},` +
		`{"context_project":"g/app","context_sha":"s0","type":"file","location":"a.yml","blob":"https://ci.example.com/g/lib/-/blob/s1/a.yml","raw":"https://ci.example.com/g/lib/-/raw/s1/a.yml","extra":{"project":"g/lib","ref":"v1"}},` +
		`{"context_project":"g/app","context_sha":"s0","type":"remote","location":"https://example.com/r.yml","blob":null,"raw":"https://example.com/r.yml","extra":{}},` +
		`{"context_project":"g/app","context_sha":"s0","type":"component","location":"ci.example.com/g/comp/t@1.0.0","blob":"https://ci.example.com/g/comp/-/blob/c1/templates/t.yml","raw":null,"extra":{}},` +
		`{"context_project":"g/lib","context_sha":"s1","type":"local","location":"b.yml","blob":"https://ci.example.com/g/lib/-/blob/s1/b.yml","raw":"https://ci.example.com/g/lib/-/raw/s1/b.yml","extra":{}}` +
		`]`
	if string(got) != want {
		t.Errorf("includes\n got: %s\nwant: %s", got, want)
	}
}
