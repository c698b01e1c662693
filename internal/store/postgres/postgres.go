// Package postgres opens Gantry's PostgreSQL database: the shared SQL of
// store/sqlstore over pgx's database/sql driver, with the numbered
// migrations of migrations/ applied at start (once, under an advisory lock,
// however many coordinators start together), and a LISTEN/NOTIFY wake-up
// (Notifier) so that a build made pending on one coordinator wakes the
// long-polling runners of every coordinator.
//
// The URL is anything pgx accepts: postgres://user:pass@host:5432/db?sslmode=disable
// or "host=… dbname=…". Unknown parameters are sent to the server as run-time
// settings, so ?search_path=gantry keeps Gantry's tables in their own schema.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gantryci/gantry/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultMaxConns bounds the connections one coordinator opens.
const DefaultMaxConns = 25

// migrateLockKey is the first half of the advisory lock key taken while
// migrating ("gant"); the second is a hash of the schema being migrated.
const migrateLockKey int32 = 0x67616e74

// Open connects to the database at url, applies the migrations it has not
// seen and returns the store. Several coordinators may call Open at the
// same time: migrations are serialised by a session advisory lock.
//
// The store sends NOTIFY gantry_jobs (see Channel) after each commit that
// makes a build pending; a Notifier on every coordinator turns those into
// wake-ups.
func Open(ctx context.Context, url string) (*sqlstore.DB, error) {
	return open(ctx, url, DefaultMaxConns)
}

func open(ctx context.Context, url string, maxConns int) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	// The store prepares its statements once and reuses them; after five
	// runs PostgreSQL would switch to a generic plan that ignores the
	// parameter values, which turns a rare-status listing into a scan of the
	// whole jobs table. Custom plans keep index choices per call.
	if _, set := cfg.RuntimeParams["plan_cache_mode"]; !set {
		cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, cfg, db); err != nil {
		db.Close()
		return nil, err
	}
	d := sqlstore.Dialect{
		Name:       "postgres",
		Numbered:   true,
		SkipLocked: true,
		LockKey:    `SELECT pg_advisory_xact_lock(hashtext(?))`,
		IsUnique:   isUnique,
		AfterCommitJobPending: func(ctx context.Context) {
			// Best effort: a lost wake-up only delays runners until their
			// long poll ends.
			_ = notify(ctx, db)
		},
	}
	return sqlstore.New(db, db, d), nil
}

// migrate applies the embedded migrations while holding an advisory lock
// on a dedicated session, so concurrent starts migrate once. The lock is
// keyed by the current schema: databases shared by several Gantry schemas
// (or parallel tests) do not wait on each other. Closing the session
// releases the lock whatever happens.
func migrate(ctx context.Context, cfg *pgx.ConnConfig, db *sql.DB) error {
	lock, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return fmt.Errorf("postgres: connect for migrations: %w", err)
	}
	defer lock.Close(context.WithoutCancel(ctx))
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext(coalesce(current_schema(), '')))`, migrateLockKey); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, sub, true); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_unlock($1, hashtext(coalesce(current_schema(), '')))`, migrateLockKey); err != nil {
		return fmt.Errorf("postgres: migration unlock: %w", err)
	}
	return nil
}

// isUnique reports a unique_violation (SQLSTATE 23505).
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
