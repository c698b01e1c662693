// Package pgtest gives each test its own PostgreSQL database in the server
// named by GANTRY_TEST_DATABASE_URL, dropped when the test ends.
//
// It imports nothing of Gantry's, so that the tests of internal/store/postgres
// can use it as well as internal/testkit (which imports that package).
// Test code only: an import test keeps it out of production packages.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// EnvURL names the variable holding the PostgreSQL server the tests may
// use. `bash scripts/with-postgres.sh go test ./...` sets it to a throwaway
// server.
const EnvURL = "GANTRY_TEST_DATABASE_URL"

// Enabled reports whether PostgreSQL tests can run.
func Enabled() bool { return os.Getenv(EnvURL) != "" }

// Require returns the server URL. Without one, it skips t, or fails it
// when CI=true: continuous integration must run the PostgreSQL tests, not
// pass by skipping them.
func Require(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u != "" {
		return u
	}
	const how = " (run `bash scripts/with-postgres.sh go test ./...` to include the PostgreSQL tests)"
	if os.Getenv("CI") == "true" {
		t.Fatal(EnvURL + " is not set but CI=true: the PostgreSQL tests must run in CI" + how)
	}
	t.Skip(EnvURL + " is not set: skipping PostgreSQL" + how)
	return ""
}

var (
	adminOnce sync.Once
	admin     *sql.DB
	adminErr  error
)

// Admin is a small pool on the server's database, shared by the tests of a
// process, for creating and dropping databases and for looking behind a
// store (pg_terminate_backend and the like).
func Admin(t testing.TB) *sql.DB {
	t.Helper()
	base := Require(t)
	adminOnce.Do(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			adminErr = fmt.Errorf("%s: %w", EnvURL, err)
			return
		}
		db.SetMaxOpenConns(4)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			adminErr = fmt.Errorf("%s: %w", EnvURL, err)
			return
		}
		admin = db
	})
	if adminErr != nil {
		t.Fatalf("PostgreSQL admin connection: %v", adminErr)
	}
	return admin
}

// NewDatabase creates an empty database, dropped (with its connections)
// when t ends, and returns its URL. A database rather than a schema per
// test: LISTEN/NOTIFY channels are per database, so a test's "job
// pending" announcements never wake another test's listeners, and a
// database is removed whole even when a test leaves connections open.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return NewDatabaseFrom(t, "")
}

// NewDatabaseFrom is NewDatabase copying the database template (see
// Template) instead of an empty one; "" is NewDatabase.
func NewDatabaseFrom(t testing.TB, template string) string {
	t.Helper()
	db := Admin(t)
	name := "gantry_t_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	create := "CREATE DATABASE " + name
	if template != "" {
		create += " TEMPLATE " + template
	}
	if _, err := db.ExecContext(ctx, create); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	// Registered before the caller's cleanups (closing stores, stopping
	// servers), so it runs after them.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return withDatabase(t, Require(t), name)
}

// withDatabase points a postgres:// URL or a key=value connection string
// at another database.
func withDatabase(t testing.TB, base, name string) string {
	t.Helper()
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		// In key=value strings the last setting of a key wins.
		return base + " dbname=" + name
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var templates sync.Map // name → *templateOnce

type templateOnce struct {
	once sync.Once
	err  error
}

// Template makes sure the database name exists, filling it once with
// fill(url) when it does not, and returns name for NewDatabaseFrom. Name
// it after everything fill puts in it (e.g. a hash of the migrations): it
// is kept for later runs and shared by concurrent test processes, which
// an advisory lock serialises. fill works on a database of another name,
// renamed only once filled, so a crash never leaves a half-filled
// template behind.
func Template(t testing.TB, name string, fill func(url string) error) string {
	t.Helper()
	v, _ := templates.LoadOrStore(name, &templateOnce{})
	o := v.(*templateOnce)
	o.once.Do(func() { o.err = makeTemplate(t, name, fill) })
	if o.err != nil {
		t.Fatalf("PostgreSQL template %s: %v", name, o.err)
	}
	return name
}

func makeTemplate(t testing.TB, name string, fill func(url string) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := Admin(t).Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Any fixed key: only the creation of templates takes this lock.
	const lockKey = 0x67616e74 // "gant"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey) //nolint:errcheck // closing the session releases it too
	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	tmp := name + "_" + randomHex(4)
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+tmp); err != nil {
		return err
	}
	if err := fill(withDatabase(t, Require(t), tmp)); err != nil {
		_, _ = conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+tmp+" WITH (FORCE)")
		return err
	}
	// The filler's sessions may still be ending on the server side.
	for i := 0; ; i++ {
		_, err = conn.ExecContext(ctx, "ALTER DATABASE "+tmp+" RENAME TO "+name)
		if err == nil || i == 50 {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
