package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var jobTests = []test{
	{"Jobs/RoundTrip", testJobRoundTrip},
	{"Jobs/Tokens", testJobTokens},
	{"Jobs/ListFilters", testJobListFilters},
	{"Jobs/UpdateCompareAndSet", testJobUpdate},
	{"Jobs/UpdateJobsSet", testJobUpdateJobsSet},
	{"Jobs/InsertRetried", testJobInsertRetried},
	{"Jobs/RetryConcurrent", testJobRetryConcurrent},
	{"Jobs/Sweep", testJobSweep},
	{"Jobs/NarrowUpdates", testJobNarrowUpdates},
	{"Jobs/ResourceGroup", testJobResourceGroup},
}

// normJob returns a copy of j that compares with reflect.DeepEqual the way
// a store round-trips it: times as UTC microseconds, empty slices as nil.
func normJob(j *ci.Job) ci.Job {
	c := *j
	norm := func(t time.Time) time.Time { return time.UnixMicro(t.UnixMicro()).UTC() }
	normp := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		return ptr(norm(*t))
	}
	c.CreatedAt, c.UpdatedAt = norm(c.CreatedAt), norm(c.UpdatedAt)
	c.QueuedAt, c.StartedAt, c.FinishedAt = normp(c.QueuedAt), normp(c.StartedAt), normp(c.FinishedAt)
	c.ScheduledAt, c.ErasedAt, c.ArtifactsExpireAt = normp(c.ScheduledAt), normp(c.ErasedAt), normp(c.ArtifactsExpireAt)
	if len(c.Tags) == 0 {
		c.Tags = nil
	}
	if len(c.Definition) == 0 {
		c.Definition = nil
	}
	if len(c.JobVariables) == 0 {
		c.JobVariables = nil
	}
	return c
}

func sameJob(t *testing.T, what string, got, want *ci.Job) {
	t.Helper()
	if g, w := normJob(got), normJob(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// fullJob sets every stored field of a build to a non-zero value.
func fullJob(name string) *ci.Job {
	return &ci.Job{Kind: ci.KindBuild, Name: name, Stage: "deploy", StageIdx: 3, Status: ci.StatusFailed, Ref: "main",
		Tag: true, When: "manual", AllowFailure: true, UserID: 9, CreatedAt: base, QueuedAt: ptr(base.Add(1 * time.Second)),
		StartedAt: ptr(base.Add(2 * time.Second)), FinishedAt: ptr(base.Add(3 * time.Second)),
		ScheduledAt: ptr(base.Add(4 * time.Second)), ErasedAt: ptr(base.Add(5 * time.Second)), ErasedBy: 9,
		Coverage: ptr(87.25), FailureReason: "script_failure", ExitCode: ptr(137), Retried: true, RunnerID: 4,
		RunnerManagerID: 5, Tags: []string{"docker", "linux"}, Timeout: 900,
		ArtifactsExpireAt: ptr(base.Add(24 * time.Hour)), DownstreamPipelineID: 0, ResourceGroup: "prod",
		Definition:   []byte(`{"script":["make"],"bin":"\u0000\u00ff"}` + "\x00\xff\x01"),
		JobVariables: []ci.Variable{{Key: "DEPLOY", Value: "yes"}}, RetryCount: 2, TraceSize: 0, Archived: true,
		Interruptible: true, EnqueueImmediately: true}
}

func testJobRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	full := fullJob("full")
	zero := &ci.Job{Name: "zero", Stage: "test", Status: ci.StatusCreated, When: "on_success"}
	bridge := newBridge("bridge", ci.StatusCreated)
	bridge.DownstreamPipelineID = 77
	p := &ci.Pipeline{ProjectID: pr.ID, Ref: "main", Tag: true, SHA: "abc", Source: "push", Status: ci.StatusCreated}
	must(t, s.CreatePipeline(ctx, p, []*ci.Job{full, zero, bridge}), "create")
	if zero.CreatedAt.IsZero() || zero.UpdatedAt.IsZero() {
		t.Errorf("insert did not stamp times: %v %v", zero.CreatedAt, zero.UpdatedAt)
	}
	for _, j := range []*ci.Job{full, zero, bridge} {
		got, err := s.JobByID(ctx, j.ID)
		must(t, err, "get "+j.Name)
		sameJob(t, j.Name, got, j)
	}
	if got, _ := s.JobByID(ctx, zero.ID); got != nil && (got.Coverage != nil || got.ExitCode != nil || got.Tags == nil) {
		t.Errorf("zero job: coverage %v exit %v tags %#v, want nil, nil, empty", got.Coverage, got.ExitCode, got.Tags)
	}
	_, err := s.JobByID(ctx, bridge.ID+100)
	wantErr(t, err, store.ErrNotFound, "missing job")
}

func testJobTokens(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	a, b, c := newJob("a", ci.StatusRunning), newJob("b", ci.StatusRunning), newJob("c", ci.StatusRunning)
	mustPipeline(t, s, pr.ID, "main", a, b, c)
	must(t, s.SetJobToken(ctx, a.ID, digest("a1")), "set a")
	got, err := s.JobByTokenDigest(ctx, digest("a1"))
	must(t, err, "by token")
	if got.ID != a.ID {
		t.Errorf("job by token = %d, want %d", got.ID, a.ID)
	}
	// The state read is the same job's, in those few columns.
	st, err := s.JobStateByTokenDigest(ctx, digest("a1"))
	must(t, err, "state by token")
	if want := (store.JobState{ID: got.ID, ProjectID: got.ProjectID, RunnerID: got.RunnerID, Status: got.Status,
		UpdatedAt: got.UpdatedAt}); *st != want || st.ProjectID != pr.ID || st.Status != ci.StatusRunning {
		t.Errorf("job state by token = %+v, want %+v", *st, want)
	}
	// Rotating replaces the old digest.
	must(t, s.SetJobToken(ctx, a.ID, digest("a2")), "rotate a")
	_, err = s.JobByTokenDigest(ctx, digest("a1"))
	wantErr(t, err, store.ErrNotFound, "old token")
	_, err = s.JobStateByTokenDigest(ctx, digest("a1"))
	wantErr(t, err, store.ErrNotFound, "old token's state")
	// A digest belongs to one job.
	wantErr(t, s.SetJobToken(ctx, b.ID, digest("a2")), store.ErrConflict, "shared digest")
	// Clearing tokens of several jobs does not collide, and "" finds nothing.
	for _, j := range []*ci.Job{a, b, c} {
		must(t, s.SetJobToken(ctx, j.ID, ""), "clear "+j.Name)
	}
	_, err = s.JobByTokenDigest(ctx, digest("a2"))
	wantErr(t, err, store.ErrNotFound, "cleared token")
	_, err = s.JobByTokenDigest(ctx, "")
	wantErr(t, err, store.ErrNotFound, "empty token")
	_, err = s.JobStateByTokenDigest(ctx, "")
	wantErr(t, err, store.ErrNotFound, "empty token's state")
}

func testJobListFilters(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr, other := mustProject(t, s, "o", "p", ci.VisibilityPrivate), mustProject(t, s, "o", "q", ci.VisibilityPrivate)
	a1, a2 := newJob("a1", ci.StatusSuccess), newJob("a2", ci.StatusFailed)
	a3, a4 := newBridge("a3", ci.StatusSuccess), newJob("a4", ci.StatusPending)
	b1, b2 := newJob("b1", ci.StatusRunning), newJob("b2", ci.StatusPending)
	a4.ResourceGroup, b2.ResourceGroup = "production", "production"
	pa := mustPipeline(t, s, pr.ID, "main", a1, a2, a3, a4)
	pb := mustPipeline(t, s, pr.ID, "dev", b1, b2)
	retry := newJob("a2", ci.StatusPending)
	retry.PipelineID, retry.ProjectID, retry.Ref = pa.ID, pr.ID, "main"
	must(t, s.InsertJobs(ctx, []*ci.Job{retry}, []string{"a2"}), "retry a2")
	c1 := newJob("c1", ci.StatusPending)
	mustPipeline(t, s, other.ID, "main", c1)

	P := pr.ID
	pending := []ci.Status{ci.StatusPending}
	for _, tc := range []struct {
		name  string
		f     store.JobFilter
		want  []*ci.Job
		count int // when paging makes it differ from len(want)
	}{
		{"project", store.JobFilter{ProjectID: P}, []*ci.Job{retry, b2, b1, a4, a3, a2, a1}, 0},
		{"every project", store.JobFilter{}, []*ci.Job{c1, retry, b2, b1, a4, a3, a2, a1}, 0},
		{"asc", store.JobFilter{ProjectID: P, Asc: true}, []*ci.Job{a1, a2, a3, a4, b1, b2, retry}, 0},
		{"pipeline", store.JobFilter{ProjectID: P, PipelineID: pa.ID}, []*ci.Job{retry, a4, a3, a2, a1}, 0},
		{"pipeline only", store.JobFilter{PipelineID: pb.ID}, []*ci.Job{b2, b1}, 0},
		{"builds", store.JobFilter{ProjectID: P, Kind: store.BuildsOnly}, []*ci.Job{retry, b2, b1, a4, a2, a1}, 0},
		{"bridges", store.JobFilter{ProjectID: P, Kind: store.BridgesOnly}, []*ci.Job{a3}, 0},
		{"pending", store.JobFilter{ProjectID: P, Statuses: pending}, []*ci.Job{retry, b2, a4}, 0},
		{"finished", store.JobFilter{ProjectID: P, Statuses: []ci.Status{ci.StatusSuccess, ci.StatusFailed}}, []*ci.Job{a3, a2, a1}, 0},
		{"ref main", store.JobFilter{ProjectID: P, Ref: "main"}, []*ci.Job{retry, a4, a3, a2, a1}, 0},
		{"ref dev", store.JobFilter{ProjectID: P, Ref: "dev"}, []*ci.Job{b2, b1}, 0},
		{"ref unknown", store.JobFilter{ProjectID: P, Ref: "nope"}, []*ci.Job{}, 0},
		{"latest only", store.JobFilter{ProjectID: P, LatestOnly: true}, []*ci.Job{retry, b2, b1, a4, a3, a1}, 0},
		{"resource group", store.JobFilter{ProjectID: P, ResourceGroup: "production"}, []*ci.Job{b2, a4}, 0},
		{"resource group unknown", store.JobFilter{ProjectID: P, ResourceGroup: "staging"}, []*ci.Job{}, 0},
		{"before id", store.JobFilter{ProjectID: P, BeforeID: b1.ID}, []*ci.Job{a4, a3, a2, a1}, 0},
		{"before id, limit", store.JobFilter{ProjectID: P, BeforeID: b1.ID, Limit: 2}, []*ci.Job{a4, a3}, 4},
		{"limit", store.JobFilter{ProjectID: P, Limit: 2}, []*ci.Job{retry, b2}, 7},
		{"limit offset", store.JobFilter{ProjectID: P, Limit: 2, Offset: 2}, []*ci.Job{b1, a4}, 7},
		{"offset", store.JobFilter{ProjectID: P, Offset: 5}, []*ci.Job{a2, a1}, 7},
		{"asc limit offset", store.JobFilter{ProjectID: P, Asc: true, Limit: 3, Offset: 1}, []*ci.Job{a2, a3, a4}, 7},
		{"combined", store.JobFilter{ProjectID: P, Kind: store.BuildsOnly, LatestOnly: true, Statuses: pending, Ref: "main"},
			[]*ci.Job{retry, a4}, 0},
	} {
		js, err := s.ListJobs(ctx, tc.f)
		must(t, err, tc.name)
		sameIDs(t, tc.name, jobIDs(js), jobIDs(tc.want))
		n, err := s.CountJobs(ctx, tc.f)
		must(t, err, tc.name+" count")
		want := tc.count
		if want == 0 {
			want = len(tc.want)
		}
		if n != want {
			t.Errorf("%s: count %d, want %d", tc.name, n, want)
		}
	}
	all, err := s.PipelineJobs(ctx, pa.ID)
	must(t, err, "pipeline jobs")
	sameIDs(t, "pipeline jobs, retried included, by id", jobIDs(all), jobIDs([]*ci.Job{a1, a2, a3, a4, retry}))
}

func testJobUpdate(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	j := newJob("build", ci.StatusPending)
	j.Tags, j.Definition = []string{"docker"}, []byte(`{"script":["true"]}`)
	mustPipeline(t, s, pr.ID, "main", j)

	// Every mutable field is written.
	upd := *j
	upd.Status, upd.When, upd.AllowFailure, upd.UserID = ci.StatusFailed, "always", true, 3
	upd.QueuedAt, upd.StartedAt, upd.FinishedAt = ptr(base), ptr(base.Add(time.Second)), ptr(base.Add(time.Minute))
	upd.ScheduledAt, upd.ErasedAt, upd.ErasedBy = ptr(base.Add(time.Hour)), ptr(base.Add(2*time.Hour)), 3
	upd.Coverage, upd.FailureReason, upd.ExitCode, upd.Retried = ptr(12.5), "script_failure", ptr(2), true
	upd.RunnerID, upd.RunnerManagerID, upd.Timeout = 8, 9, 600
	upd.ArtifactsExpireAt, upd.DownstreamPipelineID = ptr(base.Add(48*time.Hour)), 0
	upd.JobVariables, upd.Archived = []ci.Variable{{Key: "K", Value: "V"}}, true
	before := time.Now().Add(-time.Second)
	must(t, s.UpdateJob(ctx, &upd, ci.StatusPending), "update")
	got, err := s.JobByID(ctx, j.ID)
	must(t, err, "get")
	if got.UpdatedAt.Before(before) {
		t.Errorf("updated_at %v not bumped", got.UpdatedAt)
	}
	sameJob(t, "after update", got, &upd)

	// The status moved: a second writer expecting pending loses.
	lost := *j
	lost.Status = ci.StatusCanceled
	wantErr(t, s.UpdateJob(ctx, &lost, ci.StatusPending), store.ErrStale, "stale update")
	got, err = s.JobByID(ctx, j.ID)
	must(t, err, "get")
	if got.Status != ci.StatusFailed {
		t.Errorf("stale update wrote status %s", got.Status)
	}
	// Same status expected as stored: a plain write succeeds.
	got.FailureReason = "runner_system_failure"
	must(t, s.UpdateJob(ctx, got, ci.StatusFailed), "update in place")
	// A missing job is stale too.
	missing := *got
	missing.ID += 1000
	wantErr(t, s.UpdateJob(ctx, &missing, ci.StatusFailed), store.ErrStale, "missing job")
	// Clearing nullable fields writes NULLs.
	got.Coverage, got.ExitCode, got.StartedAt, got.JobVariables = nil, nil, nil, nil
	must(t, s.UpdateJob(ctx, got, ci.StatusFailed), "clear")
	again, err := s.JobByID(ctx, j.ID)
	must(t, err, "get")
	sameJob(t, "after clear", again, got)
}

// testJobUpdateJobsSet: UpdateJobs of many jobs making the same move (which
// a store may write as one set statement) keeps each job's compare-and-set:
// jobs moved underneath, or gone, are reported stale and left as they are;
// the others get exactly what their update says, whatever group they fall
// in, and an id updated twice in one call sees its first update.
func testJobUpdateJobsSet(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	// More than one statement's worth of ids.
	jobs := make([]*ci.Job, 70)
	for i := range jobs {
		jobs[i] = newJob(fmt.Sprintf("j%d", i), ci.StatusCreated)
	}
	mustPipeline(t, s, pr.ID, "main", jobs...)
	queued := ptr(base.Add(time.Minute))
	// Moved underneath (another writer) before the set update.
	moved := map[int]bool{3: true, 40: true, 66: true}
	for i := range moved {
		c := *jobs[i]
		c.Status = ci.StatusCanceled
		must(t, s.UpdateJob(ctx, &c, ci.StatusCreated), "move underneath")
	}
	tests := []struct {
		name  string
		idx   []int
		edit  func(i int, j *ci.Job)
		twice bool // the first job is updated again, pending → running
		stale []int
	}{
		{name: "same move, some moved underneath", idx: span(0, 64),
			edit:  func(int, *ci.Job) {},
			stale: []int{3, 40, -1}},
		{name: "two groups and a missing id", idx: span(64, 70),
			edit: func(i int, j *ci.Job) {
				if i%2 == 0 {
					j.AllowFailure, j.Timeout = true, 60
				}
			},
			stale: []int{66, -1}},
	}
	missing := &ci.Job{ID: jobs[len(jobs)-1].ID + 1000, Status: ci.StatusPending, When: "on_success"}
	for _, tc := range tests {
		want := map[int64]*ci.Job{} // as written, updated_at stamped by the store
		var updates []store.JobUpdate
		for _, i := range tc.idx {
			j := *jobs[i]
			j.Status, j.QueuedAt = ci.StatusPending, queued
			tc.edit(i, &j)
			updates = append(updates, store.JobUpdate{Job: &j, Expect: ci.StatusCreated})
			if !moved[i] {
				want[j.ID] = &j
			}
		}
		updates = append(updates, store.JobUpdate{Job: missing, Expect: ci.StatusCreated})
		stale, err := s.UpdateJobs(ctx, updates)
		must(t, err, tc.name)
		var wantStale []int64
		for _, i := range tc.stale {
			if i < 0 {
				wantStale = append(wantStale, missing.ID)
			} else {
				wantStale = append(wantStale, jobs[i].ID)
			}
		}
		if !reflect.DeepEqual(stale, wantStale) {
			t.Errorf("%s: stale = %v, want %v", tc.name, stale, wantStale)
		}
		for _, i := range tc.idx {
			got, err := s.JobByID(ctx, jobs[i].ID)
			must(t, err, "get")
			if moved[i] {
				if got.Status != ci.StatusCanceled || got.QueuedAt != nil {
					t.Errorf("%s: job %d moved underneath was overwritten: %s", tc.name, i, got.Status)
				}
				continue
			}
			sameJob(t, fmt.Sprintf("%s: job %d", tc.name, i), got, want[got.ID])
		}
	}

	// One id twice in a call: the second update sees the first.
	a := *jobs[0]
	a.Status = ci.StatusRunning
	b := a
	b.Status = ci.StatusSuccess
	stale, err := s.UpdateJobs(ctx, []store.JobUpdate{{Job: &a, Expect: ci.StatusPending}, {Job: &b, Expect: ci.StatusRunning}})
	must(t, err, "twice")
	if len(stale) != 0 {
		t.Errorf("twice: stale = %v", stale)
	}
	got, err := s.JobByID(ctx, a.ID)
	must(t, err, "get")
	if got.Status != ci.StatusSuccess {
		t.Errorf("twice: status %s, want success", got.Status)
	}
}

// span is the integers from lo up to hi, hi excluded.
func span(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func testJobInsertRetried(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	test1, lint := newJob("test", ci.StatusFailed), newJob("lint", ci.StatusSuccess)
	p := mustPipeline(t, s, pr.ID, "main", test1, lint)
	elsewhere := newJob("test", ci.StatusFailed)
	mustPipeline(t, s, pr.ID, "main", elsewhere)

	retry := func(name string) *ci.Job {
		j := newJob(name, ci.StatusPending)
		j.PipelineID, j.ProjectID, j.RetryCount = p.ID, pr.ID, 1
		return j
	}
	test2 := retry("test")
	must(t, s.InsertJobs(ctx, []*ci.Job{test2}, []string{"test"}), "retry test")
	test3 := retry("test")
	must(t, s.InsertJobs(ctx, []*ci.Job{test3}, []string{"test"}), "retry test again")
	extra := retry("extra")
	must(t, s.InsertJobs(ctx, []*ci.Job{extra}, nil), "add without retrying")

	for _, tc := range []struct {
		job     *ci.Job
		retried bool
	}{
		{test1, true}, {test2, true}, {test3, false}, {lint, false}, {elsewhere, false}, {extra, false},
	} {
		got, err := s.JobByID(ctx, tc.job.ID)
		must(t, err, "get")
		if got.Retried != tc.retried {
			t.Errorf("job %d %s (pipeline %d): retried %v, want %v", got.ID, got.Name, got.PipelineID, got.Retried, tc.retried)
		}
	}
	latest, err := s.ListJobs(ctx, store.JobFilter{PipelineID: p.ID, LatestOnly: true, Asc: true})
	must(t, err, "latest")
	sameIDs(t, "latest", jobIDs(latest), []int64{lint.ID, test3.ID, extra.ID})
	if test3.ID <= test1.ID || test3.PipelineID != p.ID {
		t.Errorf("retry id %d pipeline %d", test3.ID, test3.PipelineID)
	}
}

func testJobSweep(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	running, pending := newJob("running", ci.StatusRunning), newJob("pending", ci.StatusPending)
	due, later := newJob("due", ci.StatusScheduled), newJob("later", ci.StatusScheduled)
	due.ScheduledAt, later.ScheduledAt = ptr(base), ptr(base.Add(time.Hour))
	done := newJob("done", ci.StatusSuccess)
	mustPipeline(t, s, pr.ID, "main", running, pending, due, later, done)
	now := time.Now()
	for _, tc := range []struct {
		name string
		f    store.SweepFilter
		want []*ci.Job
	}{
		{"statuses", store.SweepFilter{Statuses: []ci.Status{ci.StatusRunning, ci.StatusPending}}, []*ci.Job{running, pending}},
		{"not updated since the future", store.SweepFilter{Statuses: []ci.Status{ci.StatusRunning}, UpdatedBefore: ptr(now.Add(time.Hour))},
			[]*ci.Job{running}},
		{"updated recently", store.SweepFilter{Statuses: []ci.Status{ci.StatusRunning}, UpdatedBefore: ptr(now.Add(-time.Hour))}, nil},
		{"scheduled due", store.SweepFilter{Statuses: []ci.Status{ci.StatusScheduled}, ScheduledBefore: ptr(base.Add(time.Minute))},
			[]*ci.Job{due}},
		{"scheduled due, inclusive", store.SweepFilter{ScheduledBefore: ptr(base)}, []*ci.Job{due}},
		{"scheduled all", store.SweepFilter{ScheduledBefore: ptr(base.Add(2 * time.Hour))}, []*ci.Job{due, later}},
		{"limit", store.SweepFilter{Limit: 2}, []*ci.Job{running, pending}},
		{"everything", store.SweepFilter{}, []*ci.Job{running, pending, due, later, done}},
	} {
		js, err := s.JobsToSweep(ctx, tc.f)
		must(t, err, tc.name)
		sameIDs(t, tc.name, jobIDs(js), jobIDs(tc.want))
	}
}

// testJobNarrowUpdates covers the single-purpose updates: touching an
// executing job, the artifacts expiry, keeping artifacts, and listing by
// runner.
func testJobNarrowUpdates(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	running, done := newJob("running", ci.StatusRunning), newJob("done", ci.StatusSuccess)
	running.RunnerID, running.RunnerManagerID = 7, 70
	done.RunnerID, done.RunnerManagerID = 7, 71
	mustPipeline(t, s, pr.ID, "main", running, done)

	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	must(t, s.TouchJob(ctx, running.ID, later), "touch running")
	must(t, s.TouchJob(ctx, done.ID, later), "touch done")
	got, err := s.JobByID(ctx, running.ID)
	must(t, err, "reload running")
	if !got.UpdatedAt.Equal(later) || got.Status != ci.StatusRunning {
		t.Errorf("touched running job: updated_at %v status %v", got.UpdatedAt, got.Status)
	}
	if got, _ := s.JobByID(ctx, done.ID); got.UpdatedAt.Equal(later) {
		t.Errorf("a finished job was touched")
	}

	must(t, s.SetArtifactsExpiry(ctx, done.ID, &later), "set expiry")
	future := artifact(done, "archive", "k-archive", ptr(later))
	past := artifact(done, "junit", "k-junit", ptr(base))
	must(t, s.CreateArtifact(ctx, future), "archive")
	must(t, s.CreateArtifact(ctx, past), "junit")
	must(t, s.KeepArtifacts(ctx, done.ID, time.Now()), "keep")
	got, _ = s.JobByID(ctx, done.ID)
	if got.ArtifactsExpireAt != nil {
		t.Errorf("kept job still expires at %v", got.ArtifactsExpireAt)
	}
	arts, err := s.ArtifactsByJobIDs(ctx, []int64{done.ID})
	must(t, err, "artifacts")
	for _, a := range arts[done.ID] {
		switch a.FileType {
		case "archive":
			if a.ExpireAt != nil {
				t.Errorf("kept archive still expires")
			}
		case "junit":
			if a.ExpireAt == nil {
				t.Errorf("an already expired artifact was revived")
			}
		}
	}

	for _, tc := range []struct {
		name string
		f    store.JobFilter
		want []*ci.Job
	}{
		{"runner", store.JobFilter{RunnerID: 7}, []*ci.Job{done, running}},
		{"runner manager", store.JobFilter{RunnerID: 7, RunnerManagerID: 71}, []*ci.Job{done}},
		{"other runner", store.JobFilter{RunnerID: 8}, nil},
	} {
		js, err := s.ListJobs(ctx, tc.f)
		must(t, err, tc.name)
		sameIDs(t, tc.name, jobIDs(js), jobIDs(tc.want))
	}
}

// testJobResourceGroup: a waiting job takes its resource group only while
// no other job of the group holds it, and of many concurrent takers of a
// free group exactly one wins.
func testJobResourceGroup(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	holder := newJob("holder", ci.StatusRunning)
	holder.ResourceGroup = "prod"
	var waiting []*ci.Job
	for i := range 8 {
		w := newJob(fmt.Sprintf("w%d", i), ci.StatusWaitingForResource)
		w.ResourceGroup = "prod"
		waiting = append(waiting, w)
	}
	other := newJob("other", ci.StatusWaitingForResource)
	other.ResourceGroup = "staging"
	mustPipeline(t, s, pr.ID, "main", append([]*ci.Job{holder, other}, waiting...)...)

	take := func(j *ci.Job) error {
		c := *j
		c.Status = ci.StatusPending
		return s.UpdateJobIfResourceFree(ctx, &c, ci.StatusWaitingForResource)
	}
	if err := take(waiting[0]); !errors.Is(err, store.ErrStale) {
		t.Fatalf("took a busy group: %v", err)
	}
	must(t, take(other), "another group is free")

	holder.Status = ci.StatusSuccess
	must(t, s.UpdateJob(ctx, holder, ci.StatusRunning), "finish holder")
	var wg sync.WaitGroup
	var won atomic.Int32
	for _, w := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := take(w)
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, store.ErrStale):
				t.Errorf("take %s: %v", w.Name, err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("%d jobs took the free group at once, want 1", won.Load())
	}
}

// testJobRetryConcurrent retries one failed job from many goroutines at
// once: RetryJobs judges the job again under the pipeline's lock, so one
// clone is inserted and every other call finds the job retried.
func testJobRetryConcurrent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	src := newJob("build", ci.StatusFailed)
	p := mustPipeline(t, s, pr.ID, "main", src)
	retryable := func(j *ci.Job) bool { return !j.Retried && j.Status == ci.StatusFailed }
	const n = 10
	var inserted atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			clone := newJob("build", ci.StatusCreated)
			clone.PipelineID, clone.ProjectID = p.ID, pr.ID
			done, err := s.RetryJobs(ctx, p.ID, []*ci.Job{src}, []*ci.Job{clone}, retryable)
			if err != nil {
				t.Errorf("retry: %v", err)
			}
			inserted.Add(int64(len(done)))
		})
	}
	wg.Wait()
	if got := inserted.Load(); got != 1 {
		t.Errorf("clones inserted = %d, want 1", got)
	}
	jobs, err := s.PipelineJobs(ctx, p.ID)
	must(t, err, "pipeline jobs")
	if len(jobs) != 2 || !jobs[0].Retried || jobs[1].Retried {
		t.Errorf("jobs after %d concurrent retries: %d rows (first retried %v)", n, len(jobs), len(jobs) > 0 && jobs[0].Retried)
	}
}
