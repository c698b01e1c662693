package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var scheduleTests = []test{
	{"PipelineSchedules/CRUD", testSchedulesCRUD},
	{"PipelineSchedules/ClaimOnce", testScheduleClaimOnce},
	{"PipelineSchedules/Variables", testScheduleVariables},
}

func mustSchedule(t *testing.T, s store.Store, p *ci.Project, owner int64, active bool, next *time.Time) *ci.PipelineSchedule {
	t.Helper()
	sc := &ci.PipelineSchedule{ProjectID: p.ID, OwnerID: owner, Description: "nightly", Ref: "refs/heads/main",
		Cron: "* * * * *", CronTimezone: "UTC", Active: active, NextRunAt: next, CreatedAt: base, UpdatedAt: base}
	must(t, s.CreatePipelineSchedule(ctxOf(t), sc), "create schedule")
	return sc
}

// testSchedulesCRUD: schedules are listed by id with their scope, read
// back whole, updated, listed as due when active and past, and deleted with
// their pipelines unlinked but kept.
func testSchedulesCRUD(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	other := mustProject(t, s, "o", "q", ci.VisibilityPrivate)
	u := mustUser(t, s, "owner")
	past, future := base.Add(-time.Minute), base.Add(time.Minute)
	a := mustSchedule(t, s, p, u.ID, true, &past)
	mustSchedule(t, s, p, u.ID, false, &past)
	c := mustSchedule(t, s, p, u.ID, true, &future)
	mustSchedule(t, s, other, u.ID, true, nil)

	all, err := s.ListPipelineSchedules(ctx, store.ScheduleFilter{ProjectID: p.ID})
	must(t, err, "list")
	if len(all) != 3 || all[0].ID != a.ID || all[2].ID != c.ID {
		t.Fatalf("list = %v", all)
	}
	n, err := s.CountPipelineSchedules(ctx, store.ScheduleFilter{ProjectID: p.ID, Active: ptr(false)})
	must(t, err, "count inactive")
	if n != 1 {
		t.Errorf("inactive = %d, want 1", n)
	}
	got, err := s.PipelineScheduleByID(ctx, p.ID, a.ID)
	must(t, err, "get")
	if got.Description != "nightly" || got.Ref != "refs/heads/main" || !got.Active || got.OwnerID != u.ID || len(got.Inputs) != 0 {
		t.Errorf("got %+v", got)
	}
	sameTime(t, "next_run_at", got.NextRunAt, &past)
	_, err = s.PipelineScheduleByID(ctx, other.ID, a.ID)
	wantErr(t, err, store.ErrNotFound, "schedule of another project")

	got.Description, got.Cron, got.Inputs = "hourly", "0 * * * *", []ci.ScheduleInput{{Name: "env", Value: "prod"}}
	must(t, s.UpdatePipelineSchedule(ctx, got), "update")
	got, err = s.PipelineScheduleByID(ctx, p.ID, a.ID)
	must(t, err, "get updated")
	if got.Description != "hourly" || got.Cron != "0 * * * *" || len(got.Inputs) != 1 || got.Inputs[0].Value != "prod" {
		t.Errorf("updated %+v", got)
	}

	due, err := s.DuePipelineSchedules(ctx, base, 10)
	must(t, err, "due")
	if len(due) != 1 || due[0].ID != a.ID {
		t.Fatalf("due = %v, want only %d (active and past)", due, a.ID)
	}

	pl := &ci.Pipeline{ProjectID: p.ID, Ref: "main", SHA: "0123456789abcdef0123456789abcdef01234567",
		BeforeSHA: "0000000000000000000000000000000000000000", Source: "schedule", Status: ci.StatusCreated,
		CreatedAt: base, PipelineScheduleID: a.ID}
	must(t, s.CreatePipeline(ctx, pl, nil), "schedule pipeline")
	pls, err := s.ListPipelines(ctx, store.PipelineFilter{ProjectID: p.ID, ScheduleID: a.ID})
	must(t, err, "schedule pipelines")
	if len(pls) != 1 || pls[0].ID != pl.ID || pls[0].PipelineScheduleID != a.ID {
		t.Fatalf("schedule pipelines = %v", pls)
	}
	must(t, s.DeletePipelineSchedule(ctx, p.ID, a.ID), "delete")
	wantErr(t, s.DeletePipelineSchedule(ctx, p.ID, a.ID), store.ErrNotFound, "delete again")
	if got, err := s.PipelineByID(ctx, pl.ID); err != nil || got.PipelineScheduleID != 0 {
		t.Errorf("the schedule's pipeline after the schedule's deletion: %v %+v", err, got)
	}
	pls, err = s.ListPipelines(ctx, store.PipelineFilter{ProjectID: p.ID, ScheduleID: a.ID})
	must(t, err, "unlinked")
	if len(pls) != 0 {
		t.Errorf("pipelines still linked to a deleted schedule: %v", pls)
	}
	must(t, s.DeactivatePipelineSchedule(ctx, c.ID, base), "deactivate")
	got, err = s.PipelineScheduleByID(ctx, p.ID, c.ID)
	must(t, err, "get deactivated")
	if got.Active {
		t.Error("still active")
	}

}

// testScheduleClaimOnce: of many concurrent claims of one due run, exactly
// one wins; a claim of a value already moved on, or of an inactive
// schedule, loses.
func testScheduleClaimOnce(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	due := base.Add(-10 * time.Minute)
	sc := mustSchedule(t, s, p, 1, true, &due)
	next := base.Add(time.Minute)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ok, err := s.ClaimPipelineSchedule(ctx, sc.ID, due, next, base)
			if err != nil {
				t.Errorf("claim: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d claims won, want 1", wins.Load())
	}
	got, err := s.PipelineScheduleByID(ctx, p.ID, sc.ID)
	must(t, err, "get")
	sameTime(t, "next_run_at", got.NextRunAt, &next)
	if !got.UpdatedAt.Equal(base) {
		t.Errorf("updated_at = %v", got.UpdatedAt)
	}
	due2, err := s.DuePipelineSchedules(ctx, base, 10)
	must(t, err, "due after claim")
	if len(due2) != 0 {
		t.Errorf("still due: %v", due2)
	}
	must(t, s.DeactivatePipelineSchedule(ctx, sc.ID, base), "deactivate")
	if ok, err := s.ClaimPipelineSchedule(ctx, sc.ID, next, next.Add(time.Minute), base); err != nil || ok {
		t.Errorf("claim of an inactive schedule = %v, %v", ok, err)
	}
}

// testScheduleVariables: variables by key, a taken key is a conflict,
// update and delete of an unknown key are not found.
func testScheduleVariables(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	sc := mustSchedule(t, s, p, 1, true, nil)
	must(t, s.CreateScheduleVariable(ctx, &ci.ScheduleVariable{ScheduleID: sc.ID, Key: "B", Value: "b", VariableType: "file"}), "create B")
	must(t, s.CreateScheduleVariable(ctx, &ci.ScheduleVariable{ScheduleID: sc.ID, Key: "A", Value: "a", VariableType: "env_var"}), "create A")
	wantErr(t, s.CreateScheduleVariable(ctx, &ci.ScheduleVariable{ScheduleID: sc.ID, Key: "A", Value: "x", VariableType: "env_var"}),
		store.ErrConflict, "create A again")
	must(t, s.UpdateScheduleVariable(ctx, &ci.ScheduleVariable{ScheduleID: sc.ID, Key: "A", Value: "a2", VariableType: "file"}), "update A")
	wantErr(t, s.UpdateScheduleVariable(ctx, &ci.ScheduleVariable{ScheduleID: sc.ID, Key: "Z", VariableType: "file"}),
		store.ErrNotFound, "update Z")
	vs, err := s.ScheduleVariables(ctx, sc.ID)
	must(t, err, "list")
	if len(vs) != 2 || vs[0].Key != "A" || vs[0].Value != "a2" || vs[0].VariableType != "file" || vs[1].Key != "B" {
		t.Fatalf("variables = %+v %+v", vs[0], vs[1])
	}
	must(t, s.DeleteScheduleVariable(ctx, sc.ID, "B"), "delete B")
	wantErr(t, s.DeleteScheduleVariable(ctx, sc.ID, "B"), store.ErrNotFound, "delete B again")
	must(t, s.DeletePipelineSchedule(ctx, p.ID, sc.ID), "delete schedule")
	vs, err = s.ScheduleVariables(ctx, sc.ID)
	must(t, err, "list after delete")
	if len(vs) != 0 {
		t.Errorf("variables outlived their schedule: %v", vs)
	}
}
