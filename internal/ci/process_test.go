package ci

import (
	"slices"
	"testing"
	"time"
)

// pj builds a ProcJob for the tables; IDs are assigned by position later.
func pj(name string, stage int, st Status, opts ...func(*ProcJob)) ProcJob {
	j := ProcJob{Name: name, StageIdx: stage, Status: st}
	for _, o := range opts {
		o(&j)
	}
	return j
}

func when(w string) func(*ProcJob) { return func(j *ProcJob) { j.When = w } }
func allowFailure(j *ProcJob)      { j.AllowFailure = true }
func retried(j *ProcJob)           { j.Retried = true }
func bridge(j *ProcJob)            { j.Kind = KindBridge }
func resourceGroup(j *ProcJob)     { j.HasResourceGroup = true }
func prerequisites(j *ProcJob)     { j.UnmetPrerequisites = true }
func immediately(j *ProcJob)       { j.EnqueueImmediately = true }
func startIn(d time.Duration) func(*ProcJob) {
	return func(j *ProcJob) { j.StartIn = &d }
}

// needs turns the job into DAG scheduling; needs() is `needs: []`.
func needs(names ...string) func(*ProcJob) {
	return func(j *ProcJob) {
		j.Needs = []Need{}
		for _, n := range names {
			j.Needs = append(j.Needs, Need{Name: n})
		}
	}
}

func optionalNeed(name string) func(*ProcJob) {
	return func(j *ProcJob) { j.Needs = append(j.Needs, Need{Name: name, Optional: true}) }
}

func withIDs(jobs []ProcJob) []ProcJob {
	out := slices.Clone(jobs)
	for i := range out {
		out[i].ID = int64(i + 1)
	}
	return out
}

// statusesByName returns the latest status of every job by name.
func statusesByName(jobs []ProcJob) map[string]Status {
	m := map[string]Status{}
	for _, j := range jobs {
		if !j.Retried {
			m[j.Name] = j.Status
		}
	}
	return m
}

func TestProcess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		jobs []ProcJob
		// want: final status of every latest job after one Process call.
		want map[string]Status
		// order: names in the order of the returned changes, when it matters.
		order []string
		// pipeline and warnings after applying the changes; "" skips the check.
		pipeline Status
		warnings bool
	}{
		{
			name: "new pipeline: only the first stage starts",
			jobs: []ProcJob{
				pj("build", 0, StatusCreated), pj("test", 1, StatusCreated), pj("deploy", 2, StatusCreated),
			},
			want:     map[string]Status{"build": StatusPending, "test": StatusCreated, "deploy": StatusCreated},
			pipeline: StatusPending,
		},
		{
			name: "previous stage running: wait",
			jobs: []ProcJob{
				pj("build", 0, StatusRunning), pj("test", 1, StatusCreated),
			},
			want:     map[string]Status{"build": StatusRunning, "test": StatusCreated},
			pipeline: StatusRunning,
		},
		{
			name: "previous stage succeeded: next stage starts",
			jobs: []ProcJob{
				pj("build", 0, StatusSuccess), pj("test", 1, StatusCreated), pj("lint", 1, StatusCreated), pj("deploy", 2, StatusCreated),
			},
			want:     map[string]Status{"build": StatusSuccess, "test": StatusPending, "lint": StatusPending, "deploy": StatusCreated},
			order:    []string{"test", "lint"},
			pipeline: StatusRunning,
		},
		{
			name: "failed job: on_success skipped, on_failure and always run, same stage untouched",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed), pj("sibling", 0, StatusRunning),
				pj("test", 1, StatusCreated),
			},
			want:     map[string]Status{"build": StatusFailed, "sibling": StatusRunning, "test": StatusCreated},
			pipeline: StatusRunning,
		},
		{
			name: "failed stage: on_success skipped, on_failure and always enqueued",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed),
				pj("test", 1, StatusCreated),
				pj("notify", 1, StatusCreated, when(WhenOnFailure)),
				pj("cleanup", 1, StatusCreated, when(WhenAlways)),
				pj("deploy", 2, StatusCreated),
			},
			want: map[string]Status{
				"build": StatusFailed, "test": StatusSkipped, "notify": StatusPending,
				"cleanup": StatusPending, "deploy": StatusCreated,
			},
			pipeline: StatusRunning,
		},
		{
			name: "failure cascades through every later stage in one call",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed),
				pj("test", 1, StatusCreated),
				pj("deploy", 2, StatusCreated),
				pj("report", 3, StatusCreated, when(WhenOnFailure)),
			},
			want: map[string]Status{
				"build": StatusFailed, "test": StatusSkipped, "deploy": StatusSkipped, "report": StatusPending,
			},
			order:    []string{"test", "deploy", "report"},
			pipeline: StatusRunning,
		},
		{
			name: "everything done after a failure: pipeline failed",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed), pj("test", 1, StatusCreated),
			},
			want:     map[string]Status{"build": StatusFailed, "test": StatusSkipped},
			pipeline: StatusFailed,
		},
		{
			name: "allowed failure is success with warnings and the pipeline passes",
			jobs: []ProcJob{
				pj("build", 0, StatusSuccess), pj("flaky", 0, StatusFailed, allowFailure),
				pj("test", 1, StatusCreated), pj("notify", 1, StatusCreated, when(WhenOnFailure)),
			},
			want: map[string]Status{"build": StatusSuccess, "flaky": StatusFailed, "test": StatusPending, "notify": StatusSkipped},
		},
		{
			name: "allowed failure, all done: success with warnings",
			jobs: []ProcJob{
				pj("build", 0, StatusSuccess), pj("flaky", 0, StatusCanceled, allowFailure), pj("test", 1, StatusSuccess),
			},
			want:     map[string]Status{"build": StatusSuccess, "flaky": StatusCanceled, "test": StatusSuccess},
			pipeline: StatusSuccess, warnings: true,
		},
		{
			name: "job-level manual (allow_failure) is ignored and never blocks",
			jobs: []ProcJob{
				pj("build", 0, StatusSuccess),
				pj("review", 1, StatusCreated, when(WhenManual), allowFailure),
				pj("deploy", 2, StatusCreated),
			},
			want:     map[string]Status{"build": StatusSuccess, "review": StatusManual, "deploy": StatusPending},
			pipeline: StatusRunning,
		},
		{
			name: "pipeline of only allowed-to-fail manual jobs ends skipped",
			jobs: []ProcJob{
				pj("a", 0, StatusCreated, when(WhenManual), allowFailure),
				pj("b", 1, StatusCreated, when(WhenManual), allowFailure),
			},
			want:     map[string]Status{"a": StatusManual, "b": StatusManual},
			pipeline: StatusSkipped,
		},
		{
			name: "blocking manual job holds later stages; pipeline blocked",
			jobs: []ProcJob{
				pj("build", 0, StatusSuccess),
				pj("approve", 1, StatusCreated, when(WhenManual)),
				pj("deploy", 2, StatusCreated),
				pj("always", 2, StatusCreated, when(WhenAlways)),
			},
			want:     map[string]Status{"build": StatusSuccess, "approve": StatusManual, "deploy": StatusCreated, "always": StatusCreated},
			pipeline: StatusManual,
		},
		{
			name: "blocking manual played and succeeded: processing continues",
			jobs: []ProcJob{
				pj("approve", 1, StatusSuccess, when(WhenManual)), pj("deploy", 2, StatusCreated),
			},
			want: map[string]Status{"approve": StatusSuccess, "deploy": StatusPending},
		},
		{
			name: "blocking manual played and failed: later on_success skipped",
			jobs: []ProcJob{
				pj("approve", 1, StatusFailed, when(WhenManual)), pj("deploy", 2, StatusCreated),
			},
			want:     map[string]Status{"approve": StatusFailed, "deploy": StatusSkipped},
			pipeline: StatusFailed,
		},
		{
			name: "after a cancel even when: always is skipped",
			jobs: []ProcJob{
				pj("build", 0, StatusCanceled),
				pj("test", 1, StatusCreated),
				pj("notify", 1, StatusCreated, when(WhenOnFailure)),
				pj("cleanup", 1, StatusCreated, when(WhenAlways)),
				pj("dag", 1, StatusCreated, when(WhenAlways), needs("build")),
			},
			want: map[string]Status{
				"build": StatusCanceled, "test": StatusSkipped, "notify": StatusSkipped,
				"cleanup": StatusSkipped, "dag": StatusSkipped,
			},
			pipeline: StatusCanceled,
		},
		{
			name: "previous stage skipped: on_success and always run, on_failure skipped",
			jobs: []ProcJob{
				pj("build", 0, StatusSkipped),
				pj("test", 1, StatusCreated), pj("cleanup", 1, StatusCreated, when(WhenAlways)),
				pj("notify", 1, StatusCreated, when(WhenOnFailure)),
			},
			want: map[string]Status{"build": StatusSkipped, "test": StatusPending, "cleanup": StatusPending, "notify": StatusSkipped},
		},
		{
			name: "needs: [] starts at once while earlier stages run",
			jobs: []ProcJob{
				pj("build", 0, StatusRunning), pj("lint", 2, StatusCreated, needs()), pj("test", 1, StatusCreated),
			},
			want: map[string]Status{"build": StatusRunning, "lint": StatusPending, "test": StatusCreated},
		},
		{
			name: "DAG job waits on its needs only",
			jobs: []ProcJob{
				pj("build-a", 0, StatusSuccess), pj("build-b", 0, StatusRunning),
				pj("test-a", 1, StatusCreated, needs("build-a")),
				pj("test-b", 1, StatusCreated, needs("build-b")),
			},
			want: map[string]Status{"build-a": StatusSuccess, "build-b": StatusRunning, "test-a": StatusPending, "test-b": StatusCreated},
		},
		{
			name: "DAG on a skipped need: on_success skipped, always runs",
			jobs: []ProcJob{
				pj("build", 0, StatusSkipped),
				pj("test", 1, StatusCreated, needs("build")),
				pj("cleanup", 1, StatusCreated, when(WhenAlways), needs("build")),
			},
			want: map[string]Status{"build": StatusSkipped, "test": StatusSkipped, "cleanup": StatusPending},
		},
		{
			name: "DAG on an allowed-to-fail manual job is skipped",
			jobs: []ProcJob{
				pj("review", 0, StatusCreated, when(WhenManual), allowFailure),
				pj("deploy", 1, StatusCreated, needs("review")),
			},
			want:  map[string]Status{"review": StatusManual, "deploy": StatusSkipped},
			order: []string{"review", "deploy"},
		},
		{
			name: "DAG on a blocking manual job waits",
			jobs: []ProcJob{
				pj("approve", 0, StatusCreated, when(WhenManual)),
				pj("deploy", 1, StatusCreated, needs("approve")),
			},
			want: map[string]Status{"approve": StatusManual, "deploy": StatusCreated},
		},
		{
			name: "DAG on a failed need: on_failure runs, on_success skipped",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed),
				pj("test", 1, StatusCreated, needs("build")),
				pj("debug", 1, StatusCreated, when(WhenOnFailure), needs("build")),
			},
			want: map[string]Status{"build": StatusFailed, "test": StatusSkipped, "debug": StatusPending},
		},
		{
			name: "DAG on an allowed failure counts as success",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed, allowFailure),
				pj("test", 1, StatusCreated, needs("build")),
			},
			want: map[string]Status{"build": StatusFailed, "test": StatusPending},
		},
		{
			name: "absent optional need is ignored",
			jobs: []ProcJob{
				pj("build", 0, StatusRunning),
				pj("test", 1, StatusCreated, needs("build"), optionalNeed("gone")),
				pj("lint", 1, StatusCreated, optionalNeed("gone")),
			},
			want: map[string]Status{"build": StatusRunning, "test": StatusCreated, "lint": StatusPending},
		},
		{
			name: "same-stage needs are processed in needs order within one pass",
			jobs: []ProcJob{
				pj("build", 0, StatusSuccess),
				pj("second", 1, StatusCreated, needs("first")),
				pj("first", 1, StatusCreated, needs()),
				pj("third", 1, StatusCreated),
			},
			want:  map[string]Status{"build": StatusSuccess, "second": StatusCreated, "first": StatusPending, "third": StatusPending},
			order: []string{"first", "third"},
		},
		{
			name: "same-stage need skipped in this pass skips the dependant in the same call",
			jobs: []ProcJob{
				pj("build", 0, StatusSuccess),
				pj("second", 1, StatusCreated, needs("first")),
				pj("first", 1, StatusCreated, when(WhenOnFailure)),
			},
			want:  map[string]Status{"build": StatusSuccess, "second": StatusSkipped, "first": StatusSkipped},
			order: []string{"first", "second"},
		},
		{
			name: "enqueue targets: resource group, prerequisites, both",
			jobs: []ProcJob{
				pj("rg", 0, StatusCreated, resourceGroup),
				pj("prep", 0, StatusCreated, prerequisites),
				pj("both", 0, StatusCreated, resourceGroup, prerequisites),
				pj("bridge-prep", 0, StatusCreated, bridge, prerequisites),
			},
			want: map[string]Status{
				"rg": StatusWaitingForResource, "prep": StatusPreparing, "both": StatusWaitingForResource,
				"bridge-prep": StatusPending,
			},
			pipeline: StatusRunning,
		},
		{
			name: "delayed job is scheduled; without start_in it is a manual action",
			jobs: []ProcJob{
				pj("later", 0, StatusCreated, when(WhenDelayed), startIn(30*time.Minute)),
				pj("odd", 0, StatusCreated, when(WhenDelayed)),
			},
			want: map[string]Status{"later": StatusScheduled, "odd": StatusManual},
			// A blocking manual job outranks a scheduled one (rules 11, 12).
			pipeline: StatusManual,
		},
		{
			name:     "a pipeline waiting only on a delayed job is scheduled",
			jobs:     []ProcJob{pj("later", 0, StatusCreated, when(WhenDelayed), startIn(time.Minute))},
			want:     map[string]Status{"later": StatusScheduled},
			pipeline: StatusScheduled,
		},
		{
			name: "delayed job in a later stage waits like any other",
			jobs: []ProcJob{
				pj("build", 0, StatusRunning),
				pj("later", 1, StatusCreated, when(WhenDelayed), startIn(time.Minute)),
			},
			want: map[string]Status{"build": StatusRunning, "later": StatusCreated},
		},
		{
			name: "retried clone of an action job is enqueued at once",
			jobs: []ProcJob{
				pj("deploy", 0, StatusSuccess, when(WhenManual), retried),
				pj("deploy", 0, StatusCreated, when(WhenManual), immediately),
				pj("wait", 0, StatusCreated, when(WhenDelayed), startIn(time.Hour), immediately),
			},
			want: map[string]Status{"deploy": StatusPending, "wait": StatusPending},
		},
		{
			name: "bridges: manual is an action, delayed is not",
			jobs: []ProcJob{
				pj("trigger-manual", 0, StatusCreated, bridge, when(WhenManual)),
				pj("trigger-delayed", 0, StatusCreated, bridge, when(WhenDelayed), startIn(time.Minute)),
				pj("trigger", 0, StatusCreated, bridge, resourceGroup),
			},
			want: map[string]Status{
				"trigger-manual": StatusManual, "trigger-delayed": StatusPending, "trigger": StatusWaitingForResource,
			},
		},
		{
			name: "retried jobs are invisible to processing",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed, retried),
				pj("build", 0, StatusSuccess),
				pj("test", 1, StatusCreated),
			},
			want:     map[string]Status{"build": StatusSuccess, "test": StatusPending},
			pipeline: StatusRunning,
		},
		{
			name: "a retried job in created is not processed",
			jobs: []ProcJob{
				pj("old", 0, StatusCreated, retried),
			},
			want: map[string]Status{},
		},
		{
			name: "unknown when is skipped",
			jobs: []ProcJob{
				pj("weird", 0, StatusCreated, when("never")),
			},
			want:     map[string]Status{"weird": StatusSkipped},
			pipeline: StatusSkipped,
		},
		{
			name: "only non-created jobs: nothing to do",
			jobs: []ProcJob{
				pj("a", 0, StatusPending), pj("b", 1, StatusManual), pj("c", 2, StatusSkipped),
			},
			want:     map[string]Status{"a": StatusPending, "b": StatusManual, "c": StatusSkipped},
			pipeline: StatusRunning,
		},
		{
			name: "canceling job in an earlier stage holds the next stage",
			jobs: []ProcJob{
				pj("build", 0, StatusCanceling), pj("test", 1, StatusCreated),
			},
			want:     map[string]Status{"build": StatusCanceling, "test": StatusCreated},
			pipeline: StatusRunning,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jobs := withIDs(tt.jobs)
			changes := Process(jobs, testNow)
			after := Apply(jobs, changes)
			got := statusesByName(after)
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("%s: got %s, want %s", name, got[name], want)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("latest jobs %v, want exactly %v", got, tt.want)
			}
			if tt.order != nil {
				var names []string
				for _, c := range changes {
					names = append(names, c.Name)
				}
				if !slices.Equal(names, tt.order) {
					t.Errorf("change order %v, want %v", names, tt.order)
				}
			}
			for _, c := range changes {
				if c.From != StatusCreated {
					t.Errorf("change %+v does not start from created", c)
				}
				if want, err := Fire(jobs[c.ID-1].Kind, c.From, c.Event, Guards{
					HasResourceGroup: jobs[c.ID-1].HasResourceGroup, UnmetPrerequisites: jobs[c.ID-1].UnmetPrerequisites,
				}); err != nil || want != c.To {
					t.Errorf("change %+v disagrees with Fire: %s %v", c, want, err)
				}
			}
			// Processing is idempotent: a second call has nothing left to do.
			if again := Process(after, testNow); len(again) != 0 {
				t.Errorf("second Process returned %+v", again)
			}
			if tt.pipeline != "" {
				st, warn := PipelineStatus(after)
				if st != tt.pipeline || warn != tt.warnings {
					t.Errorf("pipeline = %s warnings=%v, want %s warnings=%v", st, warn, tt.pipeline, tt.warnings)
				}
			}
		})
	}
}

func TestProcessScheduledAt(t *testing.T) {
	t.Parallel()
	jobs := withIDs([]ProcJob{pj("later", 0, StatusCreated, when(WhenDelayed), startIn(90*time.Second))})
	changes := Process(jobs, testNow)
	if len(changes) != 1 {
		t.Fatalf("changes = %+v", changes)
	}
	c := changes[0]
	if c.Event != EventSchedule || c.To != StatusScheduled || c.ScheduledAt == nil || !c.ScheduledAt.Equal(testNow.Add(90*time.Second)) {
		t.Fatalf("got %+v", c)
	}
	if !Effects(KindBuild, c.From, c.To).SetScheduledAt {
		t.Fatal("schedule must set scheduled_at")
	}
}

func TestProcessEvents(t *testing.T) {
	t.Parallel()
	jobs := withIDs([]ProcJob{
		pj("build", 0, StatusFailed),
		pj("a", 1, StatusCreated),
		pj("b", 1, StatusCreated, when(WhenOnFailure)),
		pj("c", 1, StatusCreated, when(WhenOnFailure), when(WhenManual)),
		pj("d", 1, StatusCreated, when(WhenAlways), resourceGroup),
	})
	want := map[string]Event{"a": EventSkip, "b": EventEnqueue, "c": EventSkip, "d": EventEnqueue}
	for _, c := range Process(jobs, testNow) {
		if want[c.Name] != c.Event {
			t.Errorf("%s: event %s, want %s", c.Name, c.Event, want[c.Name])
		}
	}
}

func TestCompositeStatus(t *testing.T) {
	t.Parallel()
	s := func(st Status) StatusItem { return StatusItem{Status: st} }
	af := func(st Status) StatusItem { return StatusItem{Status: st, AllowFailure: true} }
	tests := []struct {
		name     string
		items    []StatusItem
		dag      bool
		want     Status
		warnings bool
	}{
		{"empty is nil", nil, false, "", false},
		{"empty dag is nil", nil, true, "", false},
		// Rule 1 (DAG only).
		{"1 dag any skipped", []StatusItem{s(StatusSuccess), s(StatusSkipped)}, true, StatusSkipped, false},
		{"1 dag any ignored", []StatusItem{s(StatusSuccess), af(StatusManual)}, true, StatusSkipped, false},
		{"1 dag running need is not complete", []StatusItem{s(StatusRunning)}, true, StatusRunning, false},
		{"1 dag success with warnings", []StatusItem{s(StatusSuccess), af(StatusFailed)}, true, StatusSuccess, true},
		{"1 not in stage mode", []StatusItem{s(StatusSuccess), s(StatusSkipped)}, false, StatusSuccess, false},
		// Rule 2.
		{"2 only skipped", []StatusItem{s(StatusSkipped)}, false, StatusSkipped, false},
		{"2 only ignored", []StatusItem{af(StatusManual)}, false, StatusSkipped, false},
		{"2 skipped and ignored", []StatusItem{s(StatusSkipped), af(StatusManual)}, false, StatusSkipped, false},
		// Rule 3.
		{"3 success", []StatusItem{s(StatusSuccess)}, false, StatusSuccess, false},
		{"3 success skipped sww ignored", []StatusItem{s(StatusSuccess), s(StatusSkipped), af(StatusCanceled), af(StatusManual)}, false, StatusSuccess, true},
		{"3 only sww", []StatusItem{af(StatusFailed)}, false, StatusSuccess, true},
		// Rule 4.
		{"4 created", []StatusItem{s(StatusCreated)}, false, StatusCreated, false},
		{"4 created sww ignored", []StatusItem{s(StatusCreated), af(StatusFailed), af(StatusManual)}, false, StatusCreated, true},
		// Rule 5.
		{"5 preparing", []StatusItem{s(StatusPreparing), af(StatusManual)}, false, StatusPreparing, false},
		// Rule 6.
		{"6 canceled", []StatusItem{s(StatusCanceled)}, false, StatusCanceled, false},
		{"6 canceled success skipped", []StatusItem{s(StatusCanceled), s(StatusSuccess), s(StatusSkipped), af(StatusFailed)}, false, StatusCanceled, true},
		// Rule 7.
		{"7 pending", []StatusItem{s(StatusPending)}, false, StatusPending, false},
		{"7 pending created skipped", []StatusItem{s(StatusPending), s(StatusCreated), s(StatusSkipped)}, false, StatusPending, false},
		// Rule 8.
		{"8 running", []StatusItem{s(StatusRunning)}, false, StatusRunning, false},
		{"8 pending and success", []StatusItem{s(StatusPending), s(StatusSuccess)}, false, StatusRunning, false},
		{"8 running beats failed", []StatusItem{s(StatusRunning), s(StatusFailed)}, false, StatusRunning, false},
		{"8 running beats manual", []StatusItem{s(StatusRunning), s(StatusManual)}, false, StatusRunning, false},
		// Rule 9.
		{"9 waiting_for_resource", []StatusItem{s(StatusWaitingForResource)}, false, StatusWaitingForResource, false},
		{"9 beats manual", []StatusItem{s(StatusWaitingForResource), s(StatusManual), s(StatusFailed)}, false, StatusWaitingForResource, false},
		// Rule 10.
		{"10 waiting_for_callback", []StatusItem{s(StatusWaitingForCallback), s(StatusManual)}, false, StatusWaitingForCallback, false},
		// Rule 11.
		{"11 blocking manual", []StatusItem{s(StatusManual)}, false, StatusManual, false},
		{"11 manual beats scheduled", []StatusItem{s(StatusManual), s(StatusScheduled), s(StatusSuccess)}, false, StatusManual, false},
		{"11 manual beats failed", []StatusItem{s(StatusManual), s(StatusFailed)}, false, StatusManual, false},
		// Rule 12.
		{"12 scheduled", []StatusItem{s(StatusScheduled), s(StatusSuccess)}, false, StatusScheduled, false},
		// Rule 13.
		{"13 preparing with success", []StatusItem{s(StatusPreparing), s(StatusSuccess)}, false, StatusPreparing, false},
		// Rule 14.
		{"14 created with success", []StatusItem{s(StatusCreated), s(StatusSuccess)}, false, StatusRunning, false},
		{"14 created with failed", []StatusItem{s(StatusCreated), s(StatusFailed)}, false, StatusRunning, false},
		// Rule 15.
		{"15 canceling", []StatusItem{s(StatusCanceling)}, false, StatusCanceling, false},
		{"15 canceling and canceled", []StatusItem{s(StatusCanceling), s(StatusCanceled)}, false, StatusCanceling, false},
		// Rule 16.
		{"16 failed", []StatusItem{s(StatusFailed)}, false, StatusFailed, false},
		{"16 failed success skipped canceled", []StatusItem{s(StatusFailed), s(StatusSuccess), s(StatusSkipped), s(StatusCanceled)}, false, StatusFailed, false},
		{"16 dag failed need", []StatusItem{s(StatusFailed), s(StatusSuccess)}, true, StatusFailed, false},
		// allow_failure only changes failed, canceled and manual.
		{"allow_failure success stays success", []StatusItem{af(StatusSuccess)}, false, StatusSuccess, false},
		{"allow_failure running stays running", []StatusItem{af(StatusRunning)}, false, StatusRunning, false},
		{"allow_failure skipped stays skipped", []StatusItem{af(StatusSkipped)}, false, StatusSkipped, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CompositeStatus(tt.items, tt.dag); got != tt.want {
				t.Errorf("CompositeStatus = %q, want %q", got, tt.want)
			}
			if got := HasWarnings(tt.items); got != tt.warnings {
				t.Errorf("HasWarnings = %v, want %v", got, tt.warnings)
			}
		})
	}
}

func TestStageAndPipelineStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		jobs     []ProcJob
		stages   map[int]Status
		pipeline Status
		warnings bool
	}{
		{"no jobs", nil, map[int]Status{0: StatusSuccess}, StatusSuccess, false},
		{
			"mixed stages",
			[]ProcJob{pj("a", 0, StatusSuccess), pj("b", 0, StatusFailed, allowFailure), pj("c", 1, StatusRunning), pj("d", 2, StatusCreated)},
			map[int]Status{0: StatusSuccess, 1: StatusRunning, 2: StatusCreated, 3: StatusSuccess},
			StatusRunning, true,
		},
		{
			"retried failure does not count",
			[]ProcJob{pj("a", 0, StatusFailed, retried), pj("a", 0, StatusSuccess)},
			map[int]Status{0: StatusSuccess}, StatusSuccess, false,
		},
		{
			"retried allowed failure gives no warning",
			[]ProcJob{pj("a", 0, StatusFailed, allowFailure, retried), pj("a", 0, StatusSuccess, allowFailure)},
			map[int]Status{0: StatusSuccess}, StatusSuccess, false,
		},
		{
			"allowed bridge failure: success without pipeline warning",
			[]ProcJob{pj("a", 0, StatusSuccess), pj("t", 0, StatusFailed, bridge, allowFailure)},
			map[int]Status{0: StatusSuccess}, StatusSuccess, false,
		},
		{
			"depend bridge failed without allow_failure fails the parent",
			[]ProcJob{pj("a", 0, StatusSuccess), pj("t", 1, StatusFailed, bridge)},
			map[int]Status{0: StatusSuccess, 1: StatusFailed}, StatusFailed, false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for idx, want := range tt.stages {
				if got := StageStatus(tt.jobs, idx); got != want {
					t.Errorf("stage %d = %s, want %s", idx, got, want)
				}
			}
			st, warn := PipelineStatus(tt.jobs)
			if st != tt.pipeline || warn != tt.warnings {
				t.Errorf("pipeline = %s/%v, want %s/%v", st, warn, tt.pipeline, tt.warnings)
			}
		})
	}
}

func TestNextPipelineStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		current, composite, want Status
	}{
		{StatusCreated, StatusCreated, StatusCreated},
		{StatusRunning, StatusCreated, StatusRunning}, // created never moves the pipeline
		{StatusCreated, StatusPending, StatusPending},
		{StatusManual, StatusPending, StatusPending},
		{StatusSkipped, StatusPending, StatusPending},
		{StatusScheduled, StatusPending, StatusPending},
		{StatusPending, StatusPending, StatusPending},
		{StatusSuccess, StatusPending, StatusRunning}, // retry of a finished pipeline
		{StatusFailed, StatusPending, StatusRunning},
		{StatusCanceled, StatusPending, StatusRunning},
		{StatusCanceling, StatusPending, StatusRunning},
		{StatusRunning, StatusPending, StatusRunning},
		{StatusWaitingForCallback, StatusPending, StatusWaitingForCallback},
		{StatusRunning, StatusCanceling, StatusCanceling},
		{StatusCanceled, StatusCanceling, StatusCanceled},
		{StatusRunning, StatusSuccess, StatusSuccess},
		{StatusSuccess, StatusSuccess, StatusSuccess},
		{StatusRunning, StatusFailed, StatusFailed},
		{StatusRunning, StatusManual, StatusManual},
		{StatusRunning, StatusScheduled, StatusScheduled},
		{StatusRunning, StatusSkipped, StatusSkipped},
		{StatusRunning, StatusCanceled, StatusCanceled},
		{StatusPending, StatusRunning, StatusRunning},
		{StatusPending, StatusWaitingForResource, StatusWaitingForResource},
		{StatusPending, StatusPreparing, StatusPreparing},
		{StatusRunning, StatusWaitingForCallback, StatusWaitingForCallback},
		{StatusRunning, "", StatusRunning},
		{StatusRunning, Status("bogus"), StatusRunning},
	}
	for _, tt := range tests {
		t.Run(string(tt.current)+"+"+string(tt.composite), func(t *testing.T) {
			t.Parallel()
			if got := NextPipelineStatus(tt.current, tt.composite); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBridgeStatusFromDownstream(t *testing.T) {
	t.Parallel()
	// Explicit expectations; every other (strategy, status) keeps the bridge.
	want := map[Strategy]map[Status]Status{
		StrategyDepend: {
			StatusSuccess: StatusSuccess, StatusCanceled: StatusCanceled,
			StatusFailed: StatusFailed, StatusSkipped: StatusFailed,
		},
		StrategyMirror: {
			StatusSuccess: StatusSuccess, StatusCanceled: StatusCanceled, StatusFailed: StatusFailed,
			StatusManual: StatusManual, StatusSkipped: StatusSkipped,
		},
	}
	for _, strategy := range []Strategy{StrategyNone, StrategyDepend, StrategyMirror, Strategy("bogus")} {
		t.Run(string(strategy), func(t *testing.T) {
			t.Parallel()
			for _, ds := range AllStatuses {
				got, ok := BridgeStatusFromDownstream(strategy, ds)
				exp, expOK := want[strategy][ds]
				if strategy == StrategyNone {
					exp, expOK = StatusSuccess, true
				}
				if got != exp || ok != expOK {
					t.Errorf("downstream %s: got (%q, %v), want (%q, %v)", ds, got, ok, exp, expOK)
				}
			}
		})
	}
}

func TestResetSkipped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		jobs  []ProcJob
		bases []string // names of the (latest) base jobs
		want  []string // reset jobs, in order
	}{
		{
			name: "later stages only, skipped only",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed),
				pj("lint", 0, StatusSkipped),
				pj("test", 1, StatusSkipped),
				pj("done", 1, StatusSuccess),
				pj("deploy", 2, StatusSkipped),
			},
			bases: []string{"build"},
			want:  []string{"test", "deploy"},
		},
		{
			name: "same-stage needs descendants, transitively",
			jobs: []ProcJob{
				pj("build", 1, StatusFailed),
				pj("other", 1, StatusSkipped),
				pj("c", 1, StatusSkipped, needs("b")),
				pj("b", 1, StatusSkipped, needs("build")),
				pj("late", 2, StatusSkipped),
			},
			bases: []string{"build"},
			want:  []string{"b", "c", "late"},
		},
		{
			name: "descendant through a non-skipped job",
			jobs: []ProcJob{
				pj("build", 1, StatusFailed),
				pj("mid", 1, StatusSuccess, needs("build")),
				pj("leaf", 1, StatusSkipped, needs("mid")),
			},
			bases: []string{"build"},
			want:  []string{"leaf"},
		},
		{
			name: "earliest base stage wins with several bases",
			jobs: []ProcJob{
				pj("a", 0, StatusManual),
				pj("b", 2, StatusManual),
				pj("x", 1, StatusSkipped),
				pj("y", 3, StatusSkipped),
			},
			bases: []string{"b", "a"},
			want:  []string{"x", "y"},
		},
		{
			name: "retried skipped jobs are left alone",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed),
				pj("test", 1, StatusSkipped, retried),
				pj("test", 1, StatusCreated),
			},
			bases: []string{"build"},
			want:  nil,
		},
		{
			name: "stage order then needs order",
			jobs: []ProcJob{
				pj("build", 0, StatusFailed),
				pj("z", 2, StatusSkipped),
				pj("y", 1, StatusSkipped, needs("x")),
				pj("x", 1, StatusSkipped),
			},
			bases: []string{"build"},
			want:  []string{"x", "y", "z"},
		},
		{
			name:  "unknown base: nothing",
			jobs:  []ProcJob{pj("test", 1, StatusSkipped)},
			bases: []string{"nope"},
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jobs := withIDs(tt.jobs)
			var ids []int64
			for _, b := range tt.bases {
				for _, j := range jobs {
					if j.Name == b && !j.Retried {
						ids = append(ids, j.ID)
					}
				}
			}
			if len(ids) == 0 {
				ids = []int64{999}
			}
			var got []string
			for _, c := range ResetSkipped(jobs, ids...) {
				if c.Event != EventProcess || c.From != StatusSkipped || c.To != StatusCreated {
					t.Errorf("bad change %+v", c)
				}
				got = append(got, c.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("reset %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRetryFlow walks the documented retry story end to end: a failed build
// skipped the rest, the retry succeeds, the skipped jobs reopen, and the
// manual one comes back as manual.
func TestRetryFlow(t *testing.T) {
	t.Parallel()
	jobs := withIDs([]ProcJob{
		pj("build", 0, StatusFailed, retried),
		pj("test", 1, StatusSkipped),
		pj("deploy", 2, StatusSkipped, when(WhenManual)),
		pj("smoke", 3, StatusSkipped, needs("deploy")),
		pj("build", 0, StatusPending), // the clone
	})
	jobs = Apply(jobs, ResetSkipped(jobs, 1))
	if got := statusesByName(jobs); got["test"] != StatusCreated || got["deploy"] != StatusCreated || got["smoke"] != StatusCreated {
		t.Fatalf("after reset: %v", got)
	}
	// The clone is still pending: everything waits.
	if ch := Process(jobs, testNow); len(ch) != 0 {
		t.Fatalf("processed too early: %+v", ch)
	}
	jobs[4].Status = StatusSuccess
	jobs = Apply(jobs, Process(jobs, testNow))
	got := statusesByName(jobs)
	if got["test"] != StatusPending || got["deploy"] != StatusCreated || got["smoke"] != StatusCreated {
		t.Fatalf("after build success: %v", got)
	}
	jobs[1].Status = StatusSuccess
	jobs = Apply(jobs, Process(jobs, testNow))
	got = statusesByName(jobs)
	// deploy is a blocking manual job (no allow_failure): smoke waits on it.
	if got["deploy"] != StatusManual || got["smoke"] != StatusCreated {
		t.Fatalf("after test success: %v", got)
	}
	if st, _ := PipelineStatus(jobs); NextPipelineStatus(StatusFailed, st) != StatusManual {
		t.Fatalf("pipeline %s, want manual", st)
	}
}
