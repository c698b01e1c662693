package sqlstore

import (
	"context"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/events"
)

// unit is one write transaction that changes jobs. Every job write of the
// store goes through it (change, insert, and the claim's own statement), so
// "where does a job's status change" has one answer: the row is
// compare-and-set, the pipeline is marked for processing in the same
// transaction (ci.Pipeline.Dirty), and the change is published as an event
// once the transaction has committed.
type unit struct {
	db     *DB
	q      querier
	events []events.Event
	// moves keeps the changed jobs for Hooks.JobMoved (only when set).
	moves []moved
}

type moved struct {
	job  ci.Job
	from ci.Status
}

// unit runs fn in a write transaction and publishes its events after the
// commit (never for a rolled back one).
func (db *DB) unit(ctx context.Context, fn func(u *unit) error) error {
	var u *unit
	err := db.tx(ctx, func(q querier) error {
		// A retried transaction (SQLite busy) starts over with no events.
		u = &unit{db: db, q: q}
		return fn(u)
	})
	if err != nil {
		return err
	}
	db.publish(ctx, u.events...)
	if h := db.hooks.JobMoved; h != nil {
		for i := range u.moves {
			h(&u.moves[i].job, u.moves[i].from)
		}
	}
	return nil
}

// change writes j if its stored status is still expect. When the status
// moves it records the event and, with mark, marks the pipeline for
// processing; processing's own writes pass mark=false, since the processing
// writing them clears the mark only once it has completed.
func (u *unit) change(ctx context.Context, j *ci.Job, expect ci.Status, mark bool) (bool, error) {
	ok, err := u.db.updateJob(ctx, u.q, j, expect)
	if err != nil || !ok || j.Status == expect {
		return ok, err
	}
	u.moved(j, expect)
	if !mark {
		return true, nil
	}
	return true, u.db.markDirty(ctx, u.q, j.PipelineID)
}

// insertAll adds new job rows with multi-row INSERTs; the caller marks
// the pipeline.
func (u *unit) insertAll(ctx context.Context, jobs []*ci.Job) error {
	if err := u.db.insertJobs(ctx, u.q, jobs); err != nil {
		return err
	}
	for _, j := range jobs {
		u.moved(j, "")
	}
	return nil
}

// moved records that j reached its status from the given one.
func (u *unit) moved(j *ci.Job, from ci.Status) {
	u.events = append(u.events, events.Job(j, from))
	if u.db.hooks.JobMoved != nil {
		u.moves = append(u.moves, moved{job: *j, from: from})
	}
}

// Events is the bus on which the store publishes what it committed: job
// status changes, log growth and pipeline status changes.
func (db *DB) Events() *events.Bus { return db.bus }

// publish is the one place committed changes leave the store: the event
// bus, and the job-pending hook when a build became pending.
func (db *DB) publish(ctx context.Context, evs ...events.Event) {
	if len(evs) == 0 {
		return
	}
	db.bus.Publish(evs...)
	if db.d.AfterCommitJobPending == nil {
		return
	}
	for _, e := range evs {
		if e.WakesRunners() {
			db.d.AfterCommitJobPending(ctx)
			return
		}
	}
}
