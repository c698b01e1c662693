// Package sqlite opens Gantry's embedded SQLite database: WAL, foreign keys,
// a busy timeout, one writer connection and a pool of readers, with the
// numbered migrations of migrations/ applied at start.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gantryci/gantry/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string) (*sqlstore.DB, error) {
	pragmas := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"foreign_keys(ON)",
		"busy_timeout(10000)",
		// NORMAL in WAL mode loses nothing on a process crash (kill -9); only
		// an OS crash or power loss can drop the last commits.
		"synchronous(NORMAL)",
		// 8 MB of page cache per connection (1 writer + 2×cores readers).
		// modernc's allocator puts each 4.3 KB page into an 8 KB slot, so
		// the old 32 MB cost ~64 MB of RSS per busy reader; with the OS page
		// cache behind it, 8 MB keeps the hot index pages of a 10M-job
		// database (docs/performance.md, "Memory").
		"cache_size(-8000)",
		"temp_store(MEMORY)",
	} {
		pragmas.Add("_pragma", p)
	}
	if err := restrictFile(path); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?" + pragmas.Encode()
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One writer: SQLite serialises writes anyway, and queuing them in Go
	// avoids SQLITE_BUSY storms under concurrent requests.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, w, sub, false); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	n := max(4, runtime.NumCPU()*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return sqlstore.New(r, w, sqlstore.Dialect{Name: "sqlite", SingleWriter: true, IsUnique: isUnique}), nil
}

func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// restrictFile creates the database file readable by its owner only (0600)
// before SQLite opens it, or tightens an existing one; SQLite gives its
// -wal and -shm files the database file's mode.
func restrictFile(path string) error {
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	_ = f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restrict %s: %w", p, err)
		}
	}
	return nil
}
