package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// ErrNotEmpty is returned by Restore when the target already holds data.
var ErrNotEmpty = errors.New("restore needs an empty data dir and database")

// Restore unpacks an archive written by Create onto an instance whose data
// dir is empty (or absent) and, for PostgreSQL, whose database (or schema)
// has no Gantry tables yet.
func Restore(ctx context.Context, in Instance, r io.Reader) (*Manifest, error) {
	if err := checkEmpty(ctx, in); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(in.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a Gantry backup: %w", err)
	}
	tr := tar.NewReader(gz)
	var m *Manifest
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read backup: %w", err)
		}
		name := path.Clean(hdr.Name)
		if !fs.ValidPath(name) {
			return nil, fmt.Errorf("backup holds a bad path %q", hdr.Name)
		}
		if m == nil && name != "manifest.json" {
			return nil, errors.New("not a Gantry backup: no manifest first")
		}
		switch {
		case name == "manifest.json":
			m = &Manifest{}
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(m); err != nil {
				return nil, fmt.Errorf("backup manifest: %w", err)
			}
			if m.Format != FormatVersion {
				return nil, fmt.Errorf("backup format %d is not supported (this Gantry reads %d)", m.Format, FormatVersion)
			}
			if want := map[bool]string{true: "postgresql", false: "sqlite"}[in.postgres()]; m.Database != want {
				return nil, fmt.Errorf("backup is of a %s instance; restore it with a %s database", m.Database, m.Database)
			}
		case name == "database/gantry.db":
			if err := extract(tr, in.sqlitePath(), hdr); err != nil {
				return nil, err
			}
		case name == "database/pg_dump":
			tmp, err := os.MkdirTemp("", "gantry-restore-*")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(tmp)
			dump := filepath.Join(tmp, "pg_dump")
			if err := extract(tr, dump, hdr); err != nil {
				return nil, err
			}
			if err := pgRestore(ctx, in.DatabaseURL, dump); err != nil {
				return nil, err
			}
		case inDataDirs(name):
			dst := filepath.Join(in.DataDir, filepath.FromSlash(name))
			if hdr.Typeflag == tar.TypeDir {
				if err := os.MkdirAll(dst, 0o700); err != nil {
					return nil, err
				}
				continue
			}
			if err := extract(tr, dst, hdr); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("backup holds an unexpected entry %q", name)
		}
	}
	if m == nil {
		return nil, errors.New("not a Gantry backup: empty archive")
	}
	return m, nil
}

func inDataDirs(name string) bool {
	for _, d := range dataDirs {
		if name == d || strings.HasPrefix(name, d+"/") {
			return true
		}
	}
	return false
}

func extract(tr *tar.Reader, dst string, hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("backup entry %q is not a regular file", hdr.Name)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("restore %s: %w", hdr.Name, err)
	}
	if _, err := io.Copy(f, tr); err != nil {
		f.Close()
		return fmt.Errorf("restore %s: %w", hdr.Name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkEmpty refuses to restore over data.
func checkEmpty(ctx context.Context, in Instance) error {
	entries, err := os.ReadDir(in.DataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data dir: %w", err)
	}
	for _, e := range entries {
		// A secrets key put back before the restore is expected.
		if e.Name() != "secrets" && !strings.HasPrefix(e.Name(), ".") && !strings.HasSuffix(e.Name(), ".key") {
			return fmt.Errorf("%w: %s holds %s", ErrNotEmpty, in.DataDir, e.Name())
		}
	}
	if !in.postgres() {
		if _, err := os.Stat(in.sqlitePath()); err == nil {
			return fmt.Errorf("%w: %s exists", ErrNotEmpty, in.sqlitePath())
		}
		return nil
	}
	db, err := sql.Open("pgx", in.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_name = 'schema_migrations' AND table_schema = ANY (current_schemas(false))`).Scan(&n); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: the database already has Gantry's tables", ErrNotEmpty)
	}
	return nil
}
