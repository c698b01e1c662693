package pipeline_test

import (
	"context"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/testkit"
)

// TestCancelPipelineCancelsCreatedJobs: canceling a pipeline cancels its
// later-stage created jobs too, as GitLab's CancelPipelineService does (it
// cancels every cancelable status, then processes); they must not end up
// skipped because the first stage turned canceled midway.
func TestCancelPipelineCancelsCreatedJobs(t *testing.T) {
	testkit.ForEachDB(t, testCancelPipelineCancelsCreatedJobs)
}

func testCancelPipelineCancelsCreatedJobs(t *testing.T, db testkit.DB) {
	ctx := context.Background()
	eng, st, proj := newEngine(t, db)
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
