package runnerapi

import (
	"bytes"
	"encoding/json"
	"github.com/gantryci/gantry/internal/testkit"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
)

// The gitlab-runner job types (common/spec/spec.go in gitlab-runner;
// docs/runner-protocol.md, "Job request payload"), with their exact Go
// types: if the payload decodes into these, the runner decodes it too.
type glrJob struct {
	ID            int64           `json:"id"`
	Token         string          `json:"token"`
	AllowGitFetch bool            `json:"allow_git_fetch"`
	JobInfo       glrJobInfo      `json:"job_info"`
	GitInfo       glrGitInfo      `json:"git_info"`
	RunnerInfo    glrRunnerInfo   `json:"runner_info"`
	Variables     []glrVariable   `json:"variables"`
	Steps         []glrStep       `json:"steps"`
	Image         glrImage        `json:"image"`
	Services      []glrImage      `json:"services"`
	Artifacts     []glrArtifact   `json:"artifacts"`
	Cache         []glrCache      `json:"cache"`
	Credentials   []glrCredential `json:"credentials"`
	Dependencies  []glrDependency `json:"dependencies"`
	Features      glrFeatures     `json:"features"`
	Hooks         []glrHook       `json:"hooks"`
	Run           glrRun          `json:"run"`
}

type glrJobInfo struct {
	Name                                     string  `json:"name"`
	Stage                                    string  `json:"stage"`
	ProjectID                                int64   `json:"project_id"`
	ProjectName                              string  `json:"project_name"`
	ProjectFullPath                          string  `json:"project_full_path"`
	TimeInQueueSeconds                       float64 `json:"time_in_queue_seconds"`
	ProjectJobsRunningOnInstanceRunnersCount string  `json:"project_jobs_running_on_instance_runners_count"`
}

type glrGitInfo struct {
	RepoURL          string   `json:"repo_url"`
	RepoObjectFormat string   `json:"repo_object_format"`
	Ref              string   `json:"ref"`
	Sha              string   `json:"sha"`
	BeforeSha        string   `json:"before_sha"`
	RefType          string   `json:"ref_type"`
	Refspecs         []string `json:"refspecs"`
	Depth            int      `json:"depth"`
	Protected        *bool    `json:"protected"`
}

type glrRunnerInfo struct {
	Timeout int `json:"timeout"`
}

type glrVariable struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Public   bool   `json:"public"`
	Internal bool   `json:"-"`
	File     bool   `json:"file"`
	Masked   bool   `json:"masked"`
	Raw      bool   `json:"raw"`
}

type glrStep struct {
	Name         string   `json:"name"`
	Script       []string `json:"script"`
	Timeout      int      `json:"timeout"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
}

type glrPort struct {
	Number   int    `json:"number"`
	Protocol string `json:"protocol"`
	Name     string `json:"name"`
}

type glrImage struct {
	Name         string        `json:"name"`
	Alias        string        `json:"alias"`
	Command      []string      `json:"command"`
	Entrypoint   []string      `json:"entrypoint"`
	Ports        []glrPort     `json:"ports"`
	Variables    []glrVariable `json:"variables"`
	PullPolicies []string      `json:"pull_policy"`
	ExecutorOpts struct {
		Docker struct {
			Platform string `json:"platform"`
			User     string `json:"user"`
		} `json:"docker"`
		Kubernetes struct {
			User string `json:"user"`
		} `json:"kubernetes"`
	} `json:"executor_opts"`
}

type glrArtifact struct {
	Name      string   `json:"name"`
	Untracked bool     `json:"untracked"`
	Paths     []string `json:"paths"`
	Exclude   []string `json:"exclude"`
	When      string   `json:"when"`
	Type      string   `json:"artifact_type"`
	Format    string   `json:"artifact_format"`
	ExpireIn  string   `json:"expire_in"`
}

type glrCache struct {
	Key          string   `json:"key"`
	Untracked    bool     `json:"untracked"`
	Policy       string   `json:"policy"`
	Paths        []string `json:"paths"`
	When         string   `json:"when"`
	FallbackKeys []string `json:"fallback_keys"`
}

type glrCredential struct {
	Type     string `json:"type"`
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

type glrDependency struct {
	ID            int64  `json:"id"`
	Token         string `json:"token"`
	Name          string `json:"name"`
	ArtifactsFile struct {
		Filename string `json:"filename"`
		Size     int64  `json:"size"`
	} `json:"artifacts_file"`
}

type glrFeatures struct {
	TraceSections     bool     `json:"trace_sections"`
	TokenMaskPrefixes []string `json:"token_mask_prefixes"`
	FailureReasons    []string `json:"failure_reasons"`
}

type glrHook struct {
	Name   string   `json:"name"`
	Script []string `json:"script"`
}

// glrRun mirrors spec.Run: null or "" fail the decode, as in the runner.
type glrRun string

func (r *glrRun) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		return json.Unmarshal([]byte(s), new(any))
	}
	*r = glrRun(s)
	return nil
}

// decodeStrict decodes like the runner does and also refuses JSON nulls
// for slices the runner ranges over, to keep the payload tidy.
func decodeStrict(t *testing.T, body []byte) (*glrJob, map[string]json.RawMessage) {
	t.Helper()
	var j glrJob
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&j); err != nil {
		t.Fatalf("gitlab-runner would drop this payload: %v\n%s", err, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	return &j, raw
}

func TestPayloadDecodesAsGitlabRunner(t *testing.T) {
	testkit.ForEachDB(t, testPayloadDecodesAsGitlabRunner)
}

func testPayloadDecodesAsGitlabRunner(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	if err := e.st.SetProjectVariable(e.ctx, &ci.ProjectVariable{ProjectID: e.proj.ID, Key: "EMPTY_SECRET", Masked: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetProjectVariable(e.ctx, &ci.ProjectVariable{ProjectID: e.proj.ID, Key: "SECRET", Value: "hunter2hunter2", Masked: true}); err != nil {
		t.Fatal(err)
	}
	token, _ := e.runner(nil)
	pl, jobs := e.pipeline(&ci.Pipeline{BeforeSHA: strings.Repeat("1", 40)},
		jobSpec{name: "build", stageIdx: 1, status: ci.StatusSuccess, def: ciconfig.Job{Stage: "build"}},
		jobSpec{name: "lint", stageIdx: 1, status: ci.StatusSuccess, def: ciconfig.Job{Stage: "build"}},
		jobSpec{name: "test", stageIdx: 2, def: ciconfig.Job{
			Stage:        "test",
			BeforeScript: []string{"echo before"},
			Script:       []string{"echo hello", "ls"},
			AfterScript:  []string{"echo bye"},
			Timeout:      600,
			Variables:    []ciconfig.Variable{{Key: "FF_USE_TIMESTAMPS", Value: "false"}},
			Artifacts: &ciconfig.Artifacts{Name: "out", Paths: []string{"out.txt"}, Exclude: []string{"*.tmp"},
				ExpireIn: "1 day", Reports: map[string][]string{"junit": {"report.xml"}}},
			Cache: []ciconfig.Cache{{Key: "deps", Paths: []string{"vendor/"}}, {Key: "shared", Unprotect: true, Policy: "pull"}},
			Hooks: &ciconfig.Hooks{PreGetSourcesScript: []string{"echo pre"}},
		}},
	)
	// build has a live archive, lint an expired one: only build is a dependency.
	past := time.Now().Add(-time.Hour)
	for _, a := range []*ci.Artifact{
		{JobID: jobs[0].ID, ProjectID: e.proj.ID, FileType: "archive", FileFormat: "zip", Filename: "artifacts.zip", Size: 42, BlobKey: "k1"},
		{JobID: jobs[1].ID, ProjectID: e.proj.ID, FileType: "archive", FileFormat: "zip", Filename: "artifacts.zip", Size: 7, BlobKey: "k2", ExpireAt: &past},
	} {
		if err := e.st.CreateArtifact(e.ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := e.request(token)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	j, raw := decodeStrict(t, body)
	for _, k := range []string{"run", "image", "services"} {
		if _, ok := raw[k]; ok {
			t.Errorf("payload has %q: %s", k, raw[k])
		}
	}

	checks := []struct {
		name string
		ok   bool
	}{
		{"id", j.ID == jobs[2].ID},
		{"token prefix", strings.HasPrefix(j.Token, "glcbt-")},
		{"allow_git_fetch", j.AllowGitFetch},
		{"job_info", j.JobInfo.Name == "test" && j.JobInfo.Stage == "test" && j.JobInfo.ProjectID == e.proj.ID &&
			j.JobInfo.ProjectName == "demo" && j.JobInfo.ProjectFullPath == "grp/demo"},
		{"sha", j.GitInfo.Sha == testSHA && j.GitInfo.BeforeSha == strings.Repeat("1", 40)},
		{"ref", j.GitInfo.Ref == "main" && j.GitInfo.RefType == "branch"},
		{"refspecs", slices.Equal(j.GitInfo.Refspecs, []string{
			"+refs/pipelines/" + itoa64(pl.ID) + ":refs/pipelines/" + itoa64(pl.ID),
			"+refs/heads/main:refs/remotes/origin/main"})},
		{"depth", j.GitInfo.Depth == 20},
		{"protected", j.GitInfo.Protected != nil && !*j.GitInfo.Protected},
		{"timeout", j.RunnerInfo.Timeout == 600},
		{"steps", len(j.Steps) == 2 &&
			j.Steps[0].Name == "script" && slices.Equal(j.Steps[0].Script, []string{"echo before", "echo hello", "ls"}) &&
			j.Steps[0].When == "on_success" && !j.Steps[0].AllowFailure && j.Steps[0].Timeout == 600 &&
			j.Steps[1].Name == "after_script" && slices.Equal(j.Steps[1].Script, []string{"echo bye"}) &&
			j.Steps[1].When == "always" && j.Steps[1].AllowFailure},
		{"artifacts", len(j.Artifacts) == 2 &&
			j.Artifacts[0].Type == "archive" && j.Artifacts[0].Format == "zip" && j.Artifacts[0].Name == "out" &&
			slices.Equal(j.Artifacts[0].Paths, []string{"out.txt"}) && slices.Equal(j.Artifacts[0].Exclude, []string{"*.tmp"}) &&
			j.Artifacts[0].When == "on_success" && j.Artifacts[0].ExpireIn == "1 day" &&
			j.Artifacts[1].Type == "junit" && j.Artifacts[1].Format == "gzip" && j.Artifacts[1].When == "always" &&
			slices.Equal(j.Artifacts[1].Paths, []string{"report.xml"})},
		{"cache", len(j.Cache) == 2 && j.Cache[0].Key == "deps-non_protected" && j.Cache[0].Policy == "pull-push" &&
			j.Cache[0].When == "on_success" && j.Cache[1].Key == "shared" && j.Cache[1].Policy == "pull"},
		{"dependencies", len(j.Dependencies) == 1 && j.Dependencies[0].ID == jobs[0].ID && j.Dependencies[0].Name == "build" &&
			j.Dependencies[0].Token == j.Token && j.Dependencies[0].ArtifactsFile.Filename == "artifacts.zip" &&
			j.Dependencies[0].ArtifactsFile.Size == 42},
		{"hooks", len(j.Hooks) == 1 && j.Hooks[0].Name == "pre_get_sources_script" && slices.Equal(j.Hooks[0].Script, []string{"echo pre"})},
		{"features", j.Features.TraceSections && slices.Equal(j.Features.FailureReasons, ci.FailureReasons)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s wrong in payload:\n%s", c.name, body)
		}
	}

	u, err := url.Parse(j.GitInfo.RepoURL)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); u.User.Username() != "gitlab-ci-token" || pw != j.Token || u.Path != "/grp/demo.git" {
		t.Errorf("repo_url = %s", j.GitInfo.RepoURL)
	}
	vars := map[string]glrVariable{}
	for _, v := range j.Variables {
		vars[v.Key] = v
		if v.Masked && v.Value == "" {
			t.Errorf("variable %s is masked with an empty value (crashes gitlab-runner 14.10)", v.Key)
		}
	}
	for k, want := range map[string]string{"CI": "true", "CI_JOB_ID": itoa64(j.ID), "CI_JOB_TOKEN": j.Token,
		"CI_COMMIT_SHA": testSHA, "CI_PROJECT_PATH": "grp/demo", "FF_USE_TIMESTAMPS": "false", "SECRET": "hunter2hunter2"} {
		if vars[k].Value != want {
			t.Errorf("variable %s = %q, want %q", k, vars[k].Value, want)
		}
	}
	if !vars["CI_JOB_TOKEN"].Masked || !vars["SECRET"].Masked {
		t.Error("job token or secret not masked")
	}
	if _, ok := vars["EMPTY_SECRET"]; !ok {
		t.Error("empty variable dropped instead of unmasked")
	}
}

func TestPayloadVariants(t *testing.T) { testkit.ForEachDB(t, testPayloadVariants) }

func testPayloadVariants(t *testing.T, db testkit.DB) {
	tests := []struct {
		name  string
		pl    *ci.Pipeline
		specs []jobSpec
		check func(t *testing.T, j *glrJob, raw map[string]json.RawMessage)
	}{
		{name: "tag and GIT_DEPTH", pl: &ci.Pipeline{Ref: "v1.0", Tag: true},
			specs: []jobSpec{{name: "a", def: ciconfig.Job{Variables: []ciconfig.Variable{{Key: "GIT_DEPTH", Value: "3"}}}}},
			check: func(t *testing.T, j *glrJob, _ map[string]json.RawMessage) {
				if j.GitInfo.RefType != "tag" || j.GitInfo.Depth != 3 || j.GitInfo.Refspecs[1] != "+refs/tags/v1.0:refs/tags/v1.0" {
					t.Errorf("git_info = %+v", j.GitInfo)
				}
				if j.GitInfo.BeforeSha != strings.Repeat("0", 40) {
					t.Errorf("before_sha = %q", j.GitInfo.BeforeSha)
				}
			}},
		{name: "full clone", specs: []jobSpec{{name: "a", def: ciconfig.Job{Variables: []ciconfig.Variable{{Key: "GIT_DEPTH", Value: "0"}}}}},
			check: func(t *testing.T, j *glrJob, _ map[string]json.RawMessage) {
				if j.GitInfo.Depth != 0 || len(j.GitInfo.Refspecs) != 3 {
					t.Errorf("git_info = %+v", j.GitInfo)
				}
			}},
		{name: "image and services are objects",
			specs: []jobSpec{{name: "a", def: ciconfig.Job{Image: &ciconfig.Image{Name: "golang:1.26", Entrypoint: []string{""},
				Docker: map[string]string{"platform": "arm64", "user": "1000"}},
				Services: []ciconfig.Image{{Name: "postgres:16", Alias: "db", Kubernetes: map[string]string{"user": "999"}}}}}},
			check: func(t *testing.T, j *glrJob, raw map[string]json.RawMessage) {
				if j.Image.Name != "golang:1.26" || len(j.Services) != 1 || j.Services[0].Alias != "db" ||
					j.Image.ExecutorOpts.Docker.Platform != "arm64" || j.Image.ExecutorOpts.Docker.User != "1000" ||
					j.Services[0].ExecutorOpts.Kubernetes.User != "999" {
					t.Errorf("image %+v services %+v", j.Image, j.Services)
				}
				if !bytes.HasPrefix(raw["image"], []byte("{")) || !bytes.HasPrefix(raw["services"], []byte("[{")) {
					t.Errorf("image %s services %s", raw["image"], raw["services"])
				}
			}},
		{name: "needs pick dependencies",
			specs: []jobSpec{
				{name: "one", status: ci.StatusSuccess}, {name: "two", status: ci.StatusSuccess},
				{name: "a", stageIdx: 1, def: ciconfig.Job{Needs: []ciconfig.Need{{Job: "one", Artifacts: false}, {Job: "two", Artifacts: true}}}},
			},
			check: func(t *testing.T, j *glrJob, _ map[string]json.RawMessage) {
				if len(j.Dependencies) != 1 || j.Dependencies[0].Name != "two" {
					t.Errorf("dependencies = %+v", j.Dependencies)
				}
			}},
		{name: "dependencies list wins",
			specs: []jobSpec{
				{name: "one", status: ci.StatusSuccess}, {name: "two", status: ci.StatusSuccess},
				{name: "a", stageIdx: 1, def: ciconfig.Job{Dependencies: []string{"one"}}},
			},
			check: func(t *testing.T, j *glrJob, _ map[string]json.RawMessage) {
				if len(j.Dependencies) != 1 || j.Dependencies[0].Name != "one" {
					t.Errorf("dependencies = %+v", j.Dependencies)
				}
			}},
		{name: "empty dependencies list",
			specs: []jobSpec{{name: "one", status: ci.StatusSuccess}, {name: "a", stageIdx: 1, def: ciconfig.Job{Dependencies: []string{}}}},
			check: func(t *testing.T, j *glrJob, raw map[string]json.RawMessage) {
				if len(j.Dependencies) != 0 || string(raw["dependencies"]) != "[]" {
					t.Errorf("dependencies = %s", raw["dependencies"])
				}
			}},
		{name: "no artifacts or cache", specs: []jobSpec{{name: "a"}},
			check: func(t *testing.T, j *glrJob, raw map[string]json.RawMessage) {
				if string(raw["artifacts"]) != "[]" || string(raw["cache"]) != "[]" || len(j.Steps) != 1 {
					t.Errorf("artifacts %s cache %s steps %+v", raw["artifacts"], raw["cache"], j.Steps)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, db)
			token, _ := e.runner(nil)
			_, jobs := e.pipeline(tt.pl, tt.specs...)
			for _, j := range jobs {
				if j.Status == ci.StatusSuccess {
					if err := e.st.CreateArtifact(e.ctx, &ci.Artifact{JobID: j.ID, ProjectID: e.proj.ID, FileType: "archive",
						FileFormat: "zip", Filename: "artifacts.zip", Size: 1, BlobKey: "x"}); err != nil {
						t.Fatal(err)
					}
				}
			}
			resp, body := e.request(token)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d %s", resp.StatusCode, body)
			}
			j, raw := decodeStrict(t, body)
			tt.check(t, j, raw)
		})
	}
}

func itoa64(i int64) string {
	b, _ := json.Marshal(i)
	return string(b)
}
