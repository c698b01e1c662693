package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store/sqlite"
)

// TestCancelPipelineCancelsCreatedJobs: canceling a pipeline cancels its
// later-stage created jobs too, as GitLab's CancelPipelineService does (it
// cancels every cancelable status, then processes); they must not end up
// skipped because the first stage turned canceled midway.
func TestCancelPipelineCancelsCreatedJobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "gantry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs := blob.FS{Root: filepath.Join(dir, "blobs")}
	eng := pipeline.New(st, blobs, pipeline.Config{ExternalURL: "http://gantry.test", ReposDir: filepath.Join(dir, "repos")},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	proj := &ci.Project{Namespace: "grp", Path: "demo", Name: "demo", Visibility: ci.VisibilityPrivate, DefaultBranch: "main"}
	if err := st.CreateProject(ctx, proj); err != nil {
		t.Fatal(err)
	}
	job := func(name, stage string, idx int, status ci.Status) *ci.Job {
		return &ci.Job{Name: name, Stage: stage, StageIdx: idx, Status: status, Ref: "main", When: ci.WhenOnSuccess,
			Definition: []byte(`{"name":"` + name + `","stage":"` + stage + `","script":["true"]}`)}
	}
	pl := &ci.Pipeline{ProjectID: proj.ID, Ref: "main", SHA: "9fceb02d0ae598e95dc970b74767f19372d61af8", Source: "push",
		Status: ci.StatusRunning}
	jobs := []*ci.Job{job("a1", "a", 0, ci.StatusRunning), job("a2", "a", 0, ci.StatusPending), job("next", "b", 1, ci.StatusCreated)}
	if err := st.CreatePipeline(ctx, pl, jobs); err != nil {
		t.Fatal(err)
	}
	got, err := eng.CancelPipeline(ctx, pl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ci.StatusCanceled {
		t.Errorf("pipeline status %s, want canceled", got.Status)
	}
	after, err := st.PipelineJobs(ctx, pl.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range after {
		if j.Status != ci.StatusCanceled {
			t.Errorf("job %s: %s, want canceled", j.Name, j.Status)
		}
	}
}
