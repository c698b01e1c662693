package ci

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// statusSet builds a lookup from a list, for the per-status predicate tables.
func statusSet(ss ...Status) map[Status]bool {
	m := map[Status]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// TestPredicatesPerStatus checks each predicate for every status with
// otherwise favourable attributes, so only the status decides.
func TestPredicatesPerStatus(t *testing.T) {
	t.Parallel()
	finished := statusSet(StatusSuccess, StatusFailed, StatusCanceled, StatusCanceling)
	tests := []struct {
		name string
		view JobView
		pred func(JobView) bool
		want map[Status]bool
	}{
		{"build retryable", JobView{Kind: KindBuild}, JobView.Retryable, finished},
		{"bridge retryable", JobView{Kind: KindBridge}, JobView.Retryable, finished},
		{"build manual playable", JobView{Kind: KindBuild, When: WhenManual}, JobView.Playable,
			statusSet(StatusManual, StatusScheduled, StatusSuccess, StatusFailed, StatusCanceled, StatusCanceling)},
		{"build delayed playable", JobView{Kind: KindBuild, When: WhenDelayed}, JobView.Playable,
			statusSet(StatusManual, StatusScheduled, StatusSuccess, StatusFailed, StatusCanceled, StatusCanceling)},
		{"build on_success never playable", JobView{Kind: KindBuild, When: WhenOnSuccess}, JobView.Playable, statusSet()},
		{"bridge manual playable", JobView{Kind: KindBridge, When: WhenManual}, JobView.Playable, statusSet(StatusManual)},
		{"bridge delayed never playable", JobView{Kind: KindBridge, When: WhenDelayed}, JobView.Playable, statusSet()},
		{"build erasable", JobView{Kind: KindBuild, HasTrace: true}, JobView.Erasable,
			statusSet(StatusSuccess, StatusFailed, StatusCanceled, StatusSkipped)},
		{"bridge never erasable", JobView{Kind: KindBridge, HasTrace: true, HasArtifacts: true}, JobView.Erasable, statusSet()},
		{"build cancelable", JobView{Kind: KindBuild}, JobView.Cancelable,
			statusSet(StatusCreated, StatusWaitingForResource, StatusPreparing, StatusWaitingForCallback, StatusPending, StatusRunning)},
		{"bridge never cancelable", JobView{Kind: KindBridge}, JobView.Cancelable, statusSet()},
		{"build force cancelable", JobView{Kind: KindBuild}, JobView.ForceCancelable, statusSet(StatusCanceling)},
		{"bridge never force cancelable", JobView{Kind: KindBridge}, JobView.ForceCancelable, statusSet()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, s := range AllStatuses {
				v := tt.view
				v.Status = s
				if got := tt.pred(v); got != tt.want[s] {
					t.Errorf("%s: got %v, want %v", s, got, tt.want[s])
				}
			}
		})
	}
}

func TestPredicatesAttributes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"retried is not retryable", JobView{Status: StatusFailed, Retried: true}.Retryable(), false},
		{"archived is not retryable", JobView{Status: StatusFailed, Archived: true}.Retryable(), false},
		{"rejected deployment is not retryable", JobView{Status: StatusFailed, FailureReason: FailureDeploymentRejected}.Retryable(), false},
		{"script failure is retryable", JobView{Status: StatusFailed, FailureReason: FailureScript}.Retryable(), true},
		{"bridge loop is not retryable", JobView{Kind: KindBridge, Status: StatusFailed, FailureReason: FailurePipelineLoopDetected}.Retryable(), false},
		{"bridge depth is not retryable", JobView{Kind: KindBridge, Status: StatusFailed, FailureReason: FailureReachedMaxDescendantDepth}.Retryable(), false},
		{"bridge other failure is retryable", JobView{Kind: KindBridge, Status: StatusFailed, FailureReason: FailureDownstreamPipelineCreation}.Retryable(), true},
		{"build with loop reason still retryable", JobView{Status: StatusFailed, FailureReason: FailurePipelineLoopDetected}.Retryable(), true},
		{"archived manual is not playable", JobView{Status: StatusManual, When: WhenManual, Archived: true}.Playable(), false},
		{"archived bridge is not playable", JobView{Kind: KindBridge, Status: StatusManual, When: WhenManual, Archived: true}.Playable(), false},
		{"retried finished manual is not playable", JobView{Status: StatusSuccess, When: WhenManual, Retried: true}.Playable(), false},
		{"empty when is not an action", JobView{}.Action(), false},
		{"manual is an action", JobView{When: WhenManual}.Action(), true},
		{"delayed is an action", JobView{When: WhenDelayed}.Action(), true},
		{"delayed bridge is not an action", JobView{Kind: KindBridge, When: WhenDelayed}.Action(), false},
		{"complete without anything is not erasable", JobView{Status: StatusSuccess}.Erasable(), false},
		{"live archive is erasable", JobView{Status: StatusSuccess, HasArtifacts: true}.Erasable(), true},
		{"job artifacts are erasable", JobView{Status: StatusFailed, HasJobArtifacts: true}.Erasable(), true},
		{"trace is erasable", JobView{Status: StatusCanceled, HasTrace: true}.Erasable(), true},
		{"running is not erasable", JobView{Status: StatusRunning, HasTrace: true}.Erasable(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()
	at := func(sec float64) *time.Time {
		x := testNow.Add(time.Duration(sec * float64(time.Second)))
		return &x
	}
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name                      string
		queued, started, finished *time.Time
		wantDuration, wantQueued  *float64
	}{
		{"created: nothing yet", nil, nil, nil, nil, nil},
		{"pending: queue grows to now", at(-30), nil, nil, nil, f(30)},
		{"running: both grow/settle", at(-100), at(-40), nil, f(40), f(60)},
		{"finished", at(-100), at(-40), at(-2.5), f(37.5), f(60)},
		{"canceled while pending: queue ends at finish", at(-100), nil, at(-10), nil, f(90)},
		{"canceled before queueing", nil, nil, at(-10), nil, nil},
		{"microseconds kept", at(-1), at(-0.796582), at(0), f(0.796582), f(0.203418)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check := func(what string, got, want *float64) {
				t.Helper()
				switch {
				case got == nil && want == nil:
				case got == nil || want == nil:
					t.Errorf("%s = %v, want %v", what, fmtF(got), fmtF(want))
				case fmt.Sprintf("%.6f", *got) != fmt.Sprintf("%.6f", *want):
					t.Errorf("%s = %v, want %v", what, *got, *want)
				}
			}
			check("Duration", Duration(tt.started, tt.finished, testNow), tt.wantDuration)
			check("QueuedDuration", QueuedDuration(tt.queued, tt.started, tt.finished, testNow), tt.wantQueued)
		})
	}
}

func fmtF(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func TestFailureReasons(t *testing.T) {
	t.Parallel()
	if len(FailureReasons) != 52 {
		t.Fatalf("len = %d, want the 52 CE reasons", len(FailureReasons))
	}
	if FailureReasons[0] != FailureUnknown || FailureReasons[len(FailureReasons)-1] != "downstream_project_trigger_resolved_to_empty" {
		t.Fatalf("order broken: first %q last %q", FailureReasons[0], FailureReasons[len(FailureReasons)-1])
	}
	seen := map[string]bool{}
	for _, r := range FailureReasons {
		if seen[r] {
			t.Errorf("duplicate %q", r)
		}
		seen[r] = true
	}
	consts := []string{
		FailureUnknown, FailureScript, FailureAPI, FailureStuckOrTimeout, FailureRunnerSystem,
		FailureMissingDependency, FailureRunnerUnsupported, FailureStaleSchedule,
		FailureJobExecutionTimeout, FailureArchived, FailureUnmetPrerequisites, FailureScheduler,
		FailureDataIntegrity, FailurePipelineLoopDetected, FailureNoMatchingRunner,
		FailureTraceSizeExceeded, FailureDeploymentRejected, FailureJobExecutionServerTimeout,
		FailureRunnerInterrupted, FailureInsufficientBridgePermissions,
		FailureDownstreamBridgeProjectNotFound, FailureInvalidBridgeTrigger,
		FailureDownstreamPipelineCreation, FailureReachedMaxDescendantDepth,
		FailureReachedMaxHierarchySize,
	}
	for _, c := range consts {
		if !slices.Contains(FailureReasons, c) {
			t.Errorf("constant %q missing from FailureReasons", c)
		}
	}
	// Enum positions the runner relies on (GitLab's integer values 0..33).
	for i, want := range map[int]string{1: "script_failure", 13: "forward_deployment_failure", 33: "runner_interrupted", 34: "protected_environment_failure"} {
		if FailureReasons[i] != want {
			t.Errorf("FailureReasons[%d] = %q, want %q", i, FailureReasons[i], want)
		}
	}
}
