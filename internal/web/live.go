package web

import "sync"

// Change says what moved: a job's status or log (JobID), a pipeline's
// status (PipelineID), in a project.
type Change struct {
	ProjectID  int64
	PipelineID int64
	JobID      int64
}

// Hub fans changes out to open pages (SSE streams). A subscriber gets a
// coalescing signal, not the changes themselves: it re-reads what it shows,
// so a slow page never holds the publisher up and bursts cost one read.
type Hub struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	match func(Change) bool
	c     chan struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[*subscription]struct{}{}} }

// Publish signals every subscriber whose filter matches. It never blocks.
func (h *Hub) Publish(c Change) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.match(c) {
			select {
			case s.c <- struct{}{}:
			default:
			}
		}
	}
}

// Subscribe returns a channel signalled after matching changes, and the
// function that ends the subscription.
func (h *Hub) Subscribe(match func(Change) bool) (<-chan struct{}, func()) {
	s := &subscription{match: match, c: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s.c, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}
}
