package ci

import (
	"reflect"
	"testing"
	"time"
)

func TestExplainPending(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recent, old := now.Add(-time.Minute), now.Add(-3*time.Hour)
	job := &Job{ID: 10, ProjectID: 1, Tags: []string{"docker", "gpu"}}
	untagged := &Job{ID: 10, ProjectID: 1}
	r := func(id int64, mut func(*Runner)) *Runner {
		rn := &Runner{ID: id, Description: "r", RunnerType: RunnerInstance, Tags: []string{"docker", "gpu"}, ContactedAt: &recent, CreatedAt: old}
		if mut != nil {
			mut(rn)
		}
		return rn
	}
	tests := []struct {
		name      string
		job       *Job
		protected bool
		runners   []*Runner
		ahead     int
		reason    string
		missing   []string
		problems  []string
		position  int
	}{
		{name: "no runners", job: job, reason: PendingNoRunners},
		{name: "missing tag named", job: job, runners: []*Runner{r(1, func(r *Runner) { r.Tags = []string{"docker"} }), r(2, func(r *Runner) { r.Tags = nil })},
			reason: PendingMissingTags, missing: []string{"gpu"}},
		{name: "untagged not run", job: untagged, runners: []*Runner{r(1, nil)}, reason: PendingUntagged},
		{name: "paused and offline", job: job, runners: []*Runner{r(1, func(r *Runner) { r.Paused = true }), r(2, func(r *Runner) { r.ContactedAt = &old }), r(3, func(r *Runner) { r.ContactedAt = nil })},
			reason: PendingUnavailable, problems: []string{"paused", "offline (no contact for over 2 hours)", "never contacted"}},
		{name: "locked to other projects", job: job, runners: []*Runner{r(1, func(r *Runner) { r.RunnerType, r.ProjectIDs = RunnerProject, []int64{2} })},
			reason: PendingUnavailable, problems: []string{"locked to other projects"}},
		{name: "protected only", job: job, runners: []*Runner{r(1, func(r *Runner) { r.AccessLevel = RunnerRefProtected })},
			reason: PendingUnavailable, problems: []string{"runs only jobs of protected branches and tags"}},
		{name: "protected ref is fine", job: job, protected: true, runners: []*Runner{r(1, func(r *Runner) { r.AccessLevel = RunnerRefProtected })},
			ahead: 0, reason: PendingRunnersBusy, position: 1},
		{name: "busy with queue position", job: job, runners: []*Runner{r(1, nil), r(2, func(r *Runner) { r.Paused = true })}, ahead: 4,
			reason: PendingRunnersBusy, position: 5, problems: []string{"paused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ExplainPending(tt.job, tt.protected, tt.runners, now, func([]*Runner) int { return tt.ahead })
			var problems []string
			for _, r := range got.Runners {
				problems = append(problems, r.Problem)
			}
			if got.Reason != tt.reason || !reflect.DeepEqual(got.MissingTags, tt.missing) ||
				!reflect.DeepEqual(problems, tt.problems) || got.QueuePosition != tt.position || got.Message == "" {
				t.Fatalf("got %+v", got)
			}
		})
	}
}
