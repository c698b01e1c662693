// Package backup writes a consistent snapshot of a Gantry instance to one
// archive and restores it onto an empty data directory.
//
// The archive is a gzip-compressed tar stream:
//
//	manifest.json          what was backed up, by which version, when
//	database/gantry.db     SQLite: an online snapshot (VACUUM INTO)
//	database/pg_dump       PostgreSQL: pg_dump's custom format
//	repositories/…         the bare git repositories
//	blobs/…                artifacts and archived job logs
//
// The snapshot is consistent where it matters: the database is copied at
// one instant, and repositories and blobs are copied afterwards. Both only
// gain content that the database refers to after it was written (a push
// writes objects before refs and before its pipeline row; a blob is renamed
// into place before its row is committed), so every commit and every blob
// the snapshot's rows name is in the archive. Git refs are copied before
// objects for the same reason.
//
// The secrets key that encrypts CI variables is deliberately not in the
// archive (GitLab's backup likewise leaves config/secrets.yml out): keep a
// copy apart, and put it back beside the restored data.
package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// FormatVersion is the archive layout version written into the manifest.
const FormatVersion = 1

// Instance names what a backup reads or a restore writes.
type Instance struct {
	// DataDir is the instance's data directory.
	DataDir string
	// DatabaseURL is empty for SQLite in DataDir (gantry.db), a path or
	// sqlite:// URL for SQLite elsewhere, or a postgres:// URL.
	DatabaseURL string
}

// Manifest describes an archive.
type Manifest struct {
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Database  string    `json:"database"` // "sqlite" or "postgresql"
	Gantry    string    `json:"gantry,omitempty"`
}

// dataDirs are the parts of a data directory that a backup copies, in the
// order it copies them. Everything else (builds, temporary uploads, the
// secrets key) stays out.
var dataDirs = []string{"repositories", "blobs"}

func (in Instance) postgres() bool {
	return strings.HasPrefix(in.DatabaseURL, "postgres://") || strings.HasPrefix(in.DatabaseURL, "postgresql://")
}

func (in Instance) sqlitePath() string {
	p := strings.TrimPrefix(in.DatabaseURL, "sqlite://")
	if p == "" {
		p = filepath.Join(in.DataDir, "gantry.db")
	}
	return p
}

// Create writes a backup of the instance to w. It reads a running instance
// without stopping it.
func Create(ctx context.Context, in Instance, version string, w io.Writer) error {
	if _, err := os.Stat(in.DataDir); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	tmp, err := os.MkdirTemp("", "gantry-backup-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)

	m := Manifest{Format: FormatVersion, CreatedAt: time.Now().UTC(), Gantry: version}
	var dbFile, dbName string
	if in.postgres() {
		m.Database, dbName = "postgresql", "database/pg_dump"
		dbFile = filepath.Join(tmp, "pg_dump")
		if err := pgDump(ctx, in.DatabaseURL, dbFile); err != nil {
			return err
		}
	} else {
		m.Database, dbName = "sqlite", "database/gantry.db"
		dbFile = filepath.Join(tmp, "gantry.db")
		if err := sqliteSnapshot(ctx, in.sqlitePath(), dbFile); err != nil {
			return err
		}
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	manifest, _ := json.MarshalIndent(m, "", "  ")
	if err := writeBytes(tw, "manifest.json", manifest); err != nil {
		return err
	}
	if err := addFile(tw, dbName, dbFile); err != nil {
		return err
	}
	for _, d := range dataDirs {
		root := filepath.Join(in.DataDir, d)
		if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := addTree(ctx, tw, root, d); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

func writeBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	_, err := tw.Write(b)
	return err
}

// addFile copies one regular file into the archive. A file that shrinks
// or vanishes meanwhile is an error; one that grows is copied at the size
// it had when it was opened.
func addFile(tw *tar.Writer, name, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	if _, err := io.CopyN(tw, f, st.Size()); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	return nil
}

// addTree copies a directory. Git repositories get their refs before their
// objects (see the package comment); temporary files are skipped.
func addTree(ctx context.Context, tw *tar.Writer, root, prefix string) error {
	objects, err := copyDir(ctx, tw, root, prefix, "objects")
	if err != nil {
		return err
	}
	for _, dir := range objects {
		rel, _ := filepath.Rel(root, dir)
		if _, err := copyDir(ctx, tw, dir, path.Join(prefix, filepath.ToSlash(rel)), ""); err != nil {
			return err
		}
	}
	return nil
}

// copyDir copies the tree at root under the archive name prefix, except
// subdirectories named deferName, which it returns for the caller to copy
// afterwards. Files removed meanwhile (an expired artifact) are skipped.
func copyDir(ctx context.Context, tw *tar.Writer, root, prefix, deferName string) ([]string, error) {
	var deferred []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := path.Join(prefix, filepath.ToSlash(rel))
		switch {
		case skipped(d.Name()):
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir() && rel != "." && d.Name() == deferName:
			deferred = append(deferred, p)
			return filepath.SkipDir
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o700, Typeflag: tar.TypeDir, ModTime: time.Now()})
		case !d.Type().IsRegular():
			return nil
		}
		if err := addFile(tw, name, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", prefix, err)
	}
	return deferred, nil
}

// skipped reports temporary files: blob uploads in flight (.tmp-*), git's
// incoming quarantine and temporary packs, lock files.
func skipped(name string) bool {
	return strings.HasPrefix(name, ".tmp-") || strings.HasPrefix(name, "incoming-") ||
		strings.HasPrefix(name, "tmp_") || strings.HasSuffix(name, ".lock")
}
