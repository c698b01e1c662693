// Package sqlstore is the one SQL implementation of store.Store, shared by
// SQLite and PostgreSQL. Queries are written once with ? placeholders and
// rebound for the dialect; the few real differences (claiming jobs, unique
// violations) are Dialect fields.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/events"
	"github.com/gantryci/gantry/internal/secrets"
	"github.com/gantryci/gantry/internal/store"
)

// Dialect describes what differs between databases.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Numbered placeholders ($1, $2, …) instead of ?.
	Numbered bool
	// SkipLocked claims jobs with FOR UPDATE SKIP LOCKED row locks (several
	// writers); without it a claim is one write transaction (one writer).
	SkipLocked bool
	// LockKey, when set, is a statement taking a transaction-scoped lock on
	// a string key (PostgreSQL advisory locks); SQLite needs none, having
	// one writer.
	LockKey string
	// SingleWriter means the write pool has one connection (SQLite):
	// transactions then run the statements prepared on it once, instead of
	// parsing their SQL again every time. (With several connections, as
	// on PostgreSQL, that would prepare per transaction: a round trip.)
	SingleWriter bool
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(error) bool
	// AfterCommitJobPending is called when a build became pending (to wake
	// long-polling runners on other coordinators); may be nil.
	AfterCommitJobPending func(ctx context.Context)
}

// DB implements store.Store over database/sql.
type DB struct {
	r, w    *pool // reads and writes; the same pool for PostgreSQL
	d       Dialect
	rebound sync.Map // query text → dialect text
	// box encrypts CI variable values at rest; nil stores them in
	// plaintext (tests that do not care).
	box *secrets.Box
	bus *events.Bus
	// hooks observe transactions and job changes (metrics, job log).
	hooks Hooks
	// traces groups concurrent log appends into one transaction
	// (tracebatch.go).
	traces traceBatcher
}

// Hooks are the store's observability callbacks, set once before use.
// Each may be nil.
type Hooks struct {
	// Transaction is a write transaction that ended: wait is how long it
	// waited for the single writer connection (SQLite; zero on
	// PostgreSQL, whose writers do not queue in Go), total its whole
	// duration including the wait.
	Transaction func(wait, total time.Duration, singleWriter bool)
	// JobMoved is a job status change after its commit, with the job as
	// written and its previous status ("" for a new job). It runs on the
	// coordinator that made the change only, once per change.
	JobMoved func(j *ci.Job, from ci.Status)
}

// SetHooks sets the observability hooks; call before serving.
func (db *DB) SetHooks(h Hooks) { db.hooks = h }

// New returns a store over read and write pools. SQLite wants a single
// writer connection (w) so writers queue in Go instead of failing busy.
func New(r, w *sql.DB, d Dialect) *DB {
	if d.IsUnique == nil {
		d.IsUnique = func(error) bool { return false }
	}
	db := &DB{r: newPool(r), d: d, bus: &events.Bus{}}
	db.w = db.r
	if w != r {
		db.w = newPool(w)
	}
	return db
}

var _ store.Store = (*DB)(nil)

// OnJobPending sets the hook called after a build became pending (used to
// wake long-polling runners).
func (db *DB) OnJobPending(fn func(ctx context.Context)) { db.d.AfterCommitJobPending = fn }

// Ping checks both pools.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	var one int
	return db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close closes the pools.
func (db *DB) Close() error {
	err := db.r.Close()
	if db.w != db.r {
		err = errors.Join(err, db.w.Close())
	}
	return err
}

// q rebinds ? placeholders for numbered dialects, caching the result.
func (db *DB) q(query string) string {
	if !db.d.Numbered {
		return query
	}
	if v, ok := db.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	inStr := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c == '\'' {
			inStr = !inStr
		}
		if c == '?' && !inStr {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	db.rebound.Store(query, out)
	return out
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx runs fn in a write transaction.
func (db *DB) tx(ctx context.Context, fn func(q querier) error) error {
	start := time.Now()
	t, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if h := db.hooks.Transaction; h != nil {
		// BeginTx takes the write pool's connection: on SQLite, the one
		// writer, so the time to get it is the wait for other writers.
		wait := time.Since(start)
		defer func() { h(wait, time.Since(start), db.d.SingleWriter) }()
	}
	var q querier = t
	var stmts txStmts
	if db.d.SingleWriter {
		stmts = txStmts{tx: t, p: db.w, missed: new([]string)}
		q = stmts
		defer stmts.prepareMissed(context.WithoutCancel(ctx))
	}
	if err := fn(q); err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (db *DB) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	res, err := q.ExecContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, db.wrap(err)
	}
	return res, nil
}

func (db *DB) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case db.d.IsUnique(err):
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	return err
}

// insert runs an INSERT … RETURNING id.
func (db *DB) insert(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	var id int64
	if err := q.QueryRowContext(ctx, db.q(query+" RETURNING id"), args...).Scan(&id); err != nil {
		return 0, db.wrap(err)
	}
	return id, nil
}

// Time helpers: times are stored as Unix microseconds.

func tv(t time.Time) int64 { return t.UnixMicro() }

func tp(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullString stores nil as NULL.
func nullString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// fromNullString reads a nullable text column.
func fromNullString(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	return &v.String
}

func fromNull(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// in builds "(?, ?, ?)" and the args for a list.
func in[T any](xs []T) (string, []any) {
	var b strings.Builder
	args := make([]any, len(xs))
	b.WriteByte('(')
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('?')
		args[i] = x
	}
	b.WriteByte(')')
	return b.String(), args
}

func joinList(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return "," + strings.Join(xs, ",") + ","
}

func splitList(s string) []string {
	s = strings.Trim(s, ",")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func limitOffset(limit, offset int) string {
	s := ""
	if limit > 0 {
		s += " LIMIT " + strconv.Itoa(limit)
	}
	if offset > 0 {
		if limit <= 0 {
			s += " LIMIT 9223372036854775807"
		}
		s += " OFFSET " + strconv.Itoa(offset)
	}
	return s
}

// TryLock takes or renews a lease.
func (db *DB) TryLock(ctx context.Context, name, owner string, until time.Time) (bool, error) {
	now := time.Now()
	res, err := db.exec(ctx, db.w, `INSERT INTO locks (name, owner, until) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE locks.owner = excluded.owner OR locks.until < ?`, name, owner, tv(until), tv(now))
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// byIDs runs query (which must end in "IN ") over ids and maps the scanned
// rows by id: the shape of every batch loader the API's renderers use.
func byIDs[V any](ctx context.Context, db *DB, what, query string, ids []int64, scan func(rowScanner) (V, error),
	id func(V) int64) (map[int64]V, error) {
	out := make(map[int64]V, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	list, args := in(ids)
	rows, err := db.r.QueryContext(ctx, db.q(query+list), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out[id(v)] = v
	}
	return out, rows.Err()
}
