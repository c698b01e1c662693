// Package testkit builds the world a Gantry test needs, the same way in
// every package: a fresh store on SQLite or PostgreSQL (ForEachDB runs a
// test on both), a blob directory, the CI engine, a logger writing to the
// test's log, a loopback HTTP server, and fixture builders for users,
// tokens, projects, members, runners and pipelines with jobs.
//
// Everything is real: SQLite files in t.TempDir(), a database per test in
// the PostgreSQL server of GANTRY_TEST_DATABASE_URL (see pgtest), real git
// (see gittest). Test code only: TestNotImportedByProductionCode keeps it,
// and its subpackages, out of every non-test file.
package testkit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store/postgres"
	"github.com/gantryci/gantry/internal/store/sqlite"
	"github.com/gantryci/gantry/internal/store/sqlstore"
	"github.com/gantryci/gantry/internal/testkit/pgtest"
)

// DB is a database the tests run on.
type DB string

// The databases: SQLite always, PostgreSQL when GANTRY_TEST_DATABASE_URL
// names a server.
const (
	SQLite   DB = "sqlite"
	Postgres DB = "postgres"
)

// DBs lists every database, in the order ForEachDB runs them.
var DBs = []DB{SQLite, Postgres}

// ForEachDB runs fn as a parallel subtest per database, named after it;
// the parent test is made parallel too, so fn must not call t.Parallel.
// The PostgreSQL subtest is skipped when GANTRY_TEST_DATABASE_URL is
// unset, and fails then under CI=true (see pgtest.Require).
func ForEachDB(t *testing.T, fn func(t *testing.T, db DB)) {
	t.Helper()
	t.Parallel()
	for _, db := range DBs {
		t.Run(string(db), func(t *testing.T) {
			t.Parallel()
			if db == Postgres {
				pgtest.Require(t)
			}
			fn(t, db)
		})
	}
}

// Open returns a fresh, migrated store on db, closed when t ends: a SQLite
// file in t.TempDir(), or a new PostgreSQL database dropped afterwards.
func (db DB) Open(t testing.TB) *sqlstore.DB {
	t.Helper()
	var (
		st  *sqlstore.DB
		err error
	)
	switch db {
	case SQLite:
		st, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gantry.db"))
	case Postgres:
		st, err = postgres.Open(context.Background(), pgtest.NewDatabaseFrom(t, migratedTemplate(t)))
	default:
		t.Fatalf("testkit: unknown database %q", db)
	}
	if err != nil {
		t.Fatalf("open %s store: %v", db, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close %s store: %v", db, err)
		}
	})
	return st
}

// migratedTemplate is a PostgreSQL database holding every migration,
// named after their hash: copying it is much faster than migrating each
// test's database.
func migratedTemplate(t testing.TB) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	files, err := filepath.Glob(filepath.Join(filepath.Dir(self), "..", "store", "postgres", "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("testkit: PostgreSQL migrations not found (%v)", err)
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	name := fmt.Sprintf("gantry_tpl_%x", h.Sum(nil)[:8])
	return pgtest.Template(t, name, func(url string) error {
		st, err := postgres.Open(context.Background(), url)
		if err != nil {
			return err
		}
		return st.Close()
	})
}

// URL is the database setting of a whole coordinator (app.Config's
// DatabaseURL): "" for SQLite, which the coordinator opens in its data
// directory, or a new PostgreSQL database dropped when t ends.
func (db DB) URL(t testing.TB) string {
	t.Helper()
	if db == Postgres {
		return pgtest.NewDatabase(t)
	}
	return ""
}

// Env is one test's world on one database.
type Env struct {
	T      testing.TB
	Ctx    context.Context
	DB     DB
	Store  *sqlstore.DB
	Blobs  blob.FS
	Engine *pipeline.Service
	Log    *slog.Logger
	// Dir is the test's data directory (blobs/, repos/).
	Dir string
}

// Options adjust NewEnv.
type Options struct {
	// ExternalURL is the engine's base URL; http://gantry.test if empty.
	ExternalURL string
	// Engine adjusts the engine's configuration before it is built.
	Engine func(*pipeline.Config)
	// Log replaces Logger(t), e.g. by a discarding logger in fuzz targets
	// (which must not log through their *testing.F).
	Log *slog.Logger
}

// NewEnv opens a store on db and builds an engine over it, with blobs and
// repositories under a temporary directory.
func NewEnv(t testing.TB, db DB, o Options) *Env {
	t.Helper()
	if o.ExternalURL == "" {
		o.ExternalURL = "http://gantry.test"
	}
	dir := t.TempDir()
	st := db.Open(t)
	log := o.Log
	if log == nil {
		log = Logger(t)
	}
	blobs := blob.FS{Root: filepath.Join(dir, "blobs")}
	cfg := pipeline.Config{ExternalURL: o.ExternalURL, ReposDir: filepath.Join(dir, "repos")}
	if o.Engine != nil {
		o.Engine(&cfg)
	}
	eng := pipeline.New(st, blobs, cfg, log)
	return &Env{T: t, Ctx: context.Background(), DB: db, Store: st, Blobs: blobs, Engine: eng, Log: log, Dir: dir}
}

// Logger writes to t's log (shown for failed tests and under -v), from
// level info, or debug when GANTRY_TEST_LOG is set. Lines logged after t
// ends, by goroutines that outlive it, are dropped rather than panicking.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("GANTRY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	w := &logWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type logWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
