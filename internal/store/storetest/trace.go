package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var traceTests = []test{
	{"Trace/Append", testTraceAppend},
	{"Trace/Limit", testTraceLimit},
	{"Trace/ConcurrentAppend", testTraceConcurrentAppend},
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
