package runnerapi

import (
	"context"
	"github.com/gantryci/gantry/internal/testkit"
	"github.com/gantryci/gantry/internal/testkit/gittest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/gitserve"
)

// TestRealGitlabRunner runs an unmodified gitlab-runner binary (shell
// executor, GIT_STRATEGY=none so no git server is needed) through two jobs:
// one uploads an archive, the next downloads it as a dependency. Set
// GANTRY_GITLAB_RUNNER to the binary, e.g. /tmp/glr/gitlab-runner.
func TestRealGitlabRunner(t *testing.T) { testkit.ForEachDB(t, testRealGitlabRunner) }

func testRealGitlabRunner(t *testing.T, db testkit.DB) {
	bin := os.Getenv("GANTRY_GITLAB_RUNNER")
	if bin == "" {
		t.Skip("GANTRY_GITLAB_RUNNER not set")
	}
	e := newEnv(t, db, func(c *Config) { c.LongPoll = 2 * time.Second })
	token, _ := e.runner(nil)
	noGit := []ciconfig.Variable{{Key: "GIT_STRATEGY", Value: "none"}, {Key: "FF_USE_TIMESTAMPS", Value: "false"}}
	_, jobs := e.pipeline(nil,
		jobSpec{name: "build", def: ciconfig.Job{Stage: "build", Variables: noGit,
			Script:      []string{"echo hello from build", "mkdir -p out", "echo payload > out/file.txt"},
			AfterScript: []string{"echo after build"},
			Artifacts:   &ciconfig.Artifacts{Paths: []string{"out/"}, ExpireIn: "1 day"}}},
		jobSpec{name: "test", stageIdx: 1, status: ci.StatusCreated, def: ciconfig.Job{Stage: "test", Variables: noGit,
			Script: []string{"cat out/file.txt", "test \"$(cat out/file.txt)\" = payload"}}},
		jobSpec{name: "fail", stageIdx: 2, status: ci.StatusCreated, def: ciconfig.Job{Stage: "deploy", Variables: noGit,
			Script: []string{"echo failing", "exit 3"}}},
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run-single", "--url", e.srv.URL, "--token", token, "--executor", "shell",
		"--shell", "bash", "--builds-dir", filepath.Join(dir, "builds"), "--cache-dir", filepath.Join(dir, "cache"),
		"--max-builds", "3", "--wait-timeout", "20")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CI_SERVER_URL=", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if testing.Verbose() || err != nil {
		t.Logf("gitlab-runner output:\n%s", out)
	}
	if err != nil {
		t.Fatalf("gitlab-runner: %v", err)
	}
	want := []struct {
		status ci.Status
		log    []string
	}{
		{ci.StatusSuccess, []string{"hello from build", "after build", "Uploading artifacts"}},
		{ci.StatusSuccess, []string{"payload", "Downloading artifacts"}},
		{ci.StatusFailed, []string{"failing"}},
	}
	for i, w := range want {
		j := e.job(jobs[i].ID)
		if j.Status != w.status {
			t.Errorf("job %s: status %s (%s), want %s", j.Name, j.Status, j.FailureReason, w.status)
		}
		arts, _ := e.st.ArtifactsByJobIDs(e.ctx, []int64{j.ID})
		var log string
		for _, a := range arts[j.ID] {
			if a.FileType == "trace" {
				f, err := e.api.blobs.Open(e.ctx, a.BlobKey)
				if err == nil {
					b := make([]byte, a.Size)
					_, _ = f.ReadAt(b, 0)
					f.Close()
					log = string(b)
				}
			}
		}
		for _, s := range w.log {
			if !strings.Contains(log, s) {
				t.Errorf("job %s log lacks %q:\n%s", j.Name, s, log)
			}
		}
	}
	if j := e.job(jobs[2].ID); j.FailureReason != ci.FailureScript || j.ExitCode == nil || *j.ExitCode != 3 {
		t.Errorf("failing job: reason %q exit %v", j.FailureReason, j.ExitCode)
	}
}

// TestRealGitlabRunnerGit runs an unmodified gitlab-runner through a real
// git fetch: repo_url carries gitlab-ci-token:<job token>, served by
// gitserve from a bare repository holding refs/pipelines/<id>. The build
// job checks the commit and leaves a dotenv report and an archive; the
// next job gets both. Gated on GANTRY_GITLAB_RUNNER like the test above.
func TestRealGitlabRunnerGit(t *testing.T) { testkit.ForEachDB(t, testRealGitlabRunnerGit) }

func testRealGitlabRunnerGit(t *testing.T, db testkit.DB) {
	bin := os.Getenv("GANTRY_GITLAB_RUNNER")
	if bin == "" {
		t.Skip("GANTRY_GITLAB_RUNNER not set")
	}
	e := newEnv(t, db, func(c *Config) { c.LongPoll = 2 * time.Second })
	dir := t.TempDir()
	// gitlab-runner runs git itself, with this environment.
	gitEnv := append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com")
	repo, err := gitrepo.Init(e.ctx, e.eng.RepoDir(e.proj.ID), "main")
	if err != nil {
		t.Fatal(err)
	}
	work := gittest.NewWork(t, "HOME="+dir)
	work.Write(map[string]string{"hello.txt": "hello from the repo\n"})
	sha := work.Commit("first commit")
	work.Git("push", "-q", repo.Dir, "main")

	gs := gitserve.New(gitserve.Config{Logger: e.api.log,
		Resolve: func(ctx context.Context, fullPath string, access gitserve.Access, user, pass string, ok bool) (gitserve.Target, error) {
			if fullPath != e.proj.FullPath() {
				return gitserve.Target{}, gitserve.ErrNotFound
			}
			if !ok || user != "gitlab-ci-token" {
				return gitserve.Target{}, gitserve.ErrUnauthorized
			}
			j, err := e.st.JobByTokenDigest(ctx, auth.Digest(pass))
			if err != nil || !j.Status.Executing() || access != gitserve.Read {
				return gitserve.Target{}, gitserve.ErrForbidden
			}
			return gitserve.Target{ProjectID: e.proj.ID, RepoDir: repo.Dir}, nil
		}})
	api := e.srv.Handler()
	e.srv.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") && gitserve.IsGitPath(r.URL.Path) {
			gs.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))

	if err := e.st.SetProjectVariable(e.ctx, &ci.ProjectVariable{ProjectID: e.proj.ID, Key: "SECRET", Value: "s3cr3t-value-42", Masked: true}); err != nil {
		t.Fatal(err)
	}
	token, _ := e.runner(nil)
	plain := []ciconfig.Variable{{Key: "FF_USE_TIMESTAMPS", Value: "false"}}
	pl, jobs := e.pipeline(&ci.Pipeline{SHA: sha},
		jobSpec{name: "build", def: ciconfig.Job{Stage: "build", Variables: plain,
			Script: []string{"git log -1 --format=commit=%H", "cat hello.txt", "echo secret=$SECRET",
				"mkdir -p out", "echo payload > out/file.txt", "echo VERSION=1.2.3 > build.env"},
			Artifacts: &ciconfig.Artifacts{Paths: []string{"out/"}, Reports: map[string][]string{"dotenv": {"build.env"}}}}},
		jobSpec{name: "test", stageIdx: 1, status: ci.StatusCreated, def: ciconfig.Job{Stage: "test", Variables: plain,
			Script: []string{"echo version=$VERSION", "test \"$VERSION\" = 1.2.3", "test \"$(cat out/file.txt)\" = payload",
				"test \"$(git rev-parse HEAD)\" = " + sha}}},
	)
	if err := repo.UpdateRef(e.ctx, "refs/pipelines/"+strconv.FormatInt(pl.ID, 10), sha); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run-single", "--url", e.srv.URL, "--token", token, "--executor", "shell",
		"--shell", "bash", "--builds-dir", filepath.Join(dir, "builds"), "--cache-dir", filepath.Join(dir, "cache"),
		"--max-builds", "2", "--wait-timeout", "20")
	cmd.Dir = dir
	cmd.Env = append(gitEnv, "CI_SERVER_URL=")
	out, err := cmd.CombinedOutput()
	if testing.Verbose() || err != nil {
		t.Logf("gitlab-runner output:\n%s", out)
	}
	if err != nil {
		t.Fatalf("gitlab-runner: %v", err)
	}
	want := [][]string{
		{"commit=" + sha, "hello from the repo", "secret=[MASKED]", `Uploading artifacts as "dotenv"`},
		{"version=1.2.3", "Downloading artifacts"},
	}
	for i, w := range want {
		j := e.job(jobs[i].ID)
		log := e.traceOf(j.ID)
		if j.Status != ci.StatusSuccess {
			t.Errorf("job %s: status %s (%s), want success\n%s", j.Name, j.Status, j.FailureReason, log)
		}
		for _, s := range w {
			if !strings.Contains(log, s) {
				t.Errorf("job %s log lacks %q:\n%s", j.Name, s, log)
			}
		}
		if strings.Contains(log, "s3cr3t-value-42") {
			t.Errorf("job %s log shows the masked value", j.Name)
		}
	}
}

// traceOf reads a finished job's archived log.
func (e *env) traceOf(id int64) string {
	e.t.Helper()
	arts, err := e.st.ArtifactsByJobIDs(e.ctx, []int64{id})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range arts[id] {
		if a.FileType != "trace" {
			continue
		}
		f, err := e.api.blobs.Open(e.ctx, a.BlobKey)
		if err != nil {
			e.t.Fatal(err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			e.t.Fatal(err)
		}
		return string(b)
	}
	return ""
}
