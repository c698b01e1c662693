package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Channel is the LISTEN/NOTIFY channel on which a coordinator announces
// that a build became pending. Notifications carry no payload.
const Channel = "gantry_jobs"

// ChangesChannel carries the changes open web pages follow (a job's log or
// status, a pipeline's status) from the coordinator where they were
// written to the others. Payloads are small (ids), see Notifier.NotifyChanges.
const ChangesChannel = "gantry_changes"

// MaxPayload is the largest NOTIFY payload PostgreSQL accepts (8000 bytes)
// with some room to spare.
const MaxPayload = 7900

// pingTimeout bounds a keepalive ping of the listening session.
const pingTimeout = 5 * time.Second

// notify sends one notification on Channel, bounded in time and detached
// from the caller's cancellation (it runs after a commit that must be
// announced even if the request ends).
func notify(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `SELECT pg_notify($1, '')`, Channel); err != nil {
		return fmt.Errorf("postgres: notify %s: %w", Channel, err)
	}
	return nil
}

// Notifier wakes local subscribers when any coordinator sharing the database
// makes a build pending. It keeps one session LISTENing on Channel and
// reconnects (with backoff) when that session is lost; after a reconnect it
// wakes every subscriber once, since notifications sent meanwhile are lost.
//
// A wake-up means "there may be new pending builds: look again"; several
// notifications may be coalesced into one wake-up, and spurious wake-ups
// happen (other schemas of the same database use the same channel). Typical
// use, in a runner long poll:
//
//	wake, stop := n.Subscribe()
//	defer stop()
//	for {
//		if job, err := st.ClaimJob(ctx, claim); err == nil { return job }
//		select {
//		case <-wake:
//		case <-ctx.Done(): return nil
//		}
//	}
//
// The store opened by Open sends the notifications itself; Notify is for
// other code that makes builds pending behind the store's back.
type Notifier struct {
	cfg  *pgx.ConnConfig
	db   *sql.DB // sends notifications
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}

	mu   sync.Mutex
	subs map[chan struct{}]struct{}
	// onChange receives the payloads of ChangesChannel.
	onChange func(payload string)

	pid atomic.Uint32 // backend pid of the listening session; 0 while disconnected

	// Reconnect backoff and the idle interval after which the listening
	// session is pinged (WaitForNotification alone never notices a dead peer).
	minBackoff, maxBackoff, keepalive time.Duration
}

// NewNotifier connects to the database at url and starts listening on
// Channel. ctx bounds the first connection only; the Notifier runs until
// Close. It fails when that first connection cannot be made.
func NewNotifier(ctx context.Context, url string) (*Notifier, error) {
	return newNotifier(ctx, url, nil)
}

// newNotifier is NewNotifier with a hook to adjust settings before the
// listener starts (tests shorten the timings).
func newNotifier(ctx context.Context, url string, tune func(*Notifier)) (*Notifier, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "gantry-listener"
	}
	n := &Notifier{
		cfg:        cfg,
		log:        slog.Default(),
		done:       make(chan struct{}),
		subs:       map[chan struct{}]struct{}{},
		minBackoff: 100 * time.Millisecond,
		maxBackoff: 5 * time.Second,
		keepalive:  30 * time.Second,
	}
	if tune != nil {
		tune(n)
	}
	conn, err := n.connect(ctx)
	if err != nil {
		return nil, err
	}
	n.db = stdlib.OpenDB(*cfg.Copy())
	n.db.SetMaxOpenConns(2)
	n.db.SetMaxIdleConns(1)
	runCtx, stop := context.WithCancel(context.Background())
	n.stop = stop
	go n.run(runCtx, conn)
	return n, nil
}

// Subscribe registers for wake-ups. The channel has a buffer of one and is
// never closed: receive from it alongside your own context. Call the
// returned function (idempotent) to unsubscribe.
func (n *Notifier) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.subs, ch)
			n.mu.Unlock()
		})
	}
}

// Notify announces on Channel that builds became pending; every
// coordinator's subscribers (this one's included) are woken.
func (n *Notifier) Notify(ctx context.Context) error {
	return notify(ctx, n.db)
}

// OnChanges sets the function that receives every payload sent on
// ChangesChannel (by any coordinator, this one included). It is called on
// the listening goroutine: it must be quick.
func (n *Notifier) OnChanges(fn func(payload string)) {
	n.mu.Lock()
	n.onChange = fn
	n.mu.Unlock()
}

// NotifyChanges sends payload (at most MaxPayload bytes) on ChangesChannel.
func (n *Notifier) NotifyChanges(ctx context.Context, payload string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := n.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, ChangesChannel, payload); err != nil {
		return fmt.Errorf("postgres: notify %s: %w", ChangesChannel, err)
	}
	return nil
}

// Close stops listening and waits for the listener to end. Subscribers are
// not woken by it.
func (n *Notifier) Close() error {
	n.stop()
	<-n.done
	return n.db.Close()
}

// wakeAll wakes every subscriber without blocking: a subscriber that has
// not consumed its last wake-up keeps just that one.
func (n *Notifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// connect opens the listening session.
func (n *Notifier) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, n.cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("postgres: listener connect: %w", err)
	}
	for _, ch := range []string{Channel, ChangesChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("postgres: listen %s: %w", ch, err)
		}
	}
	n.pid.Store(conn.PgConn().PID())
	return conn, nil
}

// run listens until ctx ends, reconnecting whenever the session is lost.
func (n *Notifier) run(ctx context.Context, conn *pgx.Conn) {
	defer close(n.done)
	for {
		err := n.listen(ctx, conn)
		n.pid.Store(0)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("postgres: lost the notification listener; reconnecting", "channel", Channel, "err", err)
		if conn = n.reconnect(ctx); conn == nil {
			return
		}
		n.wakeAll()
	}
}

// listen wakes subscribers for each notification until the session fails
// or ctx ends. An idle session is pinged every keepalive.
func (n *Notifier) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, n.keepalive)
		nf, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil && nf.Channel == ChangesChannel:
			n.mu.Lock()
			fn := n.onChange
			n.mu.Unlock()
			if fn != nil {
				fn(nf.Payload)
			}
		case err == nil:
			n.wakeAll()
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// The ping gets its own, generous deadline: a busy machine must
			// not turn a slow answer into a reconnect.
			pctx, cancel := context.WithTimeout(ctx, max(n.keepalive, pingTimeout))
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		default:
			return err
		}
	}
}

// reconnect retries connect with exponential backoff until it succeeds or
// ctx ends (then it returns nil).
func (n *Notifier) reconnect(ctx context.Context) *pgx.Conn {
	wait := n.minBackoff
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := n.connect(cctx)
		cancel()
		if err == nil {
			n.log.Info("postgres: notification listener reconnected", "channel", Channel)
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		n.log.Warn("postgres: notification listener reconnect failed", "err", err, "retry_in", wait)
		wait = min(2*wait, n.maxBackoff)
	}
}
