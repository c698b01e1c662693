package storetest

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var pipelineTests = []test{
	{"Pipelines/CreateAndGet", testPipelineCreateAndGet},
	{"Pipelines/IIDs", testPipelineIIDs},
	{"Pipelines/ConcurrentIIDs", testPipelineConcurrentIIDs},
	{"Pipelines/Update", testPipelineUpdate},
	{"Pipelines/Downstream", testPipelineDownstream},
	{"Pipelines/Filters", testPipelineFilters},
	{"Pipelines/DeleteCascades", testPipelineDeleteCascades},
	{"Pipelines/Dirty", testPipelineDirty},
	{"Pipelines/ManyJobs", testPipelineManyJobs},
	{"Pipelines/Coverage", testPipelineCoverage},
}

// testPipelineCoverage: a pipeline's coverage averages its latest builds
// that have one; retried builds, bridges, jobs without coverage and other
// pipelines' jobs do not count, and with none it is nil.
func testPipelineCoverage(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "cov", ci.VisibilityPrivate)
	withCov := func(j *ci.Job, c float64) *ci.Job {
		j.Coverage = &c
		return j
	}
	retried := withCov(newJob("a", ci.StatusFailed), 10)
	retried.Retried = true
	tests := []struct {
		name string
		jobs []*ci.Job
		want *float64
	}{
		{"no jobs", nil, nil},
		{"no coverage yet", []*ci.Job{newJob("a", ci.StatusPending), newJob("b", ci.StatusCreated)}, nil},
		{"latest builds only", []*ci.Job{withCov(newJob("a", ci.StatusSuccess), 80), retried,
			withCov(newJob("b", ci.StatusSuccess), 90.5), newJob("c", ci.StatusSuccess),
			withCov(newBridge("d", ci.StatusSuccess), 5)}, ptr(85.25)},
	}
	// Another pipeline's covered job must not leak in.
	mustPipeline(t, s, pr.ID, "main", withCov(newJob("x", ci.StatusSuccess), 50))
	for _, tc := range tests {
		p := mustPipeline(t, s, pr.ID, "main", tc.jobs...)
		got, err := s.PipelineCoverage(ctx, p.ID)
		must(t, err, tc.name)
		switch {
		case got == nil && tc.want == nil:
		case got == nil || tc.want == nil || math.Abs(*got-*tc.want) > 1e-9:
			t.Errorf("%s: coverage = %v, want %v", tc.name, fmtPtr(got), fmtPtr(tc.want))
		}
	}
}

func fmtPtr(f *float64) string {
	if f == nil {
		return "nil"
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

// testPipelineManyJobs creates a pipeline with more jobs than one
// multi-row INSERT carries: every job gets the id of its own row, and
// the stage filter of ListJobs sees them.
func testPipelineManyJobs(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "many", ci.VisibilityPrivate)
	p := &ci.Pipeline{ProjectID: pr.ID, Ref: "main", SHA: "abc", Source: "api", Status: ci.StatusCreated}
	var jobs []*ci.Job
	for i := range 150 {
		j := newJob(fmt.Sprintf("job-%03d", i), ci.StatusCreated)
		j.StageIdx = i % 3
		j.Definition = []byte(fmt.Sprintf(`{"name":"job-%03d"}`, i))
		j.JobVariables = []ci.Variable{{Key: "N", Value: strconv.Itoa(i)}}
		jobs = append(jobs, j)
	}
	must(t, s.CreatePipeline(ctx, p, jobs), "create")
	seen := map[int64]bool{}
	for _, j := range jobs {
		if j.ID == 0 || seen[j.ID] {
			t.Fatalf("job %s: id %d (duplicate or zero)", j.Name, j.ID)
		}
		seen[j.ID] = true
		got, err := s.JobByID(ctx, j.ID)
		must(t, err, "get "+j.Name)
		if got.Name != j.Name || string(got.Definition) != string(j.Definition) ||
			len(got.JobVariables) != 1 || got.JobVariables[0].Value != j.JobVariables[0].Value {
			t.Fatalf("job id %d: stored %q %s %v, want %q %s %v", j.ID, got.Name, got.Definition, got.JobVariables,
				j.Name, j.Definition, j.JobVariables)
		}
	}
	all, err := s.PipelineJobs(ctx, p.ID)
	must(t, err, "pipeline jobs")
	if len(all) != len(jobs) {
		t.Fatalf("pipeline jobs: %d, want %d", len(all), len(jobs))
	}
	early, err := s.ListJobs(ctx, store.JobFilter{PipelineID: p.ID, StageBefore: 2, Brief: true, Asc: true})
	must(t, err, "list earlier stages")
	if len(early) != 100 {
		t.Fatalf("jobs of stages before 2: %d, want 100", len(early))
	}
	for _, j := range early {
		if j.StageIdx >= 2 || j.Definition != nil {
			t.Fatalf("earlier stages listed %s (stage %d, definition %q)", j.Name, j.StageIdx, j.Definition)
		}
	}
}

func testPipelineCreateAndGet(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	p := &ci.Pipeline{ProjectID: pr.ID, Ref: "v1.0", Tag: true, SHA: "abc", BeforeSHA: "def", Source: "web",
		Status: ci.StatusCreated, UserID: 42, CreatedAt: base, StartedAt: ptr(base.Add(time.Second)),
		CommittedAt: ptr(base.Add(-time.Hour)), YAMLErrors: "", FailureReason: "", Name: "Release",
		Variables: []ci.Variable{{Key: "A", Value: "1"}, {Key: "F", Value: "x", VariableType: "file", Masked: true, Raw: true}},
		Protected: true, Warnings: false}
	jobs := []*ci.Job{newJob("build", ci.StatusPending), newJob("test", ci.StatusCreated)}
	must(t, s.CreatePipeline(ctx, p, jobs), "create")
	if p.ID == 0 || p.IID != 1 || !p.UpdatedAt.Equal(base) {
		t.Fatalf("after create: id %d iid %d updated %v", p.ID, p.IID, p.UpdatedAt)
	}
	for _, j := range jobs {
		if j.ID == 0 || j.PipelineID != p.ID || j.ProjectID != pr.ID {
			t.Errorf("job %s: id %d pipeline %d project %d", j.Name, j.ID, j.PipelineID, j.ProjectID)
		}
	}
	got, err := s.PipelineByID(ctx, p.ID)
	must(t, err, "get")
	samePipeline(t, got, p)

	m, err := s.PipelinesByIDs(ctx, []int64{p.ID, p.ID + 100})
	must(t, err, "by ids")
	if len(m) != 1 || m[p.ID] == nil {
		t.Fatalf("PipelinesByIDs = %v", m)
	}
	samePipeline(t, m[p.ID], p)
	m, err = s.PipelinesByIDs(ctx, nil)
	must(t, err, "by no ids")
	if m == nil || len(m) != 0 {
		t.Errorf("PipelinesByIDs(nil) = %#v, want an empty map", m)
	}
	_, err = s.PipelineByID(ctx, p.ID+100)
	wantErr(t, err, store.ErrNotFound, "missing")

	pj, err := s.PipelineJobs(ctx, p.ID)
	must(t, err, "pipeline jobs")
	sameIDs(t, "pipeline jobs", jobIDs(pj), jobIDs(jobs))
}

// samePipeline compares pipelines, times as instants.
func samePipeline(t *testing.T, got, want *ci.Pipeline) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
		t.Errorf("pipeline %d: created %v updated %v, want %v %v", w.ID, g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	sameTime(t, "started_at", g.StartedAt, w.StartedAt)
	sameTime(t, "finished_at", g.FinishedAt, w.FinishedAt)
	sameTime(t, "committed_at", g.CommittedAt, w.CommittedAt)
	g.CreatedAt, g.UpdatedAt, g.StartedAt, g.FinishedAt, g.CommittedAt = time.Time{}, time.Time{}, nil, nil, nil
	w.CreatedAt, w.UpdatedAt, w.StartedAt, w.FinishedAt, w.CommittedAt = time.Time{}, time.Time{}, nil, nil, nil
	if len(w.Variables) == 0 {
		w.Variables = nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("pipeline:\n got %+v\nwant %+v", g, w)
	}
}

func testPipelineIIDs(t *testing.T, s store.Store) {
	a, b := mustProject(t, s, "o", "a", ci.VisibilityPrivate), mustProject(t, s, "o", "b", ci.VisibilityPrivate)
	for _, tc := range []struct {
		project int64
		want    int64
	}{{a.ID, 1}, {a.ID, 2}, {b.ID, 1}, {a.ID, 3}, {b.ID, 2}} {
		p := mustPipeline(t, s, tc.project, "main")
		if p.IID != tc.want {
			t.Errorf("project %d: iid %d, want %d", tc.project, p.IID, tc.want)
		}
	}
}

// testPipelineConcurrentIIDs creates pipelines of one project from many
// goroutines: every pipeline must get its own iid, with no gaps.
func testPipelineConcurrentIIDs(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	const n = 24
	iids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := &ci.Pipeline{ProjectID: pr.ID, Ref: "main", SHA: "abc", Source: "push", Status: ci.StatusPending}
			errs[i] = s.CreatePipeline(ctx, p, []*ci.Job{newJob("build", ci.StatusPending)})
			iids[i] = p.IID
		})
	}
	wg.Wait()
	for i, err := range errs {
		must(t, err, "create pipeline "+string(rune('A'+i)))
	}
	sort.Slice(iids, func(i, j int) bool { return iids[i] < iids[j] })
	for i, iid := range iids {
		if iid != int64(i+1) {
			t.Fatalf("iids = %v, want 1..%d each once", iids, n)
		}
	}
	c, err := s.CountPipelines(ctx, store.PipelineFilter{ProjectID: pr.ID})
	must(t, err, "count")
	if c != n {
		t.Errorf("count = %d, want %d", c, n)
	}
}

func testPipelineUpdate(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	p := mustPipeline(t, s, pr.ID, "main", newJob("a", ci.StatusPending))
	before := time.Now().Add(-time.Second)
	p.Status, p.StartedAt, p.FinishedAt = ci.StatusFailed, ptr(base.Add(time.Minute)), ptr(base.Add(time.Hour))
	p.Warnings, p.YAMLErrors, p.FailureReason = true, "jobs:a config should be a hash", "config_error"
	// Fields UpdatePipeline does not write.
	p.Ref, p.Name = "ignored", "ignored"
	must(t, s.UpdatePipeline(ctx, p), "update")
	got, err := s.PipelineByID(ctx, p.ID)
	must(t, err, "get")
	if got.Status != ci.StatusFailed || !got.Warnings || got.YAMLErrors != p.YAMLErrors || got.FailureReason != "config_error" ||
		got.Ref != "main" || got.Name != "" {
		t.Errorf("after update: %+v", got)
	}
	sameTime(t, "started_at", got.StartedAt, p.StartedAt)
	sameTime(t, "finished_at", got.FinishedAt, p.FinishedAt)
	if got.UpdatedAt.Before(before) || !got.CreatedAt.Equal(base) {
		t.Errorf("created %v updated %v, want created kept, updated now", got.CreatedAt, got.UpdatedAt)
	}
	// Clearing times writes NULLs.
	got.StartedAt, got.FinishedAt = nil, nil
	must(t, s.UpdatePipeline(ctx, got), "clear times")
	got, err = s.PipelineByID(ctx, p.ID)
	must(t, err, "get")
	if got.StartedAt != nil || got.FinishedAt != nil {
		t.Errorf("times not cleared: %v %v", got.StartedAt, got.FinishedAt)
	}
}

func testPipelineDownstream(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	bridge := newBridge("trigger", ci.StatusPending)
	parent := mustPipeline(t, s, pr.ID, "main", bridge, newJob("build", ci.StatusSuccess))
	child := &ci.Pipeline{ProjectID: pr.ID, Ref: "main", SHA: "abc", Source: "parent_pipeline", Status: ci.StatusCreated,
		ParentPipelineID: parent.ID, ParentJobID: bridge.ID}
	must(t, s.CreatePipeline(ctx, child, []*ci.Job{newJob("child", ci.StatusPending)}), "create child")
	b, err := s.JobByID(ctx, bridge.ID)
	must(t, err, "bridge")
	if b.DownstreamPipelineID != child.ID || b.Kind != ci.KindBridge {
		t.Errorf("bridge downstream = %d kind %v, want %d bridge", b.DownstreamPipelineID, b.Kind, child.ID)
	}
	ps, err := s.ListPipelines(ctx, store.PipelineFilter{ParentPipelineID: parent.ID})
	must(t, err, "children")
	sameIDs(t, "children", pipelineIDs(ps), []int64{child.ID})
	got, err := s.PipelineByID(ctx, child.ID)
	must(t, err, "child")
	if got.ParentPipelineID != parent.ID || got.ParentJobID != bridge.ID || got.IID != 2 {
		t.Errorf("child = %+v", got)
	}
}

func testPipelineFilters(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	u1, u2 := mustUser(t, s, "u1"), mustUser(t, s, "u2")
	pr, other := mustProject(t, s, "o", "p", ci.VisibilityPrivate), mustProject(t, s, "o", "q", ci.VisibilityPrivate)
	mk := func(project int64, ref string, tag bool, sha, source string, status ci.Status, user int64, hours int) *ci.Pipeline {
		t.Helper()
		p := &ci.Pipeline{ProjectID: project, Ref: ref, Tag: tag, SHA: sha, Source: source, Status: status, UserID: user,
			CreatedAt: base.Add(time.Duration(hours) * time.Hour)}
		must(t, s.CreatePipeline(ctx, p, nil), "create")
		return p
	}
	p1 := mk(pr.ID, "main", false, "aaa", "push", ci.StatusSuccess, u1.ID, 1)
	p2 := mk(pr.ID, "main", false, "bbb", "web", ci.StatusFailed, u2.ID, 2)
	p3 := mk(pr.ID, "v1.0", true, "ccc", "push", ci.StatusRunning, u1.ID, 3)
	p4 := mk(pr.ID, "feature", false, "aaa", "schedule", ci.StatusPending, u2.ID, 4)
	p5 := mk(other.ID, "main", false, "aaa", "push", ci.StatusSuccess, u1.ID, 5)
	at := func(h int) *time.Time { return ptr(base.Add(time.Duration(h) * time.Hour)) }
	P := pr.ID
	for _, tc := range []struct {
		name  string
		f     store.PipelineFilter
		want  []int64
		count int // when paging makes it differ from len(want)
	}{
		{"project", store.PipelineFilter{ProjectID: P}, []int64{p4.ID, p3.ID, p2.ID, p1.ID}, 0},
		{"every project", store.PipelineFilter{}, []int64{p5.ID, p4.ID, p3.ID, p2.ID, p1.ID}, 0},
		{"asc", store.PipelineFilter{ProjectID: P, Asc: true}, []int64{p1.ID, p2.ID, p3.ID, p4.ID}, 0},
		{"statuses", store.PipelineFilter{ProjectID: P, Statuses: []ci.Status{ci.StatusSuccess, ci.StatusFailed}}, []int64{p2.ID, p1.ID}, 0},
		{"scope running", store.PipelineFilter{ProjectID: P, Scope: "running"}, []int64{p3.ID}, 0},
		{"scope pending", store.PipelineFilter{ProjectID: P, Scope: "pending"}, []int64{p4.ID}, 0},
		{"scope finished", store.PipelineFilter{ProjectID: P, Scope: "finished"}, []int64{p2.ID, p1.ID}, 0},
		{"scope branches", store.PipelineFilter{ProjectID: P, Scope: "branches"}, []int64{p4.ID, p2.ID, p1.ID}, 0},
		{"scope tags", store.PipelineFilter{ProjectID: P, Scope: "tags"}, []int64{p3.ID}, 0},
		{"ref", store.PipelineFilter{ProjectID: P, Ref: "main"}, []int64{p2.ID, p1.ID}, 0},
		{"ref is exact", store.PipelineFilter{ProjectID: P, Ref: "MAIN"}, []int64{}, 0},
		{"sha", store.PipelineFilter{ProjectID: P, SHA: "aaa"}, []int64{p4.ID, p1.ID}, 0},
		{"source", store.PipelineFilter{ProjectID: P, Source: "push"}, []int64{p3.ID, p1.ID}, 0},
		{"user", store.PipelineFilter{ProjectID: P, UserID: u2.ID}, []int64{p4.ID, p2.ID}, 0},
		{"updated after (exclusive)", store.PipelineFilter{ProjectID: P, UpdatedAfter: at(2)}, []int64{p4.ID, p3.ID}, 0},
		{"updated before (exclusive)", store.PipelineFilter{ProjectID: P, UpdatedBefore: at(3)}, []int64{p2.ID, p1.ID}, 0},
		{"updated between", store.PipelineFilter{ProjectID: P, UpdatedAfter: at(1), UpdatedBefore: at(4)}, []int64{p3.ID, p2.ID}, 0},
		{"combined", store.PipelineFilter{ProjectID: P, Ref: "main", Source: "push", Statuses: []ci.Status{ci.StatusSuccess}}, []int64{p1.ID}, 0},
		{"order ref asc", store.PipelineFilter{ProjectID: P, OrderBy: "ref", Asc: true}, []int64{p4.ID, p1.ID, p2.ID, p3.ID}, 0},
		{"order ref desc", store.PipelineFilter{ProjectID: P, OrderBy: "ref"}, []int64{p3.ID, p2.ID, p1.ID, p4.ID}, 0},
		{"order status desc", store.PipelineFilter{ProjectID: P, OrderBy: "status"}, []int64{p1.ID, p3.ID, p4.ID, p2.ID}, 0},
		{"order updated_at asc", store.PipelineFilter{ProjectID: P, OrderBy: "updated_at", Asc: true}, []int64{p1.ID, p2.ID, p3.ID, p4.ID}, 0},
		{"order user_id desc", store.PipelineFilter{ProjectID: P, OrderBy: "user_id"}, []int64{p4.ID, p2.ID, p3.ID, p1.ID}, 0},
		{"order id asc", store.PipelineFilter{ProjectID: P, OrderBy: "id", Asc: true}, []int64{p1.ID, p2.ID, p3.ID, p4.ID}, 0},
		{"unknown order is id", store.PipelineFilter{ProjectID: P, OrderBy: "sha; DROP TABLE pipelines"}, []int64{p4.ID, p3.ID, p2.ID, p1.ID}, 0},
		{"limit", store.PipelineFilter{ProjectID: P, Limit: 2}, []int64{p4.ID, p3.ID}, 4},
		{"limit offset", store.PipelineFilter{ProjectID: P, Limit: 2, Offset: 1}, []int64{p3.ID, p2.ID}, 4},
		{"offset", store.PipelineFilter{ProjectID: P, Offset: 3}, []int64{p1.ID}, 4},
		{"offset past end", store.PipelineFilter{ProjectID: P, Limit: 5, Offset: 10}, []int64{}, 4},
	} {
		ps, err := s.ListPipelines(ctx, tc.f)
		must(t, err, tc.name)
		sameIDs(t, tc.name, pipelineIDs(ps), tc.want)
		n, err := s.CountPipelines(ctx, tc.f)
		must(t, err, tc.name+" count")
		want := tc.count
		if want == 0 {
			want = len(tc.want)
		}
		if n != want {
			t.Errorf("%s: count %d, want %d", tc.name, n, want)
		}
	}
}

func testPipelineDeleteCascades(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	a, b := newJob("a", ci.StatusRunning), newJob("b", ci.StatusPending)
	doomed := mustPipeline(t, s, pr.ID, "main", a, b)
	k := newJob("kept", ci.StatusRunning)
	kept := mustPipeline(t, s, pr.ID, "main", k)
	for _, j := range []*ci.Job{a, k} {
		_, err := s.AppendTrace(ctx, j.ID, 0, []byte("log of "+j.Name), 0)
		must(t, err, "trace")
		must(t, s.CreateArtifact(ctx, &ci.Artifact{JobID: j.ID, ProjectID: pr.ID, FileType: "archive", FileFormat: "zip",
			Filename: "a.zip", Size: 3, BlobKey: "blob/" + j.Name, ExpireAt: ptr(base)}), "artifact")
	}
	must(t, s.SetJobToken(ctx, a.ID, digest("doomed")), "token")

	must(t, s.DeletePipeline(ctx, doomed.ID), "delete")

	_, err := s.PipelineByID(ctx, doomed.ID)
	wantErr(t, err, store.ErrNotFound, "deleted pipeline")
	for _, j := range []*ci.Job{a, b} {
		_, err := s.JobByID(ctx, j.ID)
		wantErr(t, err, store.ErrNotFound, "job of deleted pipeline")
	}
	_, err = s.JobByTokenDigest(ctx, digest("doomed"))
	wantErr(t, err, store.ErrNotFound, "token of deleted job")
	tr, err := s.ReadTrace(ctx, a.ID)
	must(t, err, "read trace")
	if len(tr) != 0 {
		t.Errorf("trace of deleted job = %q", tr)
	}
	arts, err := s.ArtifactsByJobIDs(ctx, []int64{a.ID, k.ID})
	must(t, err, "artifacts")
	if len(arts[a.ID]) != 0 || len(arts[k.ID]) != 1 {
		t.Errorf("artifacts after delete = %v, want only the kept job's", arts)
	}
	exp, err := s.ExpiredArtifacts(ctx, base.Add(time.Hour), 10)
	must(t, err, "expired")
	if len(exp) != 1 || exp[0].JobID != k.ID {
		t.Errorf("expired artifacts after delete = %v, want only the kept job's", exp)
	}
	pj, err := s.PipelineJobs(ctx, doomed.ID)
	must(t, err, "pipeline jobs")
	if len(pj) != 0 {
		t.Errorf("jobs of deleted pipeline: %d", len(pj))
	}
	tr, err = s.ReadTrace(ctx, k.ID)
	must(t, err, "kept trace")
	if string(tr) != "log of kept" {
		t.Errorf("kept trace = %q", tr)
	}
	if _, err := s.PipelineByID(ctx, kept.ID); err != nil {
		t.Errorf("kept pipeline: %v", err)
	}
	n, err := s.CountJobs(ctx, store.JobFilter{ProjectID: pr.ID})
	must(t, err, "count jobs")
	if n != 1 {
		t.Errorf("jobs left = %d, want 1", n)
	}
}

// testPipelineDirty: the processing mark follows job status changes made in
// their own transactions, is left alone by processing's own UpdateJobs and
// by same-status updates, and is cleared only at the count it was read at.
func testPipelineDirty(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	p := &ci.Pipeline{ProjectID: pr.ID, Ref: "main", SHA: "abc", Source: "push", Status: ci.StatusPending, CreatedAt: base}
	a, b := newJob("a", ci.StatusPending), newJob("b", ci.StatusCreated)
	must(t, s.CreatePipeline(ctx, p, []*ci.Job{a, b}), "create")
	dirty := func(want int64, what string) {
		t.Helper()
		got, err := s.PipelineByID(ctx, p.ID)
		must(t, err, "get")
		if got.Dirty != want {
			t.Fatalf("%s: dirty = %d, want %d", what, got.Dirty, want)
		}
	}
	listed := func(before time.Time, want bool, what string) {
		t.Helper()
		ids, err := s.DirtyPipelines(ctx, before, 10)
		must(t, err, "dirty pipelines")
		if got := len(ids) == 1 && ids[0] == p.ID; got != want || (!want && len(ids) != 0) {
			t.Fatalf("%s: DirtyPipelines = %v, want listed %v", what, ids, want)
		}
	}
	dirty(2, "created with two jobs")
	listed(time.Now().Add(time.Hour), true, "after create")
	listed(time.Now().Add(-time.Hour), false, "mark newer than the cut-off")

	must(t, s.ClearPipelineDirty(ctx, p.ID, 1), "clear at an older count")
	dirty(2, "clear at an older count")
	must(t, s.ClearPipelineDirty(ctx, p.ID, 2), "clear")
	dirty(0, "cleared")
	listed(time.Now().Add(time.Hour), false, "cleared")

	a.Status = ci.StatusRunning
	must(t, s.UpdateJob(ctx, a, ci.StatusPending), "status change")
	dirty(1, "after a status change")
	a.AllowFailure = true
	must(t, s.UpdateJob(ctx, a, ci.StatusRunning), "same status")
	dirty(1, "after a same-status update")
	b.Status = ci.StatusPending
	stale, err := s.UpdateJobs(ctx, []store.JobUpdate{{Job: b, Expect: ci.StatusCreated}})
	must(t, err, "processing update")
	if len(stale) != 0 {
		t.Fatalf("stale %v", stale)
	}
	dirty(1, "after processing's own update")
	c := newJob("a", ci.StatusPending)
	c.PipelineID, c.ProjectID = p.ID, pr.ID
	must(t, s.InsertJobs(ctx, []*ci.Job{c}, []string{"a"}), "retry")
	dirty(2, "after a retry")
	listed(time.Now().Add(time.Hour), true, "after job changes")
	must(t, s.ClearPipelineDirty(ctx, p.ID, 2), "clear")
	dirty(0, "cleared again")
}
