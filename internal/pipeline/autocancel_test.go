package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/sqlite"
)

// engineWithRepo is an engine over a real SQLite file and a project whose
// bare repository receives commits from commit().
type engineWithRepo struct {
	t    *testing.T
	eng  *pipeline.Service
	st   store.Store
	proj *ci.Project
	work string
}

// newEngine is an engine over a real SQLite file with one private project.
func newEngine(t *testing.T) (*pipeline.Service, store.Store, *ci.Project) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gantry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, proj := newEngineOn(t, st)
	return eng, st, proj
}

// newEngineOn is an engine over st with one private project.
func newEngineOn(t *testing.T, st store.Store) (*pipeline.Service, *ci.Project) {
	ctx := context.Background()
	dir := t.TempDir()
	eng := pipeline.New(st, blob.FS{Root: filepath.Join(dir, "blobs")},
		pipeline.Config{ExternalURL: "http://gantry.test", ReposDir: filepath.Join(dir, "repos")},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	proj := &ci.Project{Namespace: "grp", Path: "demo", Name: "demo", Visibility: ci.VisibilityPrivate, DefaultBranch: "main"}
	if err := st.CreateProject(ctx, proj); err != nil {
		t.Fatal(err)
	}
	return eng, proj
}

func newEngineWithRepo(t *testing.T) (*engineWithRepo, store.Store) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gantry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEngineWithRepoOn(t, st), st
}

// newEngineWithRepoOn is newEngineWithRepo over st.
func newEngineWithRepoOn(t *testing.T, st store.Store) *engineWithRepo {
	eng, proj := newEngineOn(t, st)
	if _, err := gitrepo.Init(context.Background(), eng.RepoDir(proj.ID), "main"); err != nil {
		t.Fatal(err)
	}
	e := &engineWithRepo{t: t, eng: eng, st: st, proj: proj, work: t.TempDir()}
	e.git("init", "-q", "-b", "main")
	return e
}

func (e *engineWithRepo) git(args ...string) string {
	e.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@x", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// push commits config and pushes it, creating a push pipeline.
func (e *engineWithRepo) push(config string) *ci.Pipeline {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.work, ".gitlab-ci.yml"), []byte(config), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.git("add", ".")
	e.git("commit", "-q", "--allow-empty", "-m", "c "+time.Now().String())
	e.git("push", "-q", e.eng.RepoDir(e.proj.ID), "main")
	p, err := e.eng.Create(context.Background(), pipeline.CreateRequest{Project: e.proj, Ref: "main", RefKnown: true,
		SHA: e.git("rev-parse", "HEAD"), Source: "push", SaveOnErrors: true})
	if err != nil || p == nil {
		e.t.Fatalf("create: %v %v", p, err)
	}
	return p
}

// TestAutoCancelRedundantPipelines: a new push cancels the older pipeline
// of its branch unless a non-interruptible job of it has started.
func TestAutoCancelRedundantPipelines(t *testing.T) {
	t.Parallel()
	const config = `
safe:
  script: echo safe
  interruptible: true
unsafe:
  script: echo unsafe
`
	for _, tc := range []struct {
		name     string
		start    string // the job of the first pipeline marked started
		canceled bool
	}{
		{"nothing started", "", true},
		{"an interruptible job started", "safe", true},
		{"a non-interruptible job started", "unsafe", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, st := newEngineWithRepo(t)
			ctx := context.Background()
			first := e.push(config)
			if tc.start != "" {
				jobs, _ := st.PipelineJobs(ctx, first.ID)
				for _, j := range jobs {
					if j.Name == tc.start {
						now := time.Now()
						j.Status, j.StartedAt = ci.StatusRunning, &now
						if err := st.UpdateJob(ctx, j, ci.StatusPending); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			e.push(config)
			jobs, _ := st.PipelineJobs(ctx, first.ID)
			for _, j := range jobs {
				if got := j.Status == ci.StatusCanceled; got != tc.canceled {
					t.Errorf("first pipeline's %s: %s (canceled=%v, want %v)", j.Name, j.Status, got, tc.canceled)
				}
			}
		})
	}
}
