package runnerapi

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
)

// TestRealGitlabRunner runs an unmodified gitlab-runner binary (shell
// executor, GIT_STRATEGY=none so no git server is needed) through two jobs:
// one uploads an archive, the next downloads it as a dependency. Set
// GANTRY_GITLAB_RUNNER to the binary, e.g. /tmp/glr/gitlab-runner.
func TestRealGitlabRunner(t *testing.T) {
	bin := os.Getenv("GANTRY_GITLAB_RUNNER")
	if bin == "" {
		t.Skip("GANTRY_GITLAB_RUNNER not set")
	}
	e := newEnv(t, func(c *Config) { c.LongPoll = 2 * time.Second })
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
