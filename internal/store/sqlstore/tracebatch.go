package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/gantryci/gantry/internal/events"
	"github.com/gantryci/gantry/internal/store"
)

// Group commit of trace appends.
//
// A runner PATCHes its job's log every few seconds; a thousand running jobs
// are hundreds of appends a second, each a small write transaction. On the
// single SQLite writer they queue one behind the other, every one paying a
// BEGIN, a WAL commit and the queue's wait; on PostgreSQL every one pays a
// commit. Appends that arrive while another batch is being written instead
// wait for it to end and are then written together, in one transaction
// (one commit for all of them): an append that finds no batch running
// leads, writes itself with what has queued up to then (at most
// traceBatchMax appends or traceBatchBytes bytes), answers each caller, and
// hands the lead to the oldest append still waiting. Nothing is answered before its commit, so an
// acknowledged append survives a crash as before.
//
// On SQLite one batch is written at a time (there is one writer). On
// PostgreSQL, where each statement is a round trip and transactions run in
// parallel, up to traceBatchLeaders batches are written at once on their
// own connections: one leader would cap a coordinator at one append per
// few round trips.
//
// Each append keeps its own outcome: a wrong offset, the size limit or a
// missing job answers that caller only, as a lone append would. If the
// batch's transaction fails as a whole (an SQL error, a serialization
// failure), every append of it is written again on its own, so one bad
// append cannot fail the others.

const (
	traceBatchMax     = 256
	traceBatchBytes   = 16 << 20
	traceBatchLeaders = 4 // batches written at once where writers run in parallel
)

// traceBatcher queues appends for the current leader.
type traceBatcher struct {
	mu      sync.Mutex
	queue   []*traceAppend
	leaders int // appends leading now, each writing a batch
}

// traceAppend is one AppendTrace call, waiting in the queue or done.
type traceAppend struct {
	jobID, offset, limit int64
	data                 []byte

	// Set by whoever wrote it, before the signal on wake.
	size int64
	grew bool
	err  error
	done bool

	// wake signals the waiting caller once: the append is done, or it is
	// handed the lead (done tells which). A leader's own append is done by
	// itself; the buffer takes that signal, which nobody reads.
	wake chan struct{}
}

// AppendTrace appends a log chunk when offset matches the stored size, and
// returns the size after it (the stored size when the offset did not
// match).
func (db *DB) AppendTrace(ctx context.Context, jobID, offset int64, data []byte, limit int64) (int64, error) {
	a := &traceAppend{jobID: jobID, offset: offset, limit: limit, data: data, wake: make(chan struct{}, 1)}
	b := &db.traces
	b.mu.Lock()
	lead := b.leaders < db.traceLeaders()
	if lead {
		b.leaders++
	} else {
		b.queue = append(b.queue, a)
	}
	b.mu.Unlock()
	if !lead {
		// Batches are written with a context that is never canceled, so
		// the outcome is known before we answer: an append is never
		// committed behind the back of a caller that was told it failed.
		<-a.wake
		if a.done {
			return a.result()
		}
	}
	db.leadTraceBatch(context.WithoutCancel(ctx), a)
	return a.result()
}

func (a *traceAppend) result() (int64, error) {
	if errors.Is(a.err, errTraceLimit) {
		return a.size, store.ErrTraceLimit
	}
	if a.err != nil {
		return 0, fmt.Errorf("append trace %d: %w", a.jobID, a.err)
	}
	return a.size, nil
}

// leadTraceBatch writes own with what has queued (up to the batch
// limits), then hands the lead to the oldest append still waiting, taking
// it off the queue so that no other leader writes it, or gives the lead up
// when none waits.
func (db *DB) leadTraceBatch(ctx context.Context, own *traceAppend) {
	b := &db.traces
	b.mu.Lock()
	batch, bytes := []*traceAppend{own}, len(own.data)
	n := 0
	for n < len(b.queue) && len(batch) < traceBatchMax && bytes+len(b.queue[n].data) <= traceBatchBytes {
		bytes += len(b.queue[n].data)
		batch = append(batch, b.queue[n])
		n++
	}
	b.queue = slices.Delete(b.queue, 0, n)
	b.mu.Unlock()
	db.writeTraceBatch(ctx, batch)
	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.queue = slices.Delete(b.queue, 0, 1)
		b.mu.Unlock()
		next.wake <- struct{}{} // not done: it leads now
		return
	}
	b.leaders--
	b.mu.Unlock()
}

// traceLeaders is how many batches may be written at once.
func (db *DB) traceLeaders() int {
	if db.d.SingleWriter {
		return 1
	}
	return traceBatchLeaders
}

// writeTraceBatch writes a batch in one transaction (or each append alone
// when that fails), publishes the appends that grew a log and wakes their
// callers.
func (db *DB) writeTraceBatch(ctx context.Context, batch []*traceAppend) {
	// Rows are locked in job order, so batches of two coordinators on one
	// PostgreSQL cannot deadlock; a job's own appends keep their order.
	sorted := slices.Clone(batch)
	slices.SortStableFunc(sorted, func(x, y *traceAppend) int { return cmp.Compare(x.jobID, y.jobID) })
	err := db.tx(ctx, func(q querier) error {
		for _, a := range sorted {
			a.size, a.grew, a.err = 0, false, nil
			if err := db.appendTrace(ctx, q, a); err != nil && !isAppendOutcome(err) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if len(sorted) == 1 {
			sorted[0].size, sorted[0].grew, sorted[0].err = 0, false, err
		} else {
			for _, a := range sorted {
				a.size, a.grew, a.err = 0, false, nil
				if err := db.tx(ctx, func(q querier) error { return db.appendTrace(ctx, q, a) }); err != nil && a.err == nil {
					a.size, a.grew, a.err = 0, false, err
				}
			}
		}
	}
	var evs []events.Event
	for _, a := range sorted {
		if a.grew {
			evs = append(evs, events.Event{Kind: events.TraceAppended, JobID: a.jobID})
		}
	}
	if len(evs) > 0 {
		db.publish(ctx, evs...)
	}
	for _, a := range batch {
		a.done = true
		a.wake <- struct{}{}
	}
}

// isAppendOutcome tells an append's own answer (recorded in it, the
// transaction still good) from a failure of the transaction.
func isAppendOutcome(err error) bool {
	return errors.Is(err, errTraceLimit) || errors.Is(err, store.ErrNotFound)
}

// appendTrace is one append inside a write transaction. Its outcome is
// recorded in a (size, grew, err); the error is returned too, so that a
// lone append's transaction rolls back on it.
func (db *DB) appendTrace(ctx context.Context, q querier, a *traceAppend) (err error) {
	defer func() {
		if err != nil {
			a.err = err
		}
	}()
	var size int64
	if err := q.QueryRowContext(ctx, db.q(`SELECT trace_size FROM jobs WHERE id = ?`), a.jobID).Scan(&size); err != nil {
		return db.wrap(err)
	}
	a.size = size
	if a.offset != size || len(a.data) == 0 {
		return nil
	}
	if a.limit > 0 && size+int64(len(a.data)) > a.limit {
		return errTraceLimit
	}
	// Compare-and-set on the size first: of concurrent appends at one
	// offset (PostgreSQL runs transactions of several coordinators in
	// parallel) exactly one moves it; the others wait for its row lock,
	// match nothing and report its size.
	res, err := db.exec(ctx, q, `UPDATE jobs SET trace_size = ? WHERE id = ? AND trace_size = ?`,
		size+int64(len(a.data)), a.jobID, size)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return q.QueryRowContext(ctx, db.q(`SELECT trace_size FROM jobs WHERE id = ?`), a.jobID).Scan(&a.size)
	}
	if _, err := db.exec(ctx, q, `INSERT INTO trace_chunks (job_id, pos, data) VALUES (?, ?, ?)`, a.jobID, a.offset, a.data); err != nil {
		return err
	}
	if err := db.indexChunk(ctx, q, a.jobID, a.offset, a.data); err != nil {
		return err
	}
	a.size = size + int64(len(a.data))
	a.grew = true
	return nil
}
