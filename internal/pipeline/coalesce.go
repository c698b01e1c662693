package pipeline

import (
	"context"
	"errors"
	"sync"
)

// coalescer merges the processing that many concurrent job reports ask of
// one pipeline. Fifty runners finishing the fifty jobs of a stage at once
// would otherwise process the pipeline fifty times in a row, each run
// reading every job; instead, every caller waits for one run that started
// after it asked, and one run serves all who asked while the previous one
// was going. The caller's change is covered because it was stored before
// it asked.
//
// Only top-level callers (runner reports) go through it: a run never waits
// for another queue, so no cycle of waits can form.
type coalescer struct {
	mu     sync.Mutex
	queues map[int64]*procQueue
}

type procQueue struct {
	// waiting are the callers the next run must serve.
	waiting []chan error
}

// leadSignal tells a waiting caller that it runs the next round itself.
type leadSignal struct{}

func (leadSignal) Error() string { return "lead the next processing run" }

// processCoalesced processes a pipeline for a caller whose job change is
// stored, sharing the run with concurrent callers for the same pipeline.
func (s *Service) processCoalesced(ctx context.Context, pipelineID int64) error {
	c := &s.coalesce
	me := make(chan error, 1)
	c.mu.Lock()
	if c.queues == nil {
		c.queues = map[int64]*procQueue{}
	}
	q, busy := c.queues[pipelineID]
	if !busy {
		q = &procQueue{}
		c.queues[pipelineID] = q
	}
	q.waiting = append(q.waiting, me)
	c.mu.Unlock()
	if busy {
		// A run is going: the next one serves us, run by whoever is
		// first in line when it ends (maybe us).
		if err := <-me; err != (leadSignal{}) {
			return err
		}
	}
	c.mu.Lock()
	served := q.waiting
	q.waiting = nil
	c.mu.Unlock()

	err := errors.New("pipeline processing panicked")
	// Deferred, so that a panic in processing still answers the callers
	// served and hands the queue on, instead of leaving them waiting.
	defer func() {
		c.mu.Lock()
		if len(q.waiting) > 0 {
			q.waiting[0] <- leadSignal{}
		} else {
			delete(c.queues, pipelineID)
		}
		c.mu.Unlock()
		for _, w := range served {
			w <- err
		}
	}()
	err = s.Process(ctx, pipelineID)
	return err
}
