package backup

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// sqliteSnapshot copies the live database at src into dst at one instant.
// VACUUM INTO reads inside one read transaction, so it sees a consistent
// state while the coordinator goes on writing (WAL mode), and writes a
// compact file with no WAL of its own.
func sqliteSnapshot(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("database %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("database snapshot of %s: %w", src, err)
	}
	return os.Chmod(dst, 0o600)
}

// pgTool finds a PostgreSQL client program: on PATH, else the newest of
// Debian's /usr/lib/postgresql/*/bin.
func pgTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Strings(dirs)
	if len(dirs) > 0 {
		return dirs[len(dirs)-1], nil
	}
	return "", fmt.Errorf("%s not found: install the PostgreSQL client (Debian: postgresql-client)", name)
}

// pgConn splits Gantry's database URL into what libpq's tools take: the
// URL without the search_path parameter (pgx understands it, libpq does
// not), and the schema it names, if any.
func pgConn(dbURL string) (conn, schema string, err error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", "", fmt.Errorf("database URL: %w", err)
	}
	q := u.Query()
	schema = q.Get("search_path")
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String(), schema, nil
}

// pgDump writes the database (or the schema its URL selects) in pg_dump's
// custom format, which pg_dump takes in one snapshot.
func pgDump(ctx context.Context, dbURL, dst string) error {
	bin, err := pgTool("pg_dump")
	if err != nil {
		return err
	}
	conn, schema, err := pgConn(dbURL)
	if err != nil {
		return err
	}
	args := []string{"--format=custom", "--no-owner", "--no-privileges", "--file", dst}
	if schema != "" {
		args = append(args, "--schema", schema)
	}
	return run(ctx, bin, append(args, "--dbname", conn)...)
}

// pgRestore loads a custom-format dump into the (empty) database.
func pgRestore(ctx context.Context, dbURL, src string) error {
	bin, err := pgTool("pg_restore")
	if err != nil {
		return err
	}
	conn, _, err := pgConn(dbURL)
	if err != nil {
		return err
	}
	return run(ctx, bin, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--dbname", conn, src)
}

func run(ctx context.Context, bin string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		// Never echo the connection string: it may hold a password.
		return fmt.Errorf("%s: %w: %s", filepath.Base(bin), err, msg)
	}
	return nil
}
