package ci

import (
	"slices"
	"testing"
	"time"
)

func TestRedundantJobs(t *testing.T) {
	t.Parallel()
	job := func(id int64, s Status, interruptible bool) *Job {
		return &Job{ID: id, Status: s, Interruptible: interruptible}
	}
	retried := job(9, StatusRunning, false)
	retried.Retried = true
	for _, tc := range []struct {
		name string
		mode AutoCancelOnNewCommit
		jobs []*Job
		want []int64
	}{
		{"conservative, nothing started", "", []*Job{job(1, StatusPending, false), job(2, StatusCreated, true)}, []int64{1, 2}},
		{"conservative, interruptible started", OnNewCommitConservative,
			[]*Job{job(1, StatusRunning, true), job(2, StatusSuccess, true), job(3, StatusCreated, false)}, []int64{1, 3}},
		{"conservative, non-interruptible finished", OnNewCommitConservative,
			[]*Job{job(1, StatusSuccess, false), job(2, StatusPending, true)}, nil},
		{"conservative ignores retried jobs", OnNewCommitConservative, []*Job{retried, job(2, StatusPending, false)}, []int64{2}},
		{"interruptible", OnNewCommitInterruptible,
			[]*Job{job(1, StatusRunning, false), job(2, StatusRunning, true), job(3, StatusCreated, true), job(4, StatusSuccess, true)},
			[]int64{2, 3}},
		{"none", OnNewCommitNone, []*Job{job(1, StatusPending, true)}, nil},
	} {
		var got []int64
		for _, j := range RedundantJobs(tc.mode, tc.jobs) {
			got = append(got, j.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCancelsPipelineOnFailure(t *testing.T) {
	t.Parallel()
	all := &Pipeline{AutoCancelOnJobFailure: OnJobFailureAll}
	failed := &Job{Status: StatusFailed}
	for _, tc := range []struct {
		name  string
		p     *Pipeline
		j     *Job
		retry bool
		want  bool
	}{
		{"all", all, failed, false, true},
		{"default none", &Pipeline{}, failed, false, false},
		{"allowed to fail", all, &Job{Status: StatusFailed, AllowFailure: true}, false, false},
		{"auto-retried", all, failed, true, false},
		{"not failed", all, &Job{Status: StatusCanceled}, false, false},
	} {
		if got := CancelsPipelineOnFailure(tc.p, tc.j, tc.retry); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestJobFire: a job moved through the machine records the move's
// timestamps, and a refused event leaves it untouched.
func TestJobFire(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	j := &Job{ID: 1, Status: StatusPending, FailureReason: "old"}
	from, err := j.Fire(EventRun, Guards{Now: now})
	if err != nil || from != StatusPending || j.Status != StatusRunning || j.StartedAt == nil || !j.StartedAt.Equal(now) || j.FailureReason != "" {
		t.Fatalf("run: from %s, job %+v, err %v", from, j, err)
	}
	before := *j
	if _, err := j.FireAll(Guards{Now: now}, EventSuccess, EventRun); err == nil {
		t.Fatal("success then run: want an error")
	}
	if j.Status != before.Status || j.FinishedAt != nil {
		t.Fatalf("failed FireAll changed the job: %+v", j)
	}
}

func TestBridgeEvents(t *testing.T) {
	t.Parallel()
	for _, from := range []Status{StatusPending, StatusRunning, StatusFailed, StatusSuccess, StatusCanceled} {
		for _, to := range []Status{StatusRunning, StatusSuccess, StatusFailed, StatusCanceled, StatusManual, StatusSkipped} {
			j := &Job{Kind: KindBridge, Status: from}
			if _, err := j.FireAll(Guards{}, BridgeEvents(from, to)...); err != nil {
				t.Errorf("%s → %s: %v", from, to, err)
				continue
			}
			if j.Status != to {
				t.Errorf("%s → %s: bridge ends %s", from, to, j.Status)
			}
		}
	}
}
