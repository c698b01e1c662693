package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/testkit"
	"github.com/gantryci/gantry/internal/testkit/gittest"
)

// engineWithRepo is an engine with a project whose bare repository
// receives commits from push().
type engineWithRepo struct {
	*testkit.Env
	eng  *pipeline.Service
	proj *ci.Project
	work *gittest.Work
}

// newEngine is an engine over a fresh store on db with one private project.
func newEngine(t *testing.T, db testkit.DB) (*pipeline.Service, store.Store, *ci.Project) {
	e := testkit.NewEnv(t, db, testkit.Options{})
	return e.Engine, e.Store, e.Project(nil)
}

func newEngineWithRepo(t *testing.T, db testkit.DB) (*engineWithRepo, store.Store) {
	env := testkit.NewEnv(t, db, testkit.Options{})
	proj := env.Project(nil)
	if _, err := gitrepo.Init(env.Ctx, env.Engine.RepoDir(proj.ID), "main"); err != nil {
		t.Fatal(err)
	}
	e := &engineWithRepo{Env: env, eng: env.Engine, proj: proj, work: gittest.NewWork(t)}
	return e, env.Store
}

// push commits config and pushes it, creating a push pipeline.
func (e *engineWithRepo) push(config string) *ci.Pipeline {
	e.T.Helper()
	e.work.Write(map[string]string{".gitlab-ci.yml": config})
	sha := e.work.Commit("c " + time.Now().String())
	e.work.Git("push", "-q", e.eng.RepoDir(e.proj.ID), "main")
	p, err := e.eng.Create(context.Background(), pipeline.CreateRequest{Project: e.proj, Ref: "main", RefKnown: true,
		SHA: sha, Source: "push", SaveOnErrors: true})
	if err != nil || p == nil {
		e.T.Fatalf("create: %v %v", p, err)
	}
	return p
}

// TestAutoCancelRedundantPipelines: a new push cancels the older pipeline
// of its branch unless a non-interruptible job of it has started.
func TestAutoCancelRedundantPipelines(t *testing.T) {
	testkit.ForEachDB(t, testAutoCancelRedundantPipelines)
}

func testAutoCancelRedundantPipelines(t *testing.T, db testkit.DB) {
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
			e, st := newEngineWithRepo(t, db)
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

// TestAutoCancelChildPipelines: a new push visits the older pipeline's
// child pipelines too, each by its own workflow:auto_cancel:on_new_commit,
// and canceling a parent's trigger job does not cascade to its child
// (Ci::PipelineCreation::CancelRedundantPipelinesService).
func TestAutoCancelChildPipelines(t *testing.T) {
	testkit.ForEachDB(t, testAutoCancelChildPipelines)
}

func testAutoCancelChildPipelines(t *testing.T, db testkit.DB) {
	for _, tc := range []struct {
		name, parent, child string
		bridgeCanceled      bool
		childCanceled       bool
	}{
		// The trigger job is not interruptible; the child's job is canceled
		// by the child's own conservative setting, and the depending
		// trigger job follows its canceled child.
		{"interruptible parent, conservative child", "interruptible", "conservative", true, true},
		// The parent is canceled (a running trigger job does not count as
		// started), the child stays as its own setting says.
		{"conservative parent, none child", "conservative", "none", true, false},
		{"none parent, interruptible child", "none", "interruptible", true, true},
		{"none parent, none child", "none", "none", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, st := newEngineWithRepo(t, db)
			ctx := context.Background()
			e.work.Write(map[string]string{"child.yml": "workflow:\n  auto_cancel:\n    on_new_commit: " + tc.child +
				"\nchild-job:\n  script: echo child\n  interruptible: true\n"})
			config := "workflow:\n  auto_cancel:\n    on_new_commit: " + tc.parent + "\ntrigger-child:\n  trigger:\n    include: child.yml\n    strategy: depend\n"
			first := e.push(config)
			children, err := st.ListPipelines(ctx, store.PipelineFilter{ProjectID: e.proj.ID, ParentPipelineID: first.ID})
			if err != nil || len(children) != 1 {
				t.Fatalf("child pipelines of the first pipeline: %v %v", children, err)
			}
			e.push(config + "# again\n")
			status := func(pipelineID int64, name string) ci.Status {
				jobs, _ := st.PipelineJobs(ctx, pipelineID)
				for _, j := range jobs {
					if j.Name == name {
						return j.Status
					}
				}
				t.Fatalf("no job %s in pipeline %d", name, pipelineID)
				return ""
			}
			if got := status(first.ID, "trigger-child") == ci.StatusCanceled; got != tc.bridgeCanceled {
				t.Errorf("trigger job: %s, want canceled=%v", status(first.ID, "trigger-child"), tc.bridgeCanceled)
			}
			if got := status(children[0].ID, "child-job") == ci.StatusCanceled; got != tc.childCanceled {
				t.Errorf("child job: %s, want canceled=%v", status(children[0].ID, "child-job"), tc.childCanceled)
			}
		})
	}
}
