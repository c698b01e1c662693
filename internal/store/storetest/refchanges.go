package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var refChangeTests = []test{
	{"RefChanges/RoundTrip", testRefChangesRoundTrip},
	{"RefChanges/PipelineTakesItsChange", testRefChangePipelineOnce},
}

func testRefChangesRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a := mustProject(t, s, "o", "a", ci.VisibilityPrivate)
	b := mustProject(t, s, "o", "b", ci.VisibilityPrivate)
	in := []*store.RefChange{
		{ProjectID: a.ID, UserID: 7, Ref: "refs/heads/main", OldSHA: "0000", NewSHA: "abcd",
			PushOptions: []string{"ci.skip", "ci.variable=K=v=w"}, CreatedAt: base},
		{ProjectID: a.ID, UserID: 7, Ref: "refs/tags/v1", OldSHA: "0000", NewSHA: "abcd", CreatedAt: base},
	}
	must(t, s.AddRefChanges(ctx, in), "add a")
	must(t, s.AddRefChanges(ctx, []*store.RefChange{{ProjectID: b.ID, Ref: "refs/heads/x", OldSHA: "1", NewSHA: "2"}}), "add b")
	if in[0].ID == 0 || in[1].ID <= in[0].ID {
		t.Fatalf("ids %d, %d", in[0].ID, in[1].ID)
	}
	got, err := s.RefChanges(ctx, a.ID, 0)
	must(t, err, "list a")
	if len(got) != 2 || got[0].Ref != "refs/heads/main" || got[0].UserID != 7 || got[0].NewSHA != "abcd" ||
		!slices.Equal(got[0].PushOptions, in[0].PushOptions) || got[1].PushOptions != nil || !got[0].CreatedAt.Equal(base) {
		t.Fatalf("project a's changes = %+v", got)
	}
	all, err := s.RefChanges(ctx, 0, 0)
	must(t, err, "list all")
	if len(all) != 3 {
		t.Errorf("all changes = %d, want 3", len(all))
	}
	if first, err := s.RefChanges(ctx, 0, 1); err != nil || len(first) != 1 || first[0].ID != in[0].ID {
		t.Errorf("limit 1 = %+v, %v", first, err)
	}
	must(t, s.DeleteRefChange(ctx, in[1].ID), "delete")
	if err := s.DeleteRefChange(ctx, in[1].ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second delete = %v, want ErrConflict", err)
	}
}

// testRefChangePipelineOnce creates the pipeline of one ref change from
// many goroutines: the change is taken in the pipeline's transaction, so
// one pipeline is stored and every other attempt fails with ErrConflict.
func testRefChangePipelineOnce(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	pr := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	c := &store.RefChange{ProjectID: pr.ID, Ref: "refs/heads/main", OldSHA: "0", NewSHA: "abc"}
	must(t, s.AddRefChanges(ctx, []*store.RefChange{c}), "add")
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := &ci.Pipeline{ProjectID: pr.ID, Ref: "main", SHA: "abc", Source: "push", Status: ci.StatusCreated,
				RefChangeID: c.ID}
			errs[i] = s.CreatePipeline(ctx, p, []*ci.Job{newJob("build", ci.StatusCreated)})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("create: %v", err)
		}
	}
	count, err := s.CountPipelines(ctx, store.PipelineFilter{ProjectID: pr.ID})
	must(t, err, "count")
	if ok != 1 || count != 1 {
		t.Errorf("%d creates succeeded, %d pipelines stored; want 1 and 1", ok, count)
	}
	if left, err := s.RefChanges(ctx, pr.ID, 0); err != nil || len(left) != 0 {
		t.Errorf("changes left = %d, %v", len(left), err)
	}
}
