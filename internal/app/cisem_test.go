package app_test

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// workTree is a git work dir that keeps its history between pushes, for
// tests that tag several commits or push with options.
type workTree struct {
	s   *server
	dir string
}

func (s *server) workTree() *workTree {
	w := &workTree{s: s, dir: s.t.TempDir()}
	w.git("init", "-q", "-b", "main")
	return w
}

func (w *workTree) git(args ...string) string {
	w.s.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.s.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files and commits them; tags are added to the commit.
func (w *workTree) commit(msg string, files map[string]string, tags ...string) {
	w.s.t.Helper()
	for name, content := range files {
		p := filepath.Join(w.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.s.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			w.s.t.Fatal(err)
		}
	}
	w.git("add", "-A")
	w.git("commit", "-q", "-m", msg)
	for _, t := range tags {
		w.git("tag", t)
	}
}

// push pushes main and all tags with push options (`git push -o`).
func (w *workTree) push(project string, opts ...string) {
	w.s.t.Helper()
	args := []string{"push", "-q"}
	for _, o := range opts {
		args = append(args, "-o", o)
	}
	w.git(append(args, w.remote(project), "main", "--tags")...)
}

func (w *workTree) remote(project string) string {
	return strings.Replace(w.s.URL, "http://", "http://oauth2:"+rootToken+"@", 1) + "/" + project + ".git"
}

// pipelines lists a project's pipelines, newest first.
func (s *server) pipelines(pid int64) []map[string]any {
	s.t.Helper()
	var list []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines", pid), rootToken, nil).json(s.t, &list)
	return list
}

const greetComponentOld = `greet-old:
  script: echo old
`

const greetComponent = `spec:
  inputs:
    stage:
      default: test
      options: [build, test]
    name:
      description: who to greet
    count:
      type: number
      default: 1
---
greet-$[[ inputs.name ]]:
  stage: $[[ inputs.stage ]]
  script:
    - echo "greeting $[[ inputs.name | truncate(0,3) ]] x$[[ inputs.count ]] from $[[ inputs.name | expand_vars ]]"
`

// TestComponentLatestEndToEnd: a component project pushed with real git and
// tagged; another project includes it at ~latest with inputs and its
// pipeline runs on the built-in runner with the interpolated values.
func TestComponentLatestEndToEnd(t *testing.T) { forEachDB(t, testComponentLatestEndToEnd) }

func testComponentLatestEndToEnd(t *testing.T, o serverOpts) {
	o.runners = 1
	s := startServer(t, o)
	s.project("comp", "private")
	w := s.workTree()
	w.commit("old", map[string]string{"templates/greet.yml": greetComponentOld}, "1.2.0")
	// 1.10.0 is newer than 1.2.0 although it sorts first as text.
	w.commit("new", map[string]string{"templates/greet.yml": greetComponent}, "1.10.0")
	w.commit("rc", map[string]string{"templates/greet.yml": "rc:\n  script: echo rc\n"}, "2.0.0-rc1")
	w.push("root/comp")

	pid := s.project("app", "private")
	s.push("root/app", map[string]string{".gitlab-ci.yml": `include:
  - component: $CI_SERVER_FQDN/root/comp/greet@~latest
    inputs:
      name: $CI_PROJECT_NAME
      count: 3
`})
	job := s.waitJob(pid, "greet-$CI_PROJECT_NAME", "success")
	if job["stage"] != "test" {
		t.Errorf("stage = %v, want test", job["stage"])
	}
	trace := s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%v/trace", pid, job["id"]), rootToken, nil)
	if !strings.Contains(string(trace.Body), "greeting $CI x3 from app") {
		t.Errorf("job log lacks the interpolated line:\n%s", trace.Body)
	}
	if _, ok := s.jobs(pid)["greet-old"]; ok {
		t.Error("~latest picked 1.2.0")
	}

	// A pinned version, templates/<name>/template.yml, and a missing one.
	w.commit("dir", map[string]string{"templates/deploy/template.yml": "deploy-job:\n  script: echo d\n"}, "3.0.0")
	w.push("root/comp")
	cases := []struct {
		include string
		inputs  bool
		want    string
	}{
		{"$CI_SERVER_FQDN/root/comp/greet@1.2.0", false, "greet-old"},
		{"$CI_SERVER_FQDN/root/comp/deploy@3.0.0", false, "deploy-job"},
		{"$CI_SERVER_FQDN/root/comp/greet@main", false, "rc"},
		{"$CI_SERVER_FQDN/root/comp/greet@1.10.0", true, "greet-x"},
		{"$CI_SERVER_FQDN/root/comp/greet@" + w.git("rev-parse", "1.10.0"), true, "greet-x"},
	}
	for _, c := range cases {
		body := map[string]any{"content": "include:\n  - component: " + c.include + "\n"}
		if c.inputs {
			body["content"] = "include:\n  - component: " + c.include + "\n    inputs: {name: x}\n"
		}
		r := s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint?include_jobs=true", pid), rootToken, body).obj(t)
		if r["valid"] != true {
			t.Errorf("%s: lint errors %v", c.include, r["errors"])
			continue
		}
		if c.want != "" && !strings.Contains(fmt.Sprint(r["jobs"]), c.want) {
			t.Errorf("%s: jobs %v lack %s", c.include, r["jobs"], c.want)
		}
	}
	r := s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint", pid), rootToken,
		map[string]any{"content": "include:\n  - component: $CI_SERVER_FQDN/root/comp/nope@1.2.0\n"}).obj(t)
	want := "Component '" + strings.TrimPrefix(s.URL, "http://") + "/root/comp/nope@1.2.0' - content not found"
	if fmt.Sprint(r["errors"]) != "["+want+"]" {
		t.Errorf("errors = %v, want %q", r["errors"], want)
	}
}

// TestIncludeProjectAndRemote: include:project reads another project at a
// ref with the pipeline user's access checked; include:remote fetches over
// HTTP with GitLab's errors; include:template answers a clear error.
func TestIncludeProjectAndRemote(t *testing.T) { forEachDB(t, testIncludeProjectAndRemote) }

func testIncludeProjectAndRemote(t *testing.T, o serverOpts) {
	o.allowLocalRequests = true // the remote files come from a loopback server
	s := startServer(t, o)
	s.project("lib", "private")
	w := s.workTree()
	w.commit("v1", map[string]string{"ci/a.yml": "a-job:\n  script: echo a\n", "ci/b.yml": "include: ci/c.yml\nb-job:\n  script: echo b\n",
		"ci/c.yml": "c-job:\n  script: echo c\n"}, "v1")
	w.commit("v2", map[string]string{"ci/a.yml": "a2-job:\n  script: echo a2\n"})
	w.push("root/lib")

	big := strings.Repeat("# padding\n", 120000)
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.yml":
			fmt.Fprint(rw, "remote-job:\n  script: echo remote\n")
		case "/big.yml":
			fmt.Fprint(rw, big)
		default:
			http.NotFound(rw, r)
		}
	}))
	defer hs.Close()

	pid := s.project("app", "private")
	app := s.workTree()
	app.commit("readme", map[string]string{"README.md": "x\n"})
	app.push("root/app")
	uid, alice := s.user("alice")
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/members", pid), rootToken, map[string]any{"user_id": uid, "access_level": 40})

	lint := func(token, content string) map[string]any {
		t.Helper()
		return s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint?include_jobs=true", pid), token,
			map[string]any{"content": content}).obj(t)
	}
	cases := []struct {
		name, token, content string
		jobs                 []string
		err                  string
	}{
		{"project file list at tag", rootToken, "include:\n  - project: root/lib\n    ref: v1\n    file: [ci/a.yml, /ci/b.yml]\n",
			// b.yml's own include merges under it: c-job comes first.
			[]string{"a-job", "c-job", "b-job"}, ""},
		{"project default branch", rootToken, "include:\n  - project: ROOT/lib\n    file: ci/a.yml\n", []string{"a2-job"}, ""},
		{"no access", alice, "include:\n  - project: root/lib\n    file: ci/a.yml\n", nil,
			"Project `root/lib` not found or access denied! Make sure any includes in the pipeline configuration are correctly defined."},
		{"missing ref", rootToken, "include:\n  - project: root/lib\n    ref: nope\n    file: ci/a.yml\n", nil,
			"Project `root/lib` reference `nope` does not exist!"},
		{"missing file", rootToken, "include:\n  - project: root/lib\n    file: ci/zz.yml\n", nil,
			"Project `root/lib` file `ci/zz.yml` does not exist!"},
		{"remote", rootToken, "include: " + hs.URL + "/ok.yml\n", []string{"remote-job"}, ""},
		{"remote 404", rootToken, "include:\n  - remote: " + hs.URL + "/gone.yml\n", nil,
			"Remote file `" + hs.URL + "/gone.yml` could not be fetched because of HTTP code `404` error!"},
		{"remote too big", rootToken, "include:\n  - remote: " + hs.URL + "/big.yml\n", nil,
			"Remote file `" + hs.URL + "/big.yml` could not be fetched because of HTTP error!"},
		{"remote bad address", rootToken, "include:\n  - remote: ftp://x/y.yml\n", nil,
			"Remote file `ftp://x/y.yml` does not have a valid address!"},
		{"template", rootToken, "include:\n  - template: Auto-DevOps.gitlab-ci.yml\n", nil,
			"Template file `Auto-DevOps.gitlab-ci.yml` is not available: this server does not ship GitLab's CI/CD template library; include the file with include:local, include:project or include:remote instead"},
	}
	for _, c := range cases {
		r := lint(c.token, c.content)
		if c.err != "" {
			if fmt.Sprint(r["errors"]) != "["+c.err+"]" {
				t.Errorf("%s: errors = %v, want %q", c.name, r["errors"], c.err)
			}
			continue
		}
		if r["valid"] != true {
			t.Errorf("%s: errors %v", c.name, r["errors"])
			continue
		}
		var got []string
		for _, j := range r["jobs"].([]any) {
			got = append(got, j.(map[string]any)["name"].(string))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.jobs) {
			t.Errorf("%s: jobs = %v, want %v", c.name, got, c.jobs)
		}
	}

	// Pipeline creation through the API uses the same access check.
	app.commit("ci", map[string]string{".gitlab-ci.yml": "include:\n  - project: root/lib\n    file: ci/a.yml\n"})
	app.push("root/app")
	r := s.must(400, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", pid), alice, map[string]any{"ref": "main"}).obj(t)
	if !strings.Contains(fmt.Sprint(r["message"]), "Project `root/lib` not found or access denied!") {
		t.Errorf("alice's pipeline: %v", r["message"])
	}
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", pid), rootToken, map[string]any{"ref": "main"})
	s.waitJob(pid, "a2-job", "pending")
}

const inputsConfig = `spec:
  inputs:
    env:
      options: [staging, production]
      default: staging
    replicas:
      type: number
      default: 1
    verbose:
      type: boolean
      default: false
    tags:
      type: array
      default: [a]
    ticket:
      regex: ^[A-Z]+-[0-9]+$
      default: OPS-1
---
deploy-$[[ inputs.env ]]:
  script: echo "$[[ inputs.replicas ]] $[[ inputs.verbose ]] $[[ inputs.tags ]] $[[ inputs.ticket ]]"
  variables:
    REPLICAS: $[[ inputs.replicas ]]
`

// TestPipelineInputs: spec:inputs of the main .gitlab-ci.yml with inputs
// from POST /projects/:id/pipeline and from `git push -o ci.input=`, with
// GitLab's messages for unknown, mistyped and invalid values; push options
// ci.skip and ci.variable.
func TestPipelineInputs(t *testing.T) { forEachDB(t, testPipelineInputs) }

func testPipelineInputs(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("app", "private")
	w := s.workTree()
	w.commit("ci", map[string]string{".gitlab-ci.yml": inputsConfig})
	w.push("root/app", "ci.input=env=production", "ci.input=replicas=3", "ci.variable=FOO=bar baz")
	job := s.waitJob(pid, "deploy-production", "pending")
	pl := job["pipeline"].(map[string]any)
	var vars []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/variables", pid, pl["id"]), rootToken, nil).json(t, &vars)
	if len(vars) != 1 || vars[0]["key"] != "FOO" || vars[0]["value"] != "bar baz" {
		t.Errorf("pipeline variables = %v", vars)
	}

	create := func(inputs any) (int, map[string]any) {
		r := s.do("POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", pid), rootToken, map[string]any{"ref": "main", "inputs": inputs})
		var m map[string]any
		r.json(t, &m)
		return r.Status, m
	}
	errCases := []struct {
		inputs any
		want   string
	}{
		{map[string]any{"nope": "x"}, "unknown input arguments: nope"},
		{map[string]any{"replicas": "three"}, "`replicas` input: provided value is not a number"},
		{map[string]any{"verbose": "yes"}, "`verbose` input: provided value is not a boolean"},
		{map[string]any{"tags": "a"}, "`tags` input: provided value is not an array"},
		{map[string]any{"env": "dev"}, "`env` input: `dev` cannot be used because it is not in the list of allowed options"},
		{map[string]any{"ticket": "ops"}, "`ticket` input: provided value does not match required RegEx pattern"},
	}
	for _, c := range errCases {
		st, m := create(c.inputs)
		if st != 400 || fmt.Sprint(m["message"]) != "map[base:["+c.want+"]]" {
			t.Errorf("inputs %v: %d %v, want %q", c.inputs, st, m["message"], c.want)
		}
	}
	st, m := create(map[string]any{"env": "staging", "replicas": 5, "verbose": true, "tags": []string{"x", "y"}, "ticket": "AB-12"})
	if st != 201 {
		t.Fatalf("create with inputs: %d %v", st, m)
	}
	var jobs []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/jobs", pid, m["id"]), rootToken, nil).json(t, &jobs)
	if len(jobs) != 1 || jobs[0]["name"] != "deploy-staging" {
		t.Errorf("jobs = %v", jobs)
	}

	// The official Go client (what glab's `ci run --input` uses) sends
	// typed inputs.
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	gp, _, err := gl.Pipelines.CreatePipeline(int(pid), &gitlab.CreatePipelineOptions{Ref: gitlab.Ptr("main"),
		Inputs: gitlab.PipelineInputsOption{"env": gitlab.NewPipelineInputValue("production"),
			"replicas": gitlab.NewPipelineInputValue(2), "verbose": gitlab.NewPipelineInputValue(true),
			"tags": gitlab.NewPipelineInputValue([]string{"k"})}})
	if err != nil {
		t.Fatalf("client-go CreatePipeline with inputs: %v", err)
	}
	gjobs, _, err := gl.Jobs.ListPipelineJobs(int(pid), gp.ID, nil)
	if err != nil || len(gjobs) != 1 || gjobs[0].Name != "deploy-production" {
		t.Errorf("client-go pipeline jobs: %v %v", err, gjobs)
	}

	// A required input missing from a push fails the pipeline with the
	// message; ci.skip records a skipped pipeline.
	w.commit("required", map[string]string{".gitlab-ci.yml": "spec:\n  inputs:\n    who:\n---\nj:\n  script: echo $[[ inputs.who ]]\n"})
	w.push("root/app")
	waitFor(t, "failed pipeline", 30e9, func() bool {
		p := s.pipelines(pid)[0]
		return p["status"] == "failed"
	})
	var failed map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v", pid, s.pipelines(pid)[0]["id"]), rootToken, nil).json(t, &failed)
	if failed["yaml_errors"] != "`who` input: required value has not been provided" {
		t.Errorf("yaml_errors = %v", failed["yaml_errors"])
	}
	w.commit("skip", map[string]string{"README.md": "x\n"})
	w.push("root/app", "ci.skip", "ci.input=who=me")
	waitFor(t, "skipped pipeline", 30e9, func() bool { return s.pipelines(pid)[0]["status"] == "skipped" })
}

const dryRunConfig = `workflow:
  rules:
    - if: $CI_COMMIT_TAG
      when: never
    - when: always
build:
  script: echo build
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      when: manual
      allow_failure: false
    - when: on_success
feature:
  stage: deploy
  script: echo feature
  rules:
    - if: $CI_COMMIT_BRANCH != $CI_DEFAULT_BRANCH
      allow_failure: true
`

// TestLintDryRun: CI lint with dry_run simulates pipeline creation for a
// ref (workflow and job rules with the ref's predefined variables) and lists
// the jobs the pipeline would get; without dry_run the answer is static.
func TestLintDryRun(t *testing.T) { forEachDB(t, testLintDryRun) }

func testLintDryRun(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("app", "private")
	w := s.workTree()
	w.commit("ci", map[string]string{".gitlab-ci.yml": dryRunConfig}, "v1")
	w.git("branch", "dev")
	w.push("root/app", "ci.skip")
	w.git("push", "-q", "-o", "ci.skip", w.remote("root/app"), "dev")

	type job struct {
		Name         string
		Stage        string
		When         string
		AllowFailure bool `json:"allow_failure"`
	}
	type result struct {
		Valid  bool
		Errors []string
		Jobs   []job
	}
	post := func(body map[string]any) result {
		t.Helper()
		body["content"] = dryRunConfig
		var r result
		s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint?include_jobs=true", pid), rootToken, body).json(t, &r)
		return r
	}
	cases := []struct {
		name string
		body map[string]any
		jobs string
		err  string
	}{
		{"static", map[string]any{}, "[{build test on_success false} {feature deploy on_success false}]", ""},
		{"empty ref is the default branch", map[string]any{"dry_run": true, "ref": ""}, "[{build test manual false}]", ""},
		{"branch", map[string]any{"dry_run": true, "ref": "dev"}, "[{build test on_success false} {feature deploy on_success true}]", ""},
		{"tag filtered by workflow", map[string]any{"dry_run": true, "ref": "v1", "dry_run_ref_type": "tag"}, "", "Pipeline filtered out by workflow rules."},
		{"unknown ref", map[string]any{"dry_run": true, "ref": "nope"}, "", "Reference not found"},
	}
	for _, c := range cases {
		r := post(c.body)
		if c.err != "" {
			if r.Valid || fmt.Sprint(r.Errors) != "["+c.err+"]" {
				t.Errorf("%s: valid %v errors %v, want %q", c.name, r.Valid, r.Errors, c.err)
			}
			continue
		}
		if !r.Valid || fmt.Sprint(r.Jobs) != c.jobs {
			t.Errorf("%s: valid %v errors %v jobs %v, want %s", c.name, r.Valid, r.Errors, r.Jobs, c.jobs)
		}
	}

	// No job left after rules: GitLab's populate error.
	var r result
	s.must(200, "POST", fmt.Sprintf("/api/v4/projects/%d/ci/lint", pid), rootToken, map[string]any{"dry_run": true,
		"content": "only-tags:\n  script: echo\n  rules:\n    - if: $CI_COMMIT_TAG\n"}).json(t, &r)
	if fmt.Sprint(r.Errors) != "[Pipeline will not run for the selected trigger. The rules configuration prevented any jobs from being added to the pipeline.]" {
		t.Errorf("no jobs: %v", r.Errors)
	}
	// GET simulates the project's own configuration.
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/ci/lint?dry_run=true&include_jobs=true&ref=dev", pid), rootToken, nil).json(t, &r)
	if !r.Valid || len(r.Jobs) != 2 || r.Jobs[1].Name != "feature" {
		t.Errorf("GET dry run: %+v", r)
	}
}

// TestCacheKeyFiles: cache:key:files keys are derived from the commit's
// files (the SHA1 of their sorted blob ids, after the prefix), wildcards
// expanded with the rules:changes glob; without any file the key is default.
func TestCacheKeyFiles(t *testing.T) { forEachDB(t, testCacheKeyFiles) }

func testCacheKeyFiles(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	s.project("app", "private")
	w := s.workTree()
	w.commit("ci", map[string]string{
		"Gemfile.lock": "gems\n", "web/a/package.json": "{}\n", "web/b/package.json": "{\"b\":1}\n",
		".gitlab-ci.yml": `deps:
  script: echo
  cache:
    - key:
        files: [Gemfile.lock, "web/**/package.{json,lock}"]
        prefix: deps
      paths: [vendor]
    - key:
        files: [missing.lock]
      paths: [x]
`})
	w.push("root/app")
	ids := []string{w.git("rev-parse", "HEAD:Gemfile.lock"), w.git("rev-parse", "HEAD:web/a/package.json"), w.git("rev-parse", "HEAD:web/b/package.json")}
	slices.Sort(ids)
	sum := sha1.Sum([]byte(strings.Join(ids, "-")))
	// main is protected (a project's default branch is, from its first
	// push), so the keys end in -protected as in GitLab.
	want := []string{"deps-" + hex.EncodeToString(sum[:]) + "-protected", "default-protected"}

	job := s.registerRunner().request()
	if job == nil {
		t.Fatal("no job handed out")
	}
	var got []string
	for _, c := range job["cache"].([]any) {
		got = append(got, c.(map[string]any)["key"].(string))
	}
	if !slices.Equal(got, want) {
		t.Errorf("cache keys = %v, want %v", got, want)
	}
}
