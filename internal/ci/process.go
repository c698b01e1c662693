package ci

import (
	"slices"
	"time"
)

// Need is one entry of a job's needs: list.
type Need struct {
	Name string
	// Optional needs may name a job absent from the pipeline. Processing
	// ignores absent needs either way (creation rejects required ones), so
	// this is informational here.
	Optional bool
}

// ProcJob is what pipeline processing knows about one job: GitLab's
// StatusCollection row plus the job's when, needs and enqueue guards.
type ProcJob struct {
	ID       int64
	Name     string
	Kind     Kind
	StageIdx int
	Status   Status
	// When is the job's `when`; "" means on_success.
	When         string
	AllowFailure bool
	// Needs nil means stage scheduling; non-nil (even empty, `needs: []`)
	// means DAG scheduling.
	Needs []Need
	// Retried jobs are superseded by a newer job of the same name; they are
	// invisible to processing and to composite statuses.
	Retried bool
	// StartIn is the delay of a `when: delayed` build; nil when it has none,
	// and then GitLab treats the job as a plain manual action.
	StartIn            *time.Duration
	HasResourceGroup   bool
	UnmetPrerequisites bool
	// EnqueueImmediately marks the clone of a retried or played action job:
	// it goes straight to pending instead of back to manual/scheduled.
	EnqueueImmediately bool
}

// Change is one status transition decided by Process or ResetSkipped.
type Change struct {
	ID       int64
	Name     string
	Event    Event
	From, To Status
	// ScheduledAt is set for schedule: now + start_in.
	ScheduledAt *time.Time
}

// Process runs GitLab's atomic pipeline processing (docs/ci-yaml.md, "Pipeline
// processing") over the
// jobs of one pipeline and returns the transitions of jobs leaving created,
// in the order GitLab applies them. Stages are walked in order and, within a
// stage, jobs in needs order (otherwise input order, which should be by ID).
// Each decision is visible to the jobs after it, and passes repeat until
// nothing changes, as the re-scheduled PipelineProcessWorker would. Jobs
// that are not created are never touched.
func Process(jobs []ProcJob, now time.Time) []Change {
	cur := latestJobs(jobs)
	byName := indexByName(cur)
	var stages []int
	for _, j := range cur {
		stages = append(stages, j.StageIdx)
	}
	slices.Sort(stages)
	stages = slices.Compact(stages)

	var changes []Change
	for {
		changed := false
		for _, stage := range stages {
			var created []int
			for i, j := range cur {
				if j.StageIdx == stage && j.Status == StatusCreated {
					created = append(created, i)
				}
			}
			for _, i := range dagOrder(cur, created) {
				prev := previousStatus(cur, byName, cur[i])
				// Not completed yet: the job waits in created.
				if !prev.Complete() {
					continue
				}
				ch, ok := decide(cur[i], prev, now)
				if !ok {
					continue
				}
				cur[i].Status = ch.To
				changes = append(changes, ch)
				changed = true
			}
		}
		if !changed {
			return changes
		}
	}
}

// decide is ProcessBuildService: process the job if the previous status is
// one its `when` accepts, otherwise skip it.
func decide(j ProcJob, prev Status, now time.Time) (Change, bool) {
	g := Guards{HasResourceGroup: j.HasResourceGroup, UnmetPrerequisites: j.UnmetPrerequisites, Now: now}
	ch := Change{ID: j.ID, Name: j.Name, From: j.Status}
	view := JobView{Kind: j.Kind, When: j.When}
	switch {
	case !slices.Contains(validStatuses(j.When, j.Needs != nil), prev):
		ch.Event = EventSkip
	case j.EnqueueImmediately:
		ch.Event = EventEnqueue
	case j.Kind == KindBuild && j.When == WhenDelayed && j.StartIn != nil:
		ch.Event = EventSchedule
		at := now.Add(*j.StartIn)
		ch.ScheduledAt = &at
	case view.Action():
		ch.Event = EventActionize
	default:
		ch.Event = EventEnqueue
	}
	to, err := Fire(j.Kind, j.Status, ch.Event, g)
	if err != nil {
		return Change{}, false
	}
	ch.To = to
	return ch, true
}

// validStatuses is ProcessBuildService#valid_statuses_for_build. Note that
// canceled is in none of them: after a cancel even `when: always` is skipped.
func validStatuses(when string, dag bool) []Status {
	switch when {
	case "", WhenOnSuccess, WhenManual, WhenDelayed:
		if dag {
			return []Status{StatusSuccess}
		}
		return []Status{StatusSuccess, StatusSkipped}
	case WhenOnFailure:
		return []Status{StatusFailed}
	case WhenAlways:
		return []Status{StatusSuccess, StatusFailed, StatusSkipped}
	}
	return nil
}

// previousStatus is the composite a job waits on: its needs (DAG mode) or
// every earlier stage. Absent needs are ignored and an empty set counts as
// success, so `needs: []` and first-stage jobs start at once.
func previousStatus(cur []ProcJob, byName map[string]int, j ProcJob) Status {
	var items []StatusItem
	if j.Needs != nil {
		for _, n := range j.Needs {
			if k, ok := byName[n.Name]; ok {
				items = append(items, item(cur[k]))
			}
		}
	} else {
		for _, o := range cur {
			if o.StageIdx < j.StageIdx {
				items = append(items, item(o))
			}
		}
	}
	return orSuccess(CompositeStatus(items, j.Needs != nil))
}

// latestJobs copies the jobs that are not retried; processing and every
// composite look only at those.
func latestJobs(jobs []ProcJob) []ProcJob {
	var out []ProcJob
	for _, j := range jobs {
		if !j.Retried {
			out = append(out, j)
		}
	}
	return out
}

// indexByName maps names to positions; the last one wins, as Ruby's to_h.
func indexByName(jobs []ProcJob) map[string]int {
	m := make(map[string]int, len(jobs))
	for i, j := range jobs {
		m[j.Name] = i
	}
	return m
}

// dagOrder orders idx so that every job follows the jobs it needs among
// idx, keeping input order otherwise (Ruby TSort over an ordered hash).
func dagOrder(jobs []ProcJob, idx []int) []int {
	byName := make(map[string]int, len(idx))
	for _, i := range idx {
		byName[jobs[i].Name] = i
	}
	seen := make(map[int]bool, len(idx))
	out := make([]int, 0, len(idx))
	var visit func(int)
	visit = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true // set before recursing, so a cycle cannot loop
		for _, n := range jobs[i].Needs {
			if k, ok := byName[n.Name]; ok {
				visit(k)
			}
		}
		out = append(out, i)
	}
	for _, i := range idx {
		visit(i)
	}
	return out
}

// Apply returns a copy of jobs with the changes' target statuses applied,
// so a caller can compute stage and pipeline statuses after a Process pass.
func Apply(jobs []ProcJob, changes []Change) []ProcJob {
	out := slices.Clone(jobs)
	to := make(map[int64]Status, len(changes))
	for _, c := range changes {
		to[c.ID] = c.To
	}
	for i := range out {
		if s, ok := to[out[i].ID]; ok && !out[i].Retried {
			out[i].Status = s
		}
	}
	return out
}

// StatusItem is one job's contribution to a composite status.
type StatusItem struct {
	Status       Status
	AllowFailure bool
}

// compositeSymbol is a job's symbol in the composite: allowed failures count
// as success_with_warnings and allowed-to-fail manual jobs as ignored.
type compositeSymbol string

const (
	symWarn    compositeSymbol = "success_with_warnings"
	symIgnored compositeSymbol = "ignored"
)

func item(j ProcJob) StatusItem { return StatusItem{Status: j.Status, AllowFailure: j.AllowFailure} }

func symbol(it StatusItem) compositeSymbol {
	if it.AllowFailure {
		switch it.Status {
		case StatusFailed, StatusCanceled:
			return symWarn
		case StatusManual:
			return symIgnored
		}
	}
	return compositeSymbol(it.Status)
}

// CompositeStatus is Gitlab::Ci::Status::Composite#status (docs/ci-yaml.md,
// "Composite status"):
// the first matching rule over the set of job symbols wins. dag selects the
// needs variant, where any skipped or ignored need skips the job. An empty
// set returns "" (GitLab's nil); callers decide what that means.
func CompositeStatus(items []StatusItem, dag bool) Status {
	set := make(map[compositeSymbol]bool, len(items))
	for _, it := range items {
		set[symbol(it)] = true
	}
	if len(set) == 0 {
		return ""
	}
	s := func(st Status) compositeSymbol { return compositeSymbol(st) }
	onlyOf := func(names ...compositeSymbol) bool {
		n := 0
		for _, name := range names {
			if set[name] {
				n++
			}
		}
		return n > 0 && n == len(set)
	}
	anyOf := func(names ...Status) bool {
		return slices.ContainsFunc(names, func(st Status) bool { return set[s(st)] })
	}
	switch {
	case dag && (set[s(StatusSkipped)] || set[symIgnored]):
		return StatusSkipped
	case onlyOf(s(StatusSkipped), symIgnored):
		return StatusSkipped
	case onlyOf(s(StatusSuccess), s(StatusSkipped), symWarn, symIgnored):
		return StatusSuccess
	case onlyOf(s(StatusCreated), symWarn, symIgnored):
		return StatusCreated
	case onlyOf(s(StatusPreparing), symWarn, symIgnored):
		return StatusPreparing
	case onlyOf(s(StatusCanceled), s(StatusSuccess), s(StatusSkipped), symWarn, symIgnored):
		return StatusCanceled
	case onlyOf(s(StatusPending), s(StatusCreated), s(StatusSkipped), symWarn, symIgnored):
		return StatusPending
	case anyOf(StatusRunning, StatusPending):
		return StatusRunning
	case anyOf(StatusWaitingForResource):
		return StatusWaitingForResource
	case anyOf(StatusWaitingForCallback):
		return StatusWaitingForCallback
	case anyOf(StatusManual):
		return StatusManual
	case anyOf(StatusScheduled):
		return StatusScheduled
	case anyOf(StatusPreparing):
		return StatusPreparing
	case anyOf(StatusCreated):
		// Some jobs done, some not started: the group is under way.
		return StatusRunning
	case anyOf(StatusCanceling):
		return StatusCanceling
	}
	return StatusFailed
}

// HasWarnings is Composite#warnings?: some item failed or was canceled with
// allow_failure.
func HasWarnings(items []StatusItem) bool {
	return slices.ContainsFunc(items, func(it StatusItem) bool { return symbol(it) == symWarn })
}

func orSuccess(s Status) Status {
	if s == "" {
		return StatusSuccess
	}
	return s
}

// StageStatus is the composite of the latest jobs of one stage; a stage
// without jobs counts as success, as in GitLab's StatusCollection.
func StageStatus(jobs []ProcJob, stageIdx int) Status {
	var items []StatusItem
	for _, j := range latestJobs(jobs) {
		if j.StageIdx == stageIdx {
			items = append(items, item(j))
		}
	}
	return orSuccess(CompositeStatus(items, false))
}

// PipelineStatus is the composite of all latest jobs (success when there are
// none) and Pipeline#has_warnings?, which counts latest builds, not bridges,
// that failed or were canceled with allow_failure. Feed the status through
// NextPipelineStatus to get what the pipeline record becomes.
func PipelineStatus(jobs []ProcJob) (status Status, warnings bool) {
	var items []StatusItem
	for _, j := range latestJobs(jobs) {
		items = append(items, item(j))
		if j.Kind == KindBuild && symbol(item(j)) == symWarn {
			warnings = true
		}
	}
	return orSuccess(CompositeStatus(items, false)), warnings
}

// NextPipelineStatus is Pipeline#set_status(composite) against the pipeline
// state machine (docs/ci-yaml.md, "Pipeline status"). It differs from the composite in three
// ways: created never moves the pipeline, pending on a finished pipeline
// means a retry and so running, and a canceled pipeline does not go back to
// canceling. Refused events leave the status unchanged, as in GitLab.
func NextPipelineStatus(current, composite Status) Status {
	switch composite {
	case StatusCreated:
		return current
	case StatusPending:
		switch current {
		case StatusSuccess, StatusFailed, StatusCanceling, StatusCanceled:
			return StatusRunning
		case StatusRunning, StatusWaitingForCallback:
			return current
		}
		return StatusPending
	case StatusCanceling:
		if current == StatusCanceled {
			return current
		}
	}
	if !validStatus(composite) {
		return current
	}
	return composite
}

// Strategy is a trigger job's trigger:strategy.
type Strategy string

// The bridge strategies. StrategyNone is the default: the bridge succeeds as
// soon as the downstream pipeline exists.
const (
	StrategyNone   Strategy = ""
	StrategyDepend Strategy = "depend"
	StrategyMirror Strategy = "mirror"
)

// BridgeStatusFromDownstream is the status a bridge takes from its created
// downstream pipeline (Bridge#inherit_status_from_downstream!; docs/ci-yaml.md,
// "Bridges and their downstream pipeline").
// ok is false while the bridge keeps its current (running) status.
func BridgeStatusFromDownstream(strategy Strategy, downstream Status) (to Status, ok bool) {
	switch strategy {
	case StrategyNone:
		return StatusSuccess, true
	case StrategyDepend:
		switch downstream {
		case StatusSuccess, StatusCanceled:
			return downstream, true
		case StatusFailed, StatusSkipped:
			// A downstream that ran nothing did not deliver what the parent
			// depends on.
			return StatusFailed, true
		}
	case StrategyMirror:
		switch downstream {
		case StatusSuccess, StatusFailed, StatusCanceled, StatusManual, StatusSkipped:
			return downstream, true
		}
	}
	return "", false
}

// ResetSkipped is ResetSkippedJobsService (docs/ci-yaml.md, "Reset of
// skipped jobs"): after the jobs
// baseIDs were retried, played or came back alive, every latest skipped job
// in a later stage than the earliest of them, or needing one of them
// (transitively, by name), goes back to created, ordered by stage and needs.
// Processing then re-evaluates them; manual ones become manual again there.
func ResetSkipped(jobs []ProcJob, baseIDs ...int64) []Change {
	minStage, names := 0, map[string]bool{}
	for _, j := range jobs {
		if slices.Contains(baseIDs, j.ID) {
			if len(names) == 0 || j.StageIdx < minStage {
				minStage = j.StageIdx
			}
			names[j.Name] = true
		}
	}
	if len(names) == 0 {
		return nil
	}
	cur := latestJobs(jobs)
	// Needs-descendants, grown to a fixed point; the bases count too.
	for grown := true; grown; {
		grown = false
		for _, j := range cur {
			if names[j.Name] {
				continue
			}
			if slices.ContainsFunc(j.Needs, func(n Need) bool { return names[n.Name] }) {
				names[j.Name] = true
				grown = true
			}
		}
	}
	byStage := map[int][]int{}
	var stages []int
	for i, j := range cur {
		if j.Status == StatusSkipped && (j.StageIdx > minStage || names[j.Name]) {
			if byStage[j.StageIdx] == nil {
				stages = append(stages, j.StageIdx)
			}
			byStage[j.StageIdx] = append(byStage[j.StageIdx], i)
		}
	}
	slices.Sort(stages)
	var changes []Change
	for _, st := range stages {
		for _, i := range dagOrder(cur, byStage[st]) {
			changes = append(changes, Change{
				ID: cur[i].ID, Name: cur[i].Name, Event: EventProcess,
				From: StatusSkipped, To: StatusCreated,
			})
		}
	}
	return changes
}
