package app_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// envTestDB names the PostgreSQL database the tests may use: every server
// gets its own schema in it, dropped when its test ends. Unset, only SQLite
// runs. `bash scripts/with-postgres.sh go test ./internal/app/` sets it.
const envTestDB = "GANTRY_TEST_DATABASE_URL"

// usePostgres as serverOpts.database asks startServer for a fresh schema.
const usePostgres = "postgres"

// forEachDB runs fn as a parallel subtest per database: "sqlite" always,
// "postgres" when GANTRY_TEST_DATABASE_URL is set. The parent test is made
// parallel too.
func forEachDB(t *testing.T, fn func(t *testing.T, o serverOpts)) {
	t.Helper()
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, serverOpts{})
	})
	if os.Getenv(envTestDB) != "" {
		t.Run("postgres", func(t *testing.T) {
			t.Parallel()
			fn(t, serverOpts{database: usePostgres})
		})
	}
}

// needPostgres skips a test that only makes sense on PostgreSQL.
func needPostgres(t *testing.T) {
	t.Helper()
	if os.Getenv(envTestDB) == "" {
		t.Skip(envTestDB + " is not set: skipping (run it with `bash scripts/with-postgres.sh go test ./internal/app/`)")
	}
}

var (
	adminOnce sync.Once
	admin     *sql.DB // on testDBURL
	adminErr  error
	// testDBURL is a database of this test process, created in the server
	// of GANTRY_TEST_DATABASE_URL: NOTIFY channels are per database, so
	// the coordinators of these tests do not wake the listeners of other
	// packages' tests running at the same time (and vice versa).
	testDBURL  string
	dropTestDB func()
)

// adminDB is a small pool on this process's test database for creating
// and dropping schemas and for reading state behind the API.
func adminDB(t *testing.T) *sql.DB {
	t.Helper()
	needPostgres(t)
	adminOnce.Do(func() { adminErr = openTestDB() })
	if adminErr != nil {
		t.Fatalf("test database: %v", adminErr)
	}
	return admin
}

func openTestDB() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := os.Getenv(envTestDB)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL", envTestDB)
	}
	root, err := sql.Open("pgx", base)
	if err != nil {
		return err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("gantry_app_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
	if _, err := root.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		root.Close()
		return fmt.Errorf("%s: create database: %w", envTestDB, err)
	}
	u.Path = "/" + name
	testDBURL = u.String()
	db, err := sql.Open("pgx", testDBURL)
	if err == nil {
		db.SetMaxOpenConns(4)
		err = db.PingContext(ctx)
	}
	dropTestDB = func() {
		if db != nil {
			db.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "drop test database %s: %v\n", name, err)
		}
		root.Close()
	}
	if err != nil {
		return err
	}
	admin = db
	return nil
}

// freshSchema creates an empty schema gantry_t_<random>, dropped (with
// everything in it) when the test ends, and returns a URL whose
// search_path selects it.
func freshSchema(t *testing.T) string {
	_, dsn := freshSchemaNamed(t)
	return dsn
}

func freshSchemaNamed(t *testing.T) (schema, dsn string) {
	t.Helper()
	db := adminDB(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "gantry_t_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered before the server's own cleanup, so it runs after it.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(testDBURL)
	if err != nil {
		t.Fatalf("parse %s: %v", testDBURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return schema, u.String()
}
