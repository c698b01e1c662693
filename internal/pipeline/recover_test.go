package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/testkit"
)

// TestSweepRecoversUnprocessedPipelines: a coordinator that dies between
// storing a job's change and processing its pipeline (kill -9, power loss)
// leaves the pipeline marked dirty; the sweeper finishes the processing, so
// later stages start, a finished child pipeline's bridge follows it, and a
// bridge made pending but never triggered gets its downstream pipeline.
func TestSweepRecoversUnprocessedPipelines(t *testing.T) {
	testkit.ForEachDB(t, testSweepRecoversUnprocessedPipelines)
}

func testSweepRecoversUnprocessedPipelines(t *testing.T, db testkit.DB) {
	const child = "c:\n  script: echo child\n"
	for _, tc := range []struct {
		name   string
		config string
		// crash applies job changes without processing, as a coordinator
		// that dies right after committing them.
		// It returns the pipeline it changed.
		crash func(t *testing.T, jobs jobSet) jobSet
		// want is the pipeline's status and its jobs' by name after a sweep.
		want     ci.Status
		wantJobs map[string]ci.Status
		// wantChild is the status of the downstream pipeline, if any.
		wantChild ci.Status
	}{
		{
			name:   "next stage starts",
			config: "stages: [build, test]\na:\n  stage: build\n  script: echo a\nb:\n  stage: test\n  script: echo b\n",
			crash: func(t *testing.T, jobs jobSet) jobSet {
				jobs.move(t, "a", ci.StatusRunning, ci.StatusSuccess)
				return jobs
			},
			want: ci.StatusRunning, wantJobs: map[string]ci.Status{"a": ci.StatusSuccess, "b": ci.StatusPending},
		},
		{
			name:   "last job finishes the pipeline",
			config: "a:\n  script: echo a\n",
			crash: func(t *testing.T, jobs jobSet) jobSet {
				jobs.move(t, "a", ci.StatusRunning, ci.StatusFailed)
				return jobs
			},
			want: ci.StatusFailed, wantJobs: map[string]ci.Status{"a": ci.StatusFailed},
		},
		{
			name:   "dependent bridge follows its finished child",
			config: "child:\n  trigger:\n    include: child.yml\n    strategy: depend\n",
			crash: func(t *testing.T, jobs jobSet) jobSet {
				c := jobs.child(t)
				c.move(t, "c", ci.StatusRunning, ci.StatusSuccess)
				return c
			},
			want: ci.StatusSuccess, wantJobs: map[string]ci.Status{"child": ci.StatusSuccess}, wantChild: ci.StatusSuccess,
		},
		{
			name:   "pending bridge is triggered",
			config: "stages: [build, deploy]\na:\n  stage: build\n  script: echo a\nchild:\n  stage: deploy\n  trigger:\n    include: child.yml\n    strategy: depend\n",
			crash: func(t *testing.T, jobs jobSet) jobSet {
				jobs.move(t, "a", ci.StatusRunning, ci.StatusSuccess)
				jobs.move(t, "child", ci.StatusPending) // processing's write, then death before triggering
				return jobs
			},
			want: ci.StatusRunning, wantJobs: map[string]ci.Status{"a": ci.StatusSuccess, "child": ci.StatusRunning},
			wantChild: ci.StatusPending,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, st := newEngineWithRepo(t, db)
			ctx := context.Background()
			e.work.Write(map[string]string{"child.yml": child})
			p := e.push(tc.config)
			crashed := tc.crash(t, jobSet{st: st, pipeline: p.ID})
			// Before the grace period the sweeper leaves the pipeline to
			// the coordinator processing it.
			e.eng.SweepOnce(ctx, pipeline.SweepConfig{Interval: time.Hour})
			if got, _ := st.PipelineByID(ctx, crashed.pipeline); got.Dirty == 0 {
				t.Fatalf("pipeline not marked dirty after unprocessed job changes")
			}
			// Two minutes later (past the bridge grace too) it recovers it.
			e.eng.Now = func() time.Time { return time.Now().UTC().Add(2 * time.Minute) }
			e.eng.SweepOnce(ctx, pipeline.SweepConfig{Interval: time.Second})

			got, err := st.PipelineByID(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.want || got.Dirty != 0 {
				t.Errorf("pipeline %s dirty %d, want %s dirty 0", got.Status, got.Dirty, tc.want)
			}
			jobs := jobSet{st: st, pipeline: p.ID}
			for name, want := range tc.wantJobs {
				if j := jobs.get(t, name); j.Status != want {
					t.Errorf("job %s: %s, want %s", name, j.Status, want)
				}
			}
			if tc.wantChild != "" {
				c, err := st.PipelineByID(ctx, jobs.child(t).pipeline)
				if err != nil {
					t.Fatal(err)
				}
				if c.Status != tc.wantChild || c.Dirty != 0 {
					t.Errorf("child pipeline %s dirty %d, want %s dirty 0", c.Status, c.Dirty, tc.wantChild)
				}
			}
		})
	}
}

// jobSet reaches the jobs of one pipeline by name.
type jobSet struct {
	st       store.Store
	pipeline int64
}

func (s jobSet) get(t *testing.T, name string) *ci.Job {
	t.Helper()
	jobs, err := s.st.PipelineJobs(context.Background(), s.pipeline)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Name == name && !j.Retried {
			return j
		}
	}
	t.Fatalf("pipeline %d has no job %s", s.pipeline, name)
	return nil
}

// move stores a job's successive statuses, without processing.
func (s jobSet) move(t *testing.T, name string, through ...ci.Status) {
	t.Helper()
	j := s.get(t, name)
	for _, to := range through {
		from := j.Status
		now := time.Now().UTC()
		j.Status = to
		if to.Complete() {
			j.FinishedAt = &now
		}
		if err := s.st.UpdateJob(context.Background(), j, from); err != nil {
			t.Fatalf("%s %s → %s: %v", name, from, to, err)
		}
	}
}

// child is the downstream pipeline of the pipeline's bridge "child".
func (s jobSet) child(t *testing.T) jobSet {
	t.Helper()
	b := s.get(t, "child")
	if b.DownstreamPipelineID == 0 {
		t.Fatalf("bridge child (%s) has no downstream pipeline", b.Status)
	}
	return jobSet{st: s.st, pipeline: b.DownstreamPipelineID}
}

// TestConcurrentFinishesAreProcessed: fifty runners reporting the fifty
// jobs of a stage at once share processing runs, and each report returns
// only once a run that started after it has finished: when the last one
// returns, the next stage is already pending and the mark is cleared.
func TestConcurrentFinishesAreProcessed(t *testing.T) {
	testkit.ForEachDB(t, testConcurrentFinishesAreProcessed)
}

func testConcurrentFinishesAreProcessed(t *testing.T, db testkit.DB) {
	e, st := newEngineWithRepo(t, db)
	ctx := context.Background()
	config := "stages: [build, test]\nb:\n  stage: build\n  parallel: 50\n  script: echo b\nt:\n  stage: test\n  script: echo t\n"
	p := e.push(config)
	jobs, err := st.PipelineJobs(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var builds []*ci.Job
	for _, j := range jobs {
		if j.Stage == "build" {
			now := time.Now().UTC()
			j.Status, j.StartedAt = ci.StatusRunning, &now
			if err := st.UpdateJob(ctx, j, ci.StatusPending); err != nil {
				t.Fatal(err)
			}
			builds = append(builds, j)
		}
	}
	if len(builds) != 50 {
		t.Fatalf("%d build jobs, want 50", len(builds))
	}
	errs := make(chan error, len(builds))
	for _, j := range builds {
		go func() { errs <- e.eng.Finish(ctx, j, true, "", nil) }()
	}
	for range builds {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	set := jobSet{st: st, pipeline: p.ID}
	if j := set.get(t, "t"); j.Status != ci.StatusPending {
		t.Errorf("next stage job t: %s, want pending", j.Status)
	}
	got, err := st.PipelineByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ci.StatusRunning || got.Dirty != 0 {
		t.Errorf("pipeline %s dirty %d, want running dirty 0", got.Status, got.Dirty)
	}
}
