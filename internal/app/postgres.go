package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/postgres"
	"github.com/gantryci/gantry/internal/store/sqlstore"
)

// openPostgres opens the PostgreSQL store (migrating it under an advisory
// lock, so several coordinators may start together) and the LISTEN session
// that carries other coordinators' "a build became pending" announcements.
// The wake-ups are connected to the runner API by clusterWakeups.connect.
func openPostgres(ctx context.Context, cfg Config) (*sqlstore.DB, *clusterWakeups, error) {
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	n, err := postgres.NewNotifier(ctx, cfg.DatabaseURL)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return db, &clusterWakeups{n: n, log: log, kick: make(chan struct{}, 1), quit: make(chan struct{})}, nil
}

// clusterWakeups joins the long polls of several coordinators sharing one
// PostgreSQL database. A build made pending here wakes this coordinator's
// parked runners at once (the local hook) and is announced with NOTIFY;
// announcements from any coordinator wake this one's runners through the
// Notifier. A nil *clusterWakeups (SQLite) does nothing.
type clusterWakeups struct {
	n    *postgres.Notifier
	log  *slog.Logger
	kick chan struct{} // buffer of one: an announcement is due
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// connect makes pending builds wake local long polls (wake) and announces
// them to the other coordinators, and turns their announcements into wake
// calls. It replaces the store's job-pending hook, which must therefore be
// set before (or by) connect only.
func (w *clusterWakeups) connect(db *sqlstore.DB, wake func()) {
	if w == nil {
		return
	}
	db.OnJobPending(func(context.Context) {
		wake()
		// Announce asynchronously and coalesced: a burst of commits costs
		// one NOTIFY round trip, not one per request, and no request waits
		// for it. Best effort, like the NOTIFY of the store itself: a lost
		// announcement only delays other coordinators' runners until their
		// long poll ends.
		select {
		case w.kick <- struct{}{}:
		default:
		}
	})
	sub, unsubscribe := w.n.Subscribe()
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		defer unsubscribe()
		for {
			select {
			case <-sub:
				wake()
			case <-w.quit:
				return
			}
		}
	}()
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.kick:
				w.announce()
			case <-w.quit:
				// Flush an announcement still due at shutdown.
				select {
				case <-w.kick:
					w.announce()
				default:
				}
				return
			}
		}
	}()
}

func (w *clusterWakeups) announce() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.n.Notify(ctx); err != nil {
		w.log.Warn("announce pending builds", "err", err)
	}
}

// close stops the wake-ups and the LISTEN session. Idempotent.
func (w *clusterWakeups) close() {
	if w == nil {
		return
	}
	w.once.Do(func() {
		close(w.quit)
		w.wg.Wait()
		if err := w.n.Close(); err != nil {
			w.log.Warn("close notifier", "err", err)
		}
	})
}

// withLease runs fn while holding the named cluster-wide lease, waiting
// (up to a minute, or until ctx ends) for another coordinator to release it.
// It serialises start-up work such as creating root when several
// coordinators start together on an empty database. A coordinator that
// dies holding the lease blocks the others for at most hold.
func withLease(ctx context.Context, db store.Store, name, owner string, hold time.Duration, fn func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := db.TryLock(ctx, name, owner, time.Now().Add(hold))
		if err != nil {
			return fmt.Errorf("%s lease: %w", name, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s lease: still held by another coordinator", name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	err := fn()
	// Release: a lease that ended in the past is free for anyone.
	if _, rerr := db.TryLock(context.WithoutCancel(ctx), name, owner, time.Now().Add(-time.Second)); rerr != nil && err == nil {
		err = fmt.Errorf("%s lease release: %w", name, rerr)
	}
	return err
}
