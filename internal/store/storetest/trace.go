package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/tracelog"
)

var traceTests = []test{
	{"Trace/Append", testTraceAppend},
	{"Trace/Limit", testTraceLimit},
	{"Trace/ConcurrentAppend", testTraceConcurrentAppend},
	{"Trace/FinishJob", testTraceFinishJob},
	{"Trace/Index", testTraceIndex},
	{"Trace/ManyJobsAtOnce", testTraceManyJobsAtOnce},
	{"Trace/ConcurrentConflicts", testTraceConcurrentConflicts},
	{"Trace/ConcurrentLimit", testTraceConcurrentLimit},
}

// testTraceManyJobsAtOnce streams the logs of many jobs at once, as a fleet
// of runners does (appends arriving together are written in one
// transaction), mixed with appends that must fail or be ignored on their
// own: a missing job, a chunk over the size limit, a stale offset. Every
// log must hold exactly its chunks in order, with an index entry per chunk,
// and every caller must get its own answer.
func testTraceManyJobsAtOnce(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	const jobs, chunks, limit = 24, 20, 1 << 20
	var js []*ci.Job
	for i := range jobs {
		js = append(js, newJob(fmt.Sprintf("job %d", i), ci.StatusRunning))
	}
	mustPipeline(t, s, pr.ID, "main", js...)
	want := make([][]byte, jobs)
	errs := make(chan error, jobs*chunks*4)
	var wg sync.WaitGroup
	for i, j := range js {
		wg.Go(func() {
			var off int64
			for c := range chunks {
				chunk := fmt.Appendf(nil, "job %d chunk %d\n%s", i, c, bytes.Repeat([]byte{'x'}, i*c))
				size, err := s.AppendTrace(ctx, j.ID, off, chunk, limit)
				if err != nil || size != off+int64(len(chunk)) {
					errs <- fmt.Errorf("job %d chunk %d: size %d, err %v", i, c, size, err)
					return
				}
				want[i] = append(want[i], chunk...)
				// A retry of the same PATCH: ignored, told the size.
				if again, err := s.AppendTrace(ctx, j.ID, off, chunk, limit); err != nil || again != size {
					errs <- fmt.Errorf("job %d chunk %d again: size %d, err %v", i, c, again, err)
				}
				off = size
			}
			// Over the limit: refused, the log unchanged.
			if _, err := s.AppendTrace(ctx, j.ID, off, make([]byte, limit), limit); !errors.Is(err, store.ErrTraceLimit) {
				errs <- fmt.Errorf("job %d over the limit: %v, want ErrTraceLimit", i, err)
			}
		})
		wg.Go(func() {
			for c := range chunks {
				if _, err := s.AppendTrace(ctx, js[len(js)-1].ID+int64(1000+i*chunks+c), 0, []byte("x"), limit); !errors.Is(err, store.ErrNotFound) {
					errs <- fmt.Errorf("missing job: %v, want ErrNotFound", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, j := range js {
		got, err := s.ReadTrace(ctx, j.ID)
		must(t, err, "read")
		if !bytes.Equal(got, want[i]) {
			t.Errorf("job %d: log of %d bytes differs from the %d appended", i, len(got), len(want[i]))
		}
		marks, err := s.TraceIndex(ctx, j.ID)
		must(t, err, "index")
		if len(marks) != chunks {
			t.Errorf("job %d: %d index entries, want %d", i, len(marks), chunks)
		}
		stored, err := s.JobByID(ctx, j.ID)
		must(t, err, "job")
		if stored.TraceSize != int64(len(want[i])) {
			t.Errorf("job %d: trace_size %d, want %d", i, stored.TraceSize, len(want[i]))
		}
	}
}

// Each appended chunk gets its index entry (the scan state after it);
// ReadTraceRange reads any byte range; DeleteTrace drops the index too.
func testTraceIndex(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	j := newJob("build", ci.StatusRunning)
	mustPipeline(t, s, pr.ID, "main", j)
	parts := []string{"a\nsection_start:1:b[collapsed=true]\r\x1b[0Kx", "y\nsect", "ion_end:2:b\r\x1b[0K\n", "tail"}
	var want tracelog.State
	var off int64
	var log []byte
	for i, p := range parts {
		size, err := s.AppendTrace(ctx, j.ID, off, []byte(p), 0)
		must(t, err, "append")
		want.Feed([]byte(p), nil)
		marks, err := s.TraceIndex(ctx, j.ID)
		must(t, err, "index")
		if len(marks) != i+1 || marks[i].Pos != off || fmt.Sprint(marks[i].End) != fmt.Sprint(want) {
			t.Fatalf("after %q: index %+v, want entry %d at %d: %+v", p, marks, i, off, want)
		}
		off = size
		log = append(log, p...)
	}
	if want.Sections != 1 || len(want.Open) != 0 || want.Total() != 4 {
		t.Errorf("final state %+v", want)
	}
	for _, r := range [][2]int64{{0, 1}, {1, 12}, {5, 40}, {0, off}, {off - 2, -1}, {off, -1}, {3, 3}} {
		got, err := s.ReadTraceRange(ctx, j.ID, r[0], r[1])
		must(t, err, "range")
		end := r[1]
		if end < 0 {
			end = off
		}
		if w := log[r[0]:end]; !bytes.Equal(got, w) {
			t.Errorf("range %v = %q, want %q", r, got, w)
		}
	}
	must(t, s.DeleteTrace(ctx, j.ID), "delete")
	marks, err := s.TraceIndex(ctx, j.ID)
	must(t, err, "index")
	if len(marks) != 0 {
		t.Errorf("index after delete: %+v", marks)
	}
}

func testTraceAppend(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	j, other := newJob("build", ci.StatusRunning), newJob("other", ci.StatusRunning)
	mustPipeline(t, s, pr.ID, "main", j, other)
	binary := []byte{0, 0xff, '\r', '\n', 0x1b, '[', '0', 'm'}
	for _, step := range []struct {
		name   string
		offset int64
		data   []byte
		want   int64 // size after the call
	}{
		{"first chunk", 0, []byte("hello "), 6},
		{"second chunk", 6, []byte("world\n"), 12},
		{"offset behind: ignored", 6, []byte("again"), 12},
		{"offset ahead: ignored", 20, []byte("gap"), 12},
		{"negative offset: ignored", -1, []byte("neg"), 12},
		{"empty chunk", 12, nil, 12},
		{"binary", 12, binary, 12 + int64(len(binary))},
	} {
		size, err := s.AppendTrace(ctx, j.ID, step.offset, step.data, 0)
		must(t, err, step.name)
		if size != step.want {
			t.Errorf("%s: size %d, want %d", step.name, size, step.want)
		}
	}
	want := append([]byte("hello world\n"), binary...)
	got, err := s.ReadTrace(ctx, j.ID)
	must(t, err, "read")
	if !bytes.Equal(got, want) {
		t.Errorf("trace = %q, want %q", got, want)
	}
	stored, err := s.JobByID(ctx, j.ID)
	must(t, err, "job")
	if stored.TraceSize != int64(len(want)) {
		t.Errorf("trace_size = %d, want %d", stored.TraceSize, len(want))
	}
	for _, off := range []int64{0, 3, 6, 11, 12, 15, int64(len(want)), int64(len(want)) + 5} {
		got, err := s.ReadTraceFrom(ctx, j.ID, off)
		must(t, err, "read from")
		if w := want[min(off, int64(len(want))):]; !bytes.Equal(got, w) {
			t.Errorf("trace from %d = %q, want %q", off, got, w)
		}
	}
	got, err = s.ReadTrace(ctx, other.ID)
	must(t, err, "read other")
	if len(got) != 0 {
		t.Errorf("other job's trace = %q", got)
	}
	_, err = s.AppendTrace(ctx, other.ID+1000, 0, []byte("x"), 0)
	wantErr(t, err, store.ErrNotFound, "missing job")

	must(t, s.DeleteTrace(ctx, j.ID), "delete")
	got, err = s.ReadTrace(ctx, j.ID)
	must(t, err, "read after delete")
	if len(got) != 0 {
		t.Errorf("trace after delete = %q", got)
	}
	must(t, s.DeleteTrace(ctx, j.ID), "delete twice")
}

func testTraceLimit(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	j := newJob("build", ci.StatusRunning)
	mustPipeline(t, s, pr.ID, "main", j)
	const limit = 10
	for _, step := range []struct {
		name    string
		offset  int64
		data    string
		wantErr error
		want    int64
	}{
		{"under", 0, "12345", nil, 5},
		{"over", 5, "678901", store.ErrTraceLimit, 0},
		{"exactly at the limit", 5, "67890", nil, 10},
		{"one past", 10, "x", store.ErrTraceLimit, 0},
	} {
		size, err := s.AppendTrace(ctx, j.ID, step.offset, []byte(step.data), limit)
		if step.wantErr != nil {
			wantErr(t, err, step.wantErr, step.name)
			continue
		}
		must(t, err, step.name)
		if size != step.want {
			t.Errorf("%s: size %d, want %d", step.name, size, step.want)
		}
	}
	got, err := s.ReadTrace(ctx, j.ID)
	must(t, err, "read")
	if string(got) != "1234567890" {
		t.Errorf("trace = %q", got)
	}
}

// testTraceConcurrentAppend has several writers send a chunk at the same
// offset at once (a runner retrying a PATCH on two coordinators): exactly one
// chunk lands and the others are told the new size, without errors.
func testTraceConcurrentAppend(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	j := newJob("build", ci.StatusRunning)
	mustPipeline(t, s, pr.ID, "main", j)
	const writers = 16
	for round := range 5 {
		offset := int64(round * 8)
		sizes := make([]int64, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				sizes[w], errs[w] = s.AppendTrace(ctx, j.ID, offset, fmt.Appendf(nil, "r%dw%05d", round, w), 0)
			})
		}
		wg.Wait()
		for w := range writers {
			if errs[w] != nil {
				t.Fatalf("round %d writer %d: %v", round, w, errs[w])
			}
			if sizes[w] != offset+8 {
				t.Errorf("round %d writer %d: size %d, want %d", round, w, sizes[w], offset+8)
			}
		}
	}
	got, err := s.ReadTrace(ctx, j.ID)
	must(t, err, "read")
	if len(got) != 40 {
		t.Errorf("trace %q has %d bytes, want 40", got, len(got))
	}
}

// concurrentJobs stores n running jobs for the concurrent append tests.
func concurrentJobs(t *testing.T, s store.Store, n int) []*ci.Job {
	t.Helper()
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	jobs := make([]*ci.Job, n)
	for i := range jobs {
		jobs[i] = newJob(fmt.Sprintf("job%d", i), ci.StatusRunning)
	}
	mustPipeline(t, s, pr.ID, "main", jobs...)
	return jobs
}

// testTraceConcurrentConflicts: several writers per job send a chunk at
// the same offset, for many jobs at once; per job exactly one lands and
// every writer is told the new size, without errors.
func testTraceConcurrentConflicts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const writers = 4
	jobs := concurrentJobs(t, s, 20)
	for round := range 3 {
		offset := int64(round * 8)
		sizes := make([][writers]int64, len(jobs))
		errs := make([][writers]error, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			for w := range writers {
				wg.Go(func() {
					sizes[i][w], errs[i][w] = s.AppendTrace(ctx, j.ID, offset, fmt.Appendf(nil, "r%dw%05d", round, w), 0)
				})
			}
		}
		wg.Wait()
		for i := range jobs {
			for w := range writers {
				if errs[i][w] != nil {
					t.Fatalf("round %d job %d writer %d: %v", round, i, w, errs[i][w])
				}
				if sizes[i][w] != offset+8 {
					t.Errorf("round %d job %d writer %d: size %d, want %d", round, i, w, sizes[i][w], offset+8)
				}
			}
		}
	}
	for i, j := range jobs {
		got, err := s.ReadTrace(ctx, j.ID)
		must(t, err, "read")
		if len(got) != 24 || got[0] != 'r' || got[1] != '0' || got[9] != '1' || got[17] != '2' {
			t.Errorf("job %d: trace %q, want one 8-byte chunk per round", i, got)
		}
	}
}

// testTraceConcurrentLimit: appends to many jobs at once, half of them
// past the size limit; those alone are refused, with the size unchanged.
func testTraceConcurrentLimit(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const limit = 10
	jobs := concurrentJobs(t, s, 30)
	for _, j := range jobs {
		_, err := s.AppendTrace(ctx, j.ID, 0, []byte("12345"), limit)
		must(t, err, "first chunk")
	}
	// Job i sends 5 bytes (fits) when i is even, 6 (one past) when odd.
	chunk := func(i int) []byte { return []byte("678901")[:5+i%2] }
	sizes := make([]int64, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { sizes[i], errs[i] = s.AppendTrace(ctx, j.ID, 5, chunk(i), limit) })
	}
	wg.Wait()
	for i, j := range jobs {
		want := "1234567890"
		if i%2 == 1 {
			wantErr(t, errs[i], store.ErrTraceLimit, fmt.Sprintf("job %d", i))
			want = "12345"
		} else {
			must(t, errs[i], fmt.Sprintf("job %d", i))
			if sizes[i] != limit {
				t.Errorf("job %d: size %d, want %d", i, sizes[i], limit)
			}
		}
		got, err := s.ReadTrace(ctx, j.ID)
		must(t, err, "read")
		if string(got) != want {
			t.Errorf("job %d: trace %q, want %q", i, got, want)
		}
	}
}

// testTraceFinishJob: the final status, the archived log's artifact row and
// the removal of the live log are one write; a stale finish writes none of
// them.
func testTraceFinishJob(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	j := newJob("build", ci.StatusRunning)
	p := mustPipeline(t, s, pr.ID, "main", j)
	_, err := s.AppendTrace(ctx, j.ID, 0, []byte("log\n"), 0)
	must(t, err, "append")
	old := &ci.Artifact{JobID: j.ID, ProjectID: pr.ID, FileType: "trace", FileFormat: "raw", Filename: "job.log",
		Size: 1, BlobKey: "old-key"}
	_, err = s.ReplaceArtifact(ctx, old)
	must(t, err, "older trace artifact")
	trace := func() *ci.Artifact {
		return &ci.Artifact{JobID: j.ID, ProjectID: pr.ID, FileType: "trace", FileFormat: "raw", Filename: "job.log",
			Size: 4, BlobKey: "new-key"}
	}
	before, err := s.PipelineByID(ctx, p.ID)
	must(t, err, "pipeline")

	stale := *j
	stale.Status = ci.StatusSuccess
	_, err = s.FinishJob(ctx, &stale, ci.StatusPending, trace())
	wantErr(t, err, store.ErrStale, "finish from a status the job is not in")
	if got, _ := s.ReadTrace(ctx, j.ID); string(got) != "log\n" {
		t.Fatalf("live log after a stale finish = %q", got)
	}

	j.Status = ci.StatusSuccess
	replaced, err := s.FinishJob(ctx, j, ci.StatusRunning, trace())
	must(t, err, "finish")
	if len(replaced) != 1 || replaced[0] != "old-key" {
		t.Errorf("replaced keys %v, want [old-key]", replaced)
	}
	stored, err := s.JobByID(ctx, j.ID)
	must(t, err, "job")
	if stored.Status != ci.StatusSuccess || stored.TraceSize != 0 {
		t.Errorf("job %s trace_size %d, want success 0", stored.Status, stored.TraceSize)
	}
	if got, _ := s.ReadTrace(ctx, j.ID); len(got) != 0 {
		t.Errorf("live log after finish = %q", got)
	}
	arts, err := s.ArtifactsByJobIDs(ctx, []int64{j.ID})
	must(t, err, "artifacts")
	if len(arts[j.ID]) != 1 || arts[j.ID][0].BlobKey != "new-key" {
		t.Errorf("artifacts after finish: %+v", arts[j.ID])
	}
	after, err := s.PipelineByID(ctx, p.ID)
	must(t, err, "pipeline")
	if after.Dirty != before.Dirty+1 {
		t.Errorf("pipeline dirty %d → %d, want one more", before.Dirty, after.Dirty)
	}

	// Without a log nothing but the status is written.
	k := newJob("quiet", ci.StatusRunning)
	mustPipeline(t, s, pr.ID, "main", k)
	k.Status = ci.StatusFailed
	replaced, err = s.FinishJob(ctx, k, ci.StatusRunning, nil)
	must(t, err, "finish without a log")
	if len(replaced) != 0 {
		t.Errorf("replaced %v without a log", replaced)
	}
}
