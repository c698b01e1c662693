package ci

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ptrTime(t time.Time) *time.Time { return &t }

// guardScenarios are the guard combinations every (kind, status, event) is
// fired under; together they reach every branch of every conditional event.
var guardScenarios = map[string]Guards{
	"none":      {Now: testNow},
	"rg":        {HasResourceGroup: true, Now: testNow},
	"prereq":    {UnmetPrerequisites: true, Now: testNow},
	"rg+prereq": {HasResourceGroup: true, UnmetPrerequisites: true, Now: testNow},
	"graceful":  {SupportsCanceling: true, Now: testNow},
	"due":       {ScheduledAt: ptrTime(testNow.Add(-time.Second)), Now: testNow},
	"notdue":    {ScheduledAt: ptrTime(testNow.Add(time.Minute)), Now: testNow},
}

// scenario sets used by the expectation table.
var (
	allScenarios = []string{"none", "rg", "prereq", "rg+prereq", "graceful", "due", "notdue"}
	// no resource group and no unmet prerequisites
	plainScenarios = []string{"none", "graceful", "due", "notdue"}
	rgScenarios    = []string{"rg", "rg+prereq"}
	prereqOnly     = []string{"prereq"}
	withPrereq     = []string{"prereq", "rg+prereq"}
)

func except(drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(allScenarios), func(s string) bool { return slices.Contains(drop, s) })
}

// transitionRow says: for this kind and event, from each listed status,
// under each listed guard scenario, Fire lands on to. Anything not listed is
// refused.
type transitionRow struct {
	kind      Kind
	ev        Event
	from      []Status
	to        Status
	scenarios []string
}

var (
	cancelableStatuses = []Status{
		StatusCreated, StatusWaitingForResource, StatusPreparing, StatusWaitingForCallback,
		StatusPending, StatusRunning, StatusManual, StatusScheduled,
	}
	dropFrom    = cancelableStatuses
	successFrom = []Status{
		StatusCreated, StatusWaitingForResource, StatusPreparing, StatusWaitingForCallback,
		StatusPending, StatusRunning,
	}
	enqueueFrom = []Status{StatusCreated, StatusSkipped, StatusManual, StatusScheduled}
	skipFrom    = []Status{StatusCreated, StatusWaitingForResource, StatusPreparing, StatusPending}
)

var expectedTransitions = []transitionRow{
	// Builds (CommitStatus, Processable, Build).
	{KindBuild, EventProcess, []Status{StatusSkipped, StatusManual}, StatusCreated, allScenarios},
	{KindBuild, EventEnqueue, enqueueFrom, StatusPending, plainScenarios},
	{KindBuild, EventEnqueue, enqueueFrom, StatusWaitingForResource, rgScenarios},
	{KindBuild, EventEnqueue, enqueueFrom, StatusPreparing, prereqOnly},
	{KindBuild, EventEnqueueScheduled, []Status{StatusScheduled}, StatusPending, []string{"none", "graceful", "due"}},
	{KindBuild, EventEnqueueScheduled, []Status{StatusScheduled}, StatusWaitingForResource, rgScenarios},
	{KindBuild, EventEnqueueScheduled, []Status{StatusScheduled}, StatusPreparing, prereqOnly},
	{KindBuild, EventEnqueueWaitingForResource, []Status{StatusWaitingForResource}, StatusPending, except(withPrereq...)},
	{KindBuild, EventEnqueueWaitingForResource, []Status{StatusWaitingForResource}, StatusPreparing, withPrereq},
	{KindBuild, EventEnqueuePreparing, []Status{StatusPreparing}, StatusPending, except(withPrereq...)},
	{KindBuild, EventActionize, []Status{StatusCreated}, StatusManual, allScenarios},
	{KindBuild, EventSchedule, []Status{StatusCreated}, StatusScheduled, allScenarios},
	{KindBuild, EventUnschedule, []Status{StatusScheduled}, StatusManual, allScenarios},
	{KindBuild, EventRun, []Status{StatusPending}, StatusRunning, allScenarios},
	{KindBuild, EventSkip, skipFrom, StatusSkipped, allScenarios},
	{KindBuild, EventDrop, []Status{StatusCanceling}, StatusCanceled, allScenarios},
	{KindBuild, EventDrop, dropFrom, StatusFailed, allScenarios},
	{KindBuild, EventSuccess, []Status{StatusCanceling}, StatusCanceled, allScenarios},
	{KindBuild, EventSuccess, successFrom, StatusSuccess, allScenarios},
	{KindBuild, EventCancel, []Status{StatusRunning}, StatusCanceling, []string{"graceful"}},
	{KindBuild, EventCancel, []Status{StatusRunning}, StatusCanceled, except("graceful")},
	{KindBuild, EventCancel, slices.DeleteFunc(slices.Clone(cancelableStatuses), func(s Status) bool { return s == StatusRunning }), StatusCanceled, allScenarios},
	{KindBuild, EventForceCancel, []Status{StatusCanceling}, StatusCanceled, allScenarios},

	// Bridges: the inherited events, then the permissive bridge ones.
	{KindBridge, EventProcess, []Status{StatusSkipped, StatusManual}, StatusCreated, allScenarios},
	{KindBridge, EventEnqueue, enqueueFrom, StatusPending, except(rgScenarios...)},
	{KindBridge, EventEnqueue, enqueueFrom, StatusWaitingForResource, rgScenarios},
	{KindBridge, EventEnqueueScheduled, []Status{StatusScheduled}, StatusWaitingForResource, rgScenarios},
	{KindBridge, EventEnqueueWaitingForResource, []Status{StatusWaitingForResource}, StatusPending, allScenarios},
	{KindBridge, EventActionize, []Status{StatusCreated}, StatusManual, allScenarios},
	{KindBridge, EventRun, []Status{StatusPending}, StatusRunning, allScenarios},
	{KindBridge, EventDrop, []Status{StatusCanceling}, StatusCanceled, allScenarios},
	{KindBridge, EventDrop, dropFrom, StatusFailed, allScenarios},
	{KindBridge, EventCancel, cancelableStatuses, StatusCanceled, allScenarios},
	{KindBridge, EventSkip, AllStatuses, StatusSkipped, allScenarios},
	{KindBridge, EventSuccess, AllStatuses, StatusSuccess, allScenarios},
	{KindBridge, EventToCreated, AllStatuses, StatusCreated, allScenarios},
	{KindBridge, EventToPending, AllStatuses, StatusPending, allScenarios},
	{KindBridge, EventToManual, AllStatuses, StatusManual, allScenarios},
	{KindBridge, EventToScheduled, AllStatuses, StatusScheduled, allScenarios},
	{KindBridge, EventToCanceled, AllStatuses, StatusCanceled, allScenarios},
	{KindBridge, EventToFailed, AllStatuses, StatusFailed, allScenarios},
	{KindBridge, EventStartCancel, cancelableStatuses, StatusCanceling, allScenarios},
	{KindBridge, EventFinishCancel, append(slices.Clone(cancelableStatuses), StatusCanceling), StatusCanceled, allScenarios},
}

// expectedTo looks a case up in expectedTransitions; ok is false when the
// transition must be refused. Overlapping rows are a bug in the table.
func expectedTo(t *testing.T, kind Kind, from Status, ev Event, scenario string) (Status, bool) {
	t.Helper()
	var to Status
	found := 0
	for _, r := range expectedTransitions {
		if r.kind == kind && r.ev == ev && slices.Contains(r.from, from) && slices.Contains(r.scenarios, scenario) {
			to = r.to
			found++
		}
	}
	if found > 1 {
		t.Fatalf("expectation table has %d rows for %s %s %s %s", found, kind, ev, from, scenario)
	}
	return to, found == 1
}

func TestFireCrossProduct(t *testing.T) {
	t.Parallel()
	allowed := 0
	for _, kind := range []Kind{KindBuild, KindBridge} {
		for _, from := range AllStatuses {
			for _, ev := range AllEvents {
				for _, sc := range allScenarios {
					name := fmt.Sprintf("%s/%s/%s/%s", kind, from, ev, sc)
					want, ok := expectedTo(t, kind, from, ev, sc)
					got, err := Fire(kind, from, ev, guardScenarios[sc])
					switch {
					case ok && (err != nil || got != want):
						t.Errorf("%s: got (%s, %v), want %s", name, got, err, want)
					case !ok && (!errors.Is(err, ErrInvalidTransition) || got != from):
						t.Errorf("%s: got (%s, %v), want refusal leaving %s", name, got, err, from)
					}
					if ok {
						allowed++
					}
				}
			}
		}
	}
	// Guards against the table silently shrinking.
	if allowed == 0 {
		t.Fatal("no allowed transitions exercised")
	}
}

// Every row of the table must be reachable, so a typo in a row cannot hide
// behind the refusal default.
func TestFireTableRowsAreCovered(t *testing.T) {
	t.Parallel()
	for i, r := range expectedTransitions {
		if len(r.from) == 0 || len(r.scenarios) == 0 {
			t.Errorf("row %d (%s %s) is empty", i, r.kind, r.ev)
		}
		for _, sc := range r.scenarios {
			if _, ok := guardScenarios[sc]; !ok {
				t.Errorf("row %d: unknown scenario %q", i, sc)
			}
		}
		if !slices.Contains(AllEvents, r.ev) {
			t.Errorf("row %d: event %q not in AllEvents", i, r.ev)
		}
	}
}

func TestFireEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind Kind
		from Status
		ev   Event
		g    Guards
		want Status // "" = refused
	}{
		// GitLab's scheduled_at.past? is strict.
		{"scheduled exactly now is not due", KindBuild, StatusScheduled, EventEnqueueScheduled, Guards{ScheduledAt: ptrTime(testNow), Now: testNow}, ""},
		{"not due even with a resource group", KindBuild, StatusScheduled, EventEnqueueScheduled, Guards{ScheduledAt: ptrTime(testNow.Add(time.Hour)), HasResourceGroup: true, Now: testNow}, ""},
		{"bridge ignores the scheduled_at guard", KindBridge, StatusScheduled, EventEnqueueScheduled, Guards{ScheduledAt: ptrTime(testNow.Add(time.Hour)), HasResourceGroup: true, Now: testNow}, StatusWaitingForResource},
		{"bridge running never goes to canceling on cancel", KindBridge, StatusRunning, EventCancel, Guards{SupportsCanceling: true}, StatusCanceled},
		{"bridge loopback success", KindBridge, StatusSuccess, EventSuccess, Guards{}, StatusSuccess},
		{"unknown status", KindBuild, Status("bogus"), EventCancel, Guards{}, ""},
		{"unknown status bridge", KindBridge, Status("bogus"), EventToPending, Guards{}, ""},
		{"unknown event", KindBuild, StatusCreated, Event("explode"), Guards{}, ""},
		{"unknown kind", Kind(7), StatusCreated, EventEnqueue, Guards{}, ""},
		{"empty event", KindBridge, StatusCreated, Event(""), Guards{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Fire(tt.kind, tt.from, tt.ev, tt.g)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidTransition) || got != tt.from {
					t.Fatalf("got (%s, %v), want refusal", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got (%s, %v), want %s", got, err, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		k    Kind
		want string
	}{{KindBuild, "build"}, {KindBridge, "bridge"}, {Kind(9), "Kind(9)"}}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.k.String(); got != tt.want {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestEffects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		kind     Kind
		from, to Status
		want     Effect
	}{
		{"enqueue from created", KindBuild, StatusCreated, StatusPending, Effect{SetQueuedAt: true}},
		{"enqueue from skipped", KindBuild, StatusSkipped, StatusPending, Effect{SetQueuedAt: true}},
		{"enqueue from manual", KindBuild, StatusManual, StatusPending, Effect{SetQueuedAt: true}},
		{"enqueue from preparing", KindBuild, StatusPreparing, StatusPending, Effect{SetQueuedAt: true}},
		{"enqueue from waiting_for_resource", KindBuild, StatusWaitingForResource, StatusPending, Effect{SetQueuedAt: true}},
		{"enqueue_scheduled clears scheduled_at", KindBuild, StatusScheduled, StatusPending, Effect{SetQueuedAt: true, ClearScheduledAt: true}},
		{"scheduled to waiting_for_resource", KindBuild, StatusScheduled, StatusWaitingForResource, Effect{ClearScheduledAt: true, SetWaitingForResourceAt: true}},
		{"unschedule clears scheduled_at", KindBuild, StatusScheduled, StatusManual, Effect{ClearScheduledAt: true}},
		{"cancel scheduled", KindBuild, StatusScheduled, StatusCanceled, Effect{ClearScheduledAt: true, SetFinishedAt: true}},
		{"schedule sets scheduled_at", KindBuild, StatusCreated, StatusScheduled, Effect{SetScheduledAt: true}},
		{"enqueue to waiting_for_resource", KindBuild, StatusCreated, StatusWaitingForResource, Effect{SetWaitingForResourceAt: true}},
		{"enqueue to preparing", KindBuild, StatusCreated, StatusPreparing, Effect{}},
		{"run", KindBuild, StatusPending, StatusRunning, Effect{SetStartedAt: true}},
		{"success", KindBuild, StatusRunning, StatusSuccess, Effect{SetFinishedAt: true}},
		{"drop", KindBuild, StatusRunning, StatusFailed, Effect{SetFinishedAt: true}},
		{"cancel pending leaves started_at", KindBuild, StatusPending, StatusCanceled, Effect{SetFinishedAt: true}},
		{"graceful cancel does not finish", KindBuild, StatusRunning, StatusCanceling, Effect{}},
		{"force cancel finishes", KindBuild, StatusCanceling, StatusCanceled, Effect{SetFinishedAt: true}},
		{"skip", KindBuild, StatusCreated, StatusSkipped, Effect{}},
		{"process", KindBuild, StatusSkipped, StatusCreated, Effect{}},
		{"actionize", KindBuild, StatusCreated, StatusManual, Effect{}},
		{"build pending from created does not start", KindBuild, StatusCreated, StatusPending, Effect{SetQueuedAt: true}},
		{"bridge pending from created starts and triggers", KindBridge, StatusCreated, StatusPending, Effect{SetQueuedAt: true, SetStartedAt: true, TriggerDownstream: true}},
		{"bridge pending from manual", KindBridge, StatusManual, StatusPending, Effect{SetQueuedAt: true, SetStartedAt: true, TriggerDownstream: true}},
		{"bridge pending from waiting_for_resource", KindBridge, StatusWaitingForResource, StatusPending, Effect{SetQueuedAt: true, SetStartedAt: true, TriggerDownstream: true}},
		{"bridge pending from failed does not retrigger", KindBridge, StatusFailed, StatusPending, Effect{}},
		{"bridge pending from skipped queues only", KindBridge, StatusSkipped, StatusPending, Effect{SetQueuedAt: true}},
		{"bridge run restarts the clock", KindBridge, StatusPending, StatusRunning, Effect{SetStartedAt: true}},
		{"bridge scheduled has no scheduled_at hooks", KindBridge, StatusCreated, StatusScheduled, Effect{}},
		{"bridge leaving scheduled", KindBridge, StatusScheduled, StatusManual, Effect{}},
		{"bridge success loopback refreshes finished_at", KindBridge, StatusSuccess, StatusSuccess, Effect{SetFinishedAt: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Effects(tt.kind, tt.from, tt.to); got != tt.want {
				t.Fatalf("Effects(%s, %s, %s) = %+v, want %+v", tt.kind, tt.from, tt.to, got, tt.want)
			}
		})
	}
}

// finished_at follows the target status alone, for every pair and kind.
func TestEffectsFinishedAtCrossProduct(t *testing.T) {
	t.Parallel()
	for _, kind := range []Kind{KindBuild, KindBridge} {
		for _, from := range AllStatuses {
			for _, to := range AllStatuses {
				want := to == StatusSuccess || to == StatusFailed || to == StatusCanceled
				if got := Effects(kind, from, to).SetFinishedAt; got != want {
					t.Errorf("%s %s→%s: SetFinishedAt=%v", kind, from, to, got)
				}
			}
		}
	}
}
