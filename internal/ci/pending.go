package ci

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Pending reasons, from the most to the least fundamental.
const (
	PendingNoRunners    = "no_runners"
	PendingMissingTags  = "missing_tags"
	PendingUntagged     = "untagged_not_allowed"
	PendingUnavailable  = "runners_unavailable"
	PendingRunnersBusy  = "runners_busy"
	PendingNotProtected = "ref_not_protected"
)

// PendingRunner is a runner that matches a job's tags but cannot take it,
// and why (paused, offline, ref_protected, locked to other projects).
type PendingRunner struct {
	ID          int64  `json:"id"`
	Description string `json:"description"`
	Problem     string `json:"problem"`
}

// PendingReason says precisely why a pending job waits: what GitLab
// words as "one of the following problems" on the job page, decided.
type PendingReason struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// MissingTags are the job's tags the closest runner lacks.
	MissingTags []string `json:"missing_tags,omitempty"`
	// Runners are the tag-matching runners that cannot take the job now.
	Runners []PendingRunner `json:"runners,omitempty"`
	// QueuePosition is the job's place among the pending jobs the
	// available runners could take (1 = next), for runners_busy.
	QueuePosition int `json:"queue_position,omitempty"`
}

// RunnerServesProject reports whether a runner may take jobs of project
// id at all: instance runners serve every project, project runners only
// those they are assigned to.
func RunnerServesProject(r *Runner, projectID int64) bool {
	return r.RunnerType == RunnerInstance || slices.Contains(r.ProjectIDs, projectID)
}

// CanTake is the one rule deciding whether runner r may take pending build
// j: it serves j's project and matches j (Ci::Runner#matches_build?; the
// claim query applies the same project and protection restrictions in SQL).
// refProtected is asked only for a ref_protected runner.
func (r *Runner) CanTake(j *Job, refProtected func() bool) bool {
	return RunnerServesProject(r, j.ProjectID) && r.Matches(j, refProtected)
}

// Available reports whether r may be handed jobs now: online and not
// paused.
func (r *Runner) Available(now time.Time) bool {
	return !r.Paused && online(r, now)
}

// ExplainPending decides why job j (of a pipeline whose ref is protected
// or not) is still pending, given every registered runner. ahead counts
// the pending jobs older than j that the available runners could take.
func ExplainPending(j *Job, protected bool, runners []*Runner, now time.Time, ahead func(avail []*Runner) int) PendingReason {
	if len(runners) == 0 {
		return PendingReason{Reason: PendingNoRunners, Message: "No runner is registered: register one to run this job."}
	}
	var tagged, avail []*Runner
	for _, r := range runners {
		if r.Matches(j, func() bool { return true }) {
			tagged = append(tagged, r)
		}
	}
	if len(tagged) == 0 {
		if len(j.Tags) == 0 {
			return PendingReason{Reason: PendingUntagged,
				Message: "This job has no tags, and no runner is set to run untagged jobs."}
		}
		missing := closestMissing(j.Tags, runners)
		return PendingReason{Reason: PendingMissingTags, MissingTags: missing,
			Message: fmt.Sprintf("No runner has the tags this job needs: %s is missing on every runner that comes closest.",
				quoteList(missing))}
	}
	var blocked []PendingRunner
	for _, r := range tagged {
		problem := ""
		switch {
		case !RunnerServesProject(r, j.ProjectID):
			problem = "locked to other projects"
		case r.Paused:
			problem = "paused"
		case !online(r, now):
			st, _ := r.Status(now)
			problem = strings.ReplaceAll(st, "_", " ") + " (no contact for over 2 hours)"
			if r.ContactedAt == nil {
				problem = "never contacted"
			}
		case r.AccessLevel == RunnerRefProtected && !protected:
			problem = "runs only jobs of protected branches and tags"
		}
		if problem != "" {
			blocked = append(blocked, PendingRunner{ID: r.ID, Description: r.Description, Problem: problem})
			continue
		}
		avail = append(avail, r)
	}
	if len(avail) == 0 {
		return PendingReason{Reason: PendingUnavailable, Runners: blocked,
			Message: "Runners with this job's tags exist, but none can take it now."}
	}
	pos := ahead(avail) + 1
	return PendingReason{Reason: PendingRunnersBusy, Runners: blocked, QueuePosition: pos,
		Message: fmt.Sprintf("%d matching runner(s) online, all busy: this job is number %d in their queue.", len(avail), pos)}
}

func online(r *Runner, now time.Time) bool {
	_, ok := r.Status(now)
	return ok
}

// closestMissing is the job tags lacking on the runner that has most of
// them.
func closestMissing(tags []string, runners []*Runner) []string {
	var best []string
	for _, r := range runners {
		var miss []string
		for _, t := range tags {
			if !slices.Contains(r.Tags, t) {
				miss = append(miss, t)
			}
		}
		if best == nil || len(miss) < len(best) {
			best = miss
		}
	}
	return best
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "“" + v + "”"
	}
	return strings.Join(q, ", ")
}
