package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL helpers: with -database, every data set lives in its own
// schema of that database (bench_10000, bench_100000, bench_empty, …),
// reached by adding ?search_path=<schema> to the URL, which pgx sends as a
// run-time setting (as docs/multi-coordinator.md describes).

// schemaURL is base with search_path set to schema.
func schemaURL(base, schema string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("-database must be a postgres:// URL, got %q", base)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// schemaName is the schema of the data set with n jobs (0: the empty one).
func schemaName(n int64) string {
	if n == 0 {
		return "bench_empty"
	}
	return fmt.Sprintf("bench_%d", n)
}

// openPG opens a plain database/sql pool on url through pgx's driver.
func openPG(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", dsn, err)
	}
	db := stdlib.OpenDB(*cfg)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return db, nil
}

// resetSchema drops schema (with everything in it) and creates it empty.
func resetSchema(ctx context.Context, base, schema string) error {
	db, err := openPG(ctx, base)
	if err != nil {
		return err
	}
	defer db.Close()
	id := pgx.Identifier{schema}.Sanitize()
	if _, err := db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+id+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+id); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}

// schemaSeeded reports whether schema holds a jobs table (a seed to reuse).
func schemaSeeded(ctx context.Context, base, schema string) bool {
	db, err := openPG(ctx, base)
	if err != nil {
		return false
	}
	defer db.Close()
	var ok bool
	err = db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{schema, "jobs"}.Sanitize()).Scan(&ok)
	return err == nil && ok
}

// analyzeSchema runs VACUUM (ANALYZE) on every table of the schema in dsn's
// search_path, as autovacuum would soon after a bulk load: the planner gets
// statistics and index-only scans a visibility map. It returns the
// schema's size on disk (tables, indexes, TOAST).
func analyzeSchema(ctx context.Context, dsn string) (int64, error) {
	db, err := openPG(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		return 0, err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, pgx.Identifier{t}.Sanitize())
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(tables) > 0 {
		if _, err := db.ExecContext(ctx, "VACUUM (ANALYZE) "+strings.Join(tables, ", ")); err != nil {
			return 0, fmt.Errorf("vacuum analyze: %w", err)
		}
	}
	var size int64
	err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')`).Scan(&size)
	return size, err
}

// pgVersion is the server's version ("17.6"), or "" when unreachable.
func pgVersion(ctx context.Context, base string) string {
	db, err := openPG(ctx, base)
	if err != nil {
		return ""
	}
	defer db.Close()
	var v string
	_ = db.QueryRowContext(ctx, `SHOW server_version`).Scan(&v)
	if f := strings.Fields(v); len(f) > 0 {
		return f[0]
	}
	return v
}
