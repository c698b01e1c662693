package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var claimTests = []test{
	{"Claim/Rules", testClaimRules},
	{"Claim/PastFirstBatch", testClaimPastFirstBatch},
	{"Claim/Concurrent", testClaimConcurrent},
	{"Claim/UntaggedOnly", testClaimUntaggedOnly},
	{"Claim/MarksPipeline", testClaimMarksPipeline},
}

// testClaimMarksPipeline: a claim is the run transition (status, started_at
// from the machine); it marks a pipeline that is not running yet for
// processing, leaves a running pipeline's mark alone, and moves the
// pipeline's updated_at either way, so that a status computed from the jobs
// before the claim can no longer be stored.
func testClaimMarksPipeline(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	r := mustRunner(t, s, ci.RunnerInstance)
	pl := mustPipeline(t, s, p.ID, "main", newJob("a", ci.StatusPending), newJob("b", ci.StatusPending))
	must(t, s.ClearPipelineDirty(ctx, pl.ID, pl.Dirty), "clear")
	read, err := s.PipelineByID(ctx, pl.ID)
	must(t, err, "read pipeline")
	now := base.Add(time.Hour)
	got, err := s.ClaimJob(ctx, store.Claim{Runner: r, Now: now})
	must(t, err, "claim")
	if got.Status != ci.StatusRunning || got.StartedAt == nil || !got.StartedAt.Equal(now) {
		t.Fatalf("claimed job: status %s started %v", got.Status, got.StartedAt)
	}
	after, err := s.PipelineByID(ctx, pl.ID)
	must(t, err, "read pipeline")
	if after.Dirty != 1 {
		t.Errorf("pending pipeline after a claim: dirty %d, want 1", after.Dirty)
	}
	read.Status = ci.StatusFailed
	wantErr(t, s.UpdatePipeline(ctx, read), store.ErrStale, "status computed before the claim")

	after.Status = ci.StatusRunning
	must(t, s.UpdatePipeline(ctx, after), "pipeline running")
	must(t, s.ClearPipelineDirty(ctx, pl.ID, after.Dirty), "clear")
	_, err = s.ClaimJob(ctx, store.Claim{Runner: r, Now: now})
	must(t, err, "second claim")
	last, err := s.PipelineByID(ctx, pl.ID)
	must(t, err, "read pipeline")
	if last.Dirty != 0 || !last.UpdatedAt.After(after.UpdatedAt) {
		t.Errorf("running pipeline after a claim: dirty %d (want 0), updated_at %v (before %v)", last.Dirty, last.UpdatedAt, after.UpdatedAt)
	}
}

// testClaimUntaggedOnly: with UntaggedOnly, older tagged jobs are skipped
// by the query (Match never sees them) and stay pending; the claimed job
// carries its definition.
func testClaimUntaggedOnly(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	r := mustRunner(t, s, ci.RunnerInstance)
	var jobs []*ci.Job
	for i := range 10 {
		j := newJob(fmt.Sprintf("tagged-%d", i), ci.StatusPending)
		j.Tags = []string{"gpu"}
		jobs = append(jobs, j)
	}
	plain := newJob("plain", ci.StatusPending)
	plain.Definition = []byte(`{"name":"plain"}`)
	mustPipeline(t, s, p.ID, "main", append(jobs, plain)...)
	var asked []string
	got, err := s.ClaimJob(ctx, store.Claim{Runner: r, Now: base, UntaggedOnly: true,
		Match: func(j *ci.Job) bool { asked = append(asked, j.Name); return true }})
	must(t, err, "claim")
	if got.ID != plain.ID || len(asked) != 1 || string(got.Definition) != `{"name":"plain"}` {
		t.Fatalf("claimed %s (definition %q) after asking %v, want plain after [plain]", got.Name, got.Definition, asked)
	}
	_, err = s.ClaimJob(ctx, store.Claim{Runner: r, Now: base, UntaggedOnly: true})
	wantErr(t, err, store.ErrNotFound, "only tagged jobs left")
	left, err := s.CountJobs(ctx, store.JobFilter{ProjectID: p.ID, Statuses: []ci.Status{ci.StatusPending}})
	must(t, err, "count")
	if left != 10 {
		t.Errorf("%d jobs pending, want the 10 tagged ones", left)
	}
}

// runnerSeq numbers fixture runners' token digests.
var runnerSeq atomic.Int64

func mustRunner(t *testing.T, s store.Store, typ string, projects ...int64) *ci.Runner {
	t.Helper()
	r := &ci.Runner{Description: typ, RunnerType: typ, ProjectIDs: projects, RunUntagged: true, CreatedAt: base}
	must(t, s.CreateRunner(ctxOf(t), r, digest("runner-%d", runnerSeq.Add(1))), "create runner")
	return r
}

func testClaimRules(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p1, p2 := mustProject(t, s, "o", "p1", ci.VisibilityPrivate), mustProject(t, s, "o", "p2", ci.VisibilityPrivate)
	shared := mustRunner(t, s, ci.RunnerInstance)
	own := mustRunner(t, s, ci.RunnerProject, p2.ID)
	j1, j2 := newJob("j1", ci.StatusPending), newJob("j2", ci.StatusPending)
	created, bridge := newJob("created", ci.StatusCreated), newBridge("bridge", ci.StatusPending)
	mustPipeline(t, s, p1.ID, "main", j1, j2, created, bridge)
	k1 := newJob("k1", ci.StatusPending)
	mustPipeline(t, s, p2.ID, "main", k1)
	now := base.Add(time.Hour)

	claim := func(r *ci.Runner, manager int64, tok string, match func(*ci.Job) bool) (*ci.Job, error) {
		return s.ClaimJob(ctx, store.Claim{Runner: r, ManagerID: manager, Now: now, TokenDigest: tok, Match: match,
			Timeout: func(j *ci.Job) int { return 100 + int(j.ID) }})
	}

	// A project runner only sees its projects' jobs, even when older ones
	// wait. No token digest is stored as none (two such claims don't collide).
	got, err := claim(own, 1, "", nil)
	must(t, err, "project runner")
	if got.ID != k1.ID {
		t.Fatalf("project runner got job %d (%s), want %d", got.ID, got.Name, k1.ID)
	}
	_, err = claim(own, 1, digest("none"), nil)
	wantErr(t, err, store.ErrNotFound, "project runner, nothing left")

	// Match is asked oldest first; a refused job stays pending.
	var asked []int64
	got, err = claim(shared, 2, digest("j2"), func(j *ci.Job) bool {
		asked = append(asked, j.ID)
		return j.Name != "j1"
	})
	must(t, err, "shared runner")
	if got.ID != j2.ID || len(asked) != 2 || asked[0] != j1.ID || asked[1] != j2.ID {
		t.Fatalf("claimed %d after asking %v, want %d after [%d %d]", got.ID, asked, j2.ID, j1.ID, j2.ID)
	}
	if got.Status != ci.StatusRunning || got.RunnerID != shared.ID || got.RunnerManagerID != 2 ||
		got.Timeout != 100+int(j2.ID) || got.StartedAt == nil || !got.StartedAt.Equal(now) || !got.UpdatedAt.Equal(now) {
		t.Errorf("claimed job = %+v", got)
	}
	stored, err := s.JobByTokenDigest(ctx, digest("j2"))
	must(t, err, "by token")
	sameJob(t, "claimed job as stored", stored, got)

	// Everything refused: nothing is claimed.
	_, err = claim(shared, 2, digest("x"), func(*ci.Job) bool { return false })
	wantErr(t, err, store.ErrNotFound, "all refused")
	if j, _ := s.JobByID(ctx, j1.ID); j.Status != ci.StatusPending {
		t.Errorf("refused job status %s, want pending", j.Status)
	}

	// Without Match the oldest pending build wins.
	got, err = claim(shared, 3, "", nil)
	must(t, err, "no match func")
	if got.ID != j1.ID {
		t.Errorf("got job %d, want %d", got.ID, j1.ID)
	}
	// Bridges and created jobs are never handed out.
	_, err = claim(shared, 3, "", nil)
	wantErr(t, err, store.ErrNotFound, "nothing left")
	for _, j := range []*ci.Job{created, bridge} {
		got, err := s.JobByID(ctx, j.ID)
		must(t, err, "get")
		if got.Status != j.Status || got.RunnerID != 0 {
			t.Errorf("%s: status %s runner %d, want untouched", j.Name, got.Status, got.RunnerID)
		}
	}
}

// testClaimPastFirstBatch checks that a claim keeps looking past the first
// page of candidates when the runner refuses them.
func testClaimPastFirstBatch(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	r := mustRunner(t, s, ci.RunnerInstance)
	var jobs []*ci.Job
	for i := range 150 {
		jobs = append(jobs, newJob(fmt.Sprintf("job%03d", i), ci.StatusPending))
	}
	mustPipeline(t, s, pr.ID, "main", jobs...)
	want := jobs[140]
	got, err := s.ClaimJob(ctx, store.Claim{Runner: r, Now: base, TokenDigest: digest("deep"),
		Match: func(j *ci.Job) bool { return j.Name == want.Name }})
	must(t, err, "claim")
	if got.ID != want.ID {
		t.Errorf("got %s, want %s", got.Name, want.Name)
	}
	n, err := s.CountJobs(ctx, store.JobFilter{ProjectID: pr.ID, Statuses: []ci.Status{ci.StatusPending}})
	must(t, err, "count")
	if n != 149 {
		t.Errorf("pending after claim = %d, want 149", n)
	}
}

// testClaimConcurrent has 50 claimers race for 500 pending jobs: every job
// must be claimed exactly once and end up with the claimer that got it.
func testClaimConcurrent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const (
		claimers  = 50
		pipelines = 10
		perPipe   = 50
		total     = pipelines * perPipe
	)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	r := mustRunner(t, s, ci.RunnerInstance)
	for range pipelines {
		jobs := make([]*ci.Job, perPipe)
		for i := range jobs {
			jobs[i] = newJob(fmt.Sprintf("job%02d", i), ci.StatusPending)
		}
		mustPipeline(t, s, pr.ID, "main", jobs...)
	}

	claimed := make([][]int64, claimers)
	errs := make([]error, claimers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range claimers {
		wg.Go(func() {
			<-start
			for n := 0; ; n++ {
				j, err := s.ClaimJob(ctx, store.Claim{Runner: r, ManagerID: int64(c + 1), Now: time.Now(),
					TokenDigest: digest("c%d-%d", c, n)})
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					errs[c] = err
					return
				}
				claimed[c] = append(claimed[c], j.ID)
			}
		})
	}
	begin := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d claimers took %d jobs in %v", claimers, total, time.Since(begin))
	for c, err := range errs {
		if err != nil {
			t.Errorf("claimer %d: %v", c, err)
		}
	}

	owner := map[int64]int{}
	busy := 0
	for c, ids := range claimed {
		if len(ids) > 0 {
			busy++
		}
		for _, id := range ids {
			if prev, dup := owner[id]; dup {
				t.Errorf("job %d claimed by %d and %d", id, prev, c)
			}
			owner[id] = c
		}
	}
	if len(owner) != total {
		t.Errorf("%d distinct jobs claimed, want %d", len(owner), total)
	}
	t.Logf("%d of %d claimers got at least one job", busy, claimers)
	running, err := s.ListJobs(ctx, store.JobFilter{ProjectID: pr.ID})
	must(t, err, "list")
	for _, j := range running {
		if j.Status != ci.StatusRunning {
			t.Errorf("job %d status %s, want running", j.ID, j.Status)
			continue
		}
		if c, ok := owner[j.ID]; !ok || j.RunnerManagerID != int64(c+1) {
			t.Errorf("job %d stored manager %d, claimed by %d", j.ID, j.RunnerManagerID, c)
		}
	}
}
