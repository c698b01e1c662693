// Package events is Gantry's one publisher of "something changed": the
// store publishes, after each commit, the job status changes, log growth
// and pipeline status changes it wrote; the runner API's long polls and
// live web pages subscribe. It imports only the domain.
//
// Delivery is in-process and best effort: a subscriber that does not keep
// up loses events rather than slowing the writer, so an event means "read
// the current state again", never "this is the state". Coordinators
// sharing a PostgreSQL database learn of each other's pending builds
// through LISTEN/NOTIFY (store/postgres), which ends in Publish too.
package events

import (
	"sync"

	"github.com/gantryci/gantry/internal/ci"
)

// Kind tells what changed.
type Kind uint8

// The kinds of event.
const (
	// JobChanged: a job's status changed (From → Status).
	JobChanged Kind = iota + 1
	// TraceAppended: a running job's log grew.
	TraceAppended
	// PipelineChanged: a pipeline's status changed.
	PipelineChanged
)

// Event is one change. JobID is zero for PipelineChanged.
type Event struct {
	Kind       Kind
	ProjectID  int64
	PipelineID int64
	JobID      int64
	// Bridge is true for trigger jobs (they never go to runners).
	Bridge bool
	// From and Status are the job's (or pipeline's) status before and after.
	From, Status ci.Status
}

// Job is the JobChanged event of a job that moved from a status.
func Job(j *ci.Job, from ci.Status) Event {
	return Event{Kind: JobChanged, ProjectID: j.ProjectID, PipelineID: j.PipelineID, JobID: j.ID,
		Bridge: j.Kind == ci.KindBridge, From: from, Status: j.Status}
}

// WakesRunners reports whether the event may give a parked runner a job:
// a build became pending.
func (e Event) WakesRunners() bool {
	return e.Kind == JobChanged && !e.Bridge && e.Status == ci.StatusPending && e.From != ci.StatusPending
}

// Bus fans events out to subscribers. The zero value is ready to use.
type Bus struct {
	mu   sync.RWMutex
	subs map[*sub]struct{}
	// hooks run synchronously in Publish (cheap, non-blocking callbacks
	// such as waking parked long polls).
	hooks []func(Event)
}

type sub struct {
	match func(Event) bool
	ch    chan Event
}

// Publish hands each event to the hooks and to every matching subscriber
// whose buffer has room. It never blocks.
func (b *Bus) Publish(evs ...Event) {
	if b == nil || len(evs) == 0 {
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, e := range evs {
		for _, h := range b.hooks {
			h(e)
		}
		for s := range b.subs {
			if s.match != nil && !s.match(e) {
				continue
			}
			select {
			case s.ch <- e:
			default: // a slow subscriber re-reads state on its next event
			}
		}
	}
}

// Subscribe returns a channel of the events match accepts (all when nil),
// buffered for buf events, and the function that ends the subscription.
// The channel is never closed; stop waiting on it after calling cancel.
func (b *Bus) Subscribe(match func(Event) bool, buf int) (<-chan Event, func()) {
	if buf < 1 {
		buf = 1
	}
	s := &sub{match: match, ch: make(chan Event, buf)}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[*sub]struct{}{}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
		})
	}
}

// OnEvent adds a hook called synchronously for every event published
// after it; it must be quick and must not publish.
func (b *Bus) OnEvent(fn func(Event)) {
	b.mu.Lock()
	b.hooks = append(b.hooks, fn)
	b.mu.Unlock()
}

// ForJob matches the events of one job (status changes and log growth).
func ForJob(id int64) func(Event) bool {
	return func(e Event) bool { return e.JobID == id }
}

// ForPipeline matches the events of one pipeline and its jobs.
func ForPipeline(id int64) func(Event) bool {
	return func(e Event) bool { return e.PipelineID == id }
}
