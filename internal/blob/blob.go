// Package blob stores artifacts and archived logs behind a small interface,
// so that an object store can replace the filesystem later.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Store keeps opaque blobs under keys like "artifacts/12/34/archive.zip".
type Store interface {
	// Put writes r under key atomically and durably, returning its size.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open reads a blob; the error wraps fs.ErrNotExist when it is absent.
	Open(ctx context.Context, key string) (File, error)
	// Delete removes a blob; a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}

// File is an open blob.
type File interface {
	io.ReadSeekCloser
	io.ReaderAt
	Size() int64
}

// FS is a Store on a local (or shared) filesystem directory.
type FS struct{ Root string }

func (s FS) path(key string) (string, error) {
	clean := filepath.Clean("/" + key)
	if clean == "/" || strings.Contains(key, "..") {
		return "", fmt.Errorf("blob: bad key %q", key)
	}
	return filepath.Join(s.Root, clean), nil
}

// Put writes to a temporary file, syncs it, then renames it into place, so
// a crash never leaves a half-written blob under the key.
func (s FS) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := s.path(key)
	if err != nil {
		return 0, err
	}
	// Blobs (artifacts, logs) are the coordinator's alone: 0700 dirs, and
	// CreateTemp's 0600 files.
	// Most blobs go to a new directory whose parent exists (one per job):
	// one mkdir, not MkdirAll's walk of stats.
	newDir := true
	if err := os.Mkdir(filepath.Dir(p), 0o700); errors.Is(err, fs.ErrExist) {
		newDir = false
	} else if err != nil {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return 0, fmt.Errorf("blob dir: %w", err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), tempPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("blob temp: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("blob write %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return 0, fmt.Errorf("blob rename %s: %w", key, err)
	}
	renamed = true
	// The rename is durable only once its directory is synced (and a new
	// directory's own entry, in its parent): the caller records the blob
	// in the database next, and a crash must not leave a row naming a
	// file the file system forgot.
	if err := syncDir(filepath.Dir(p)); err != nil {
		return 0, fmt.Errorf("blob sync %s: %w", key, err)
	}
	if newDir {
		if err := syncDir(filepath.Dir(filepath.Dir(p))); err != nil {
			return 0, fmt.Errorf("blob sync %s: %w", key, err)
		}
	}
	return n, nil
}

// syncDir fsyncs a directory, making the entries created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct {
	*os.File
	size int64
}

func (f osFile) Size() int64 { return f.size }

// Open opens a blob for reading.
func (s FS) Open(ctx context.Context, key string) (File, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("blob open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob stat %s: %w", key, err)
	}
	return osFile{f, st.Size()}, nil
}

// tempPrefix names the files Put writes before renaming them into place.
const tempPrefix = ".tmp-"

// TempCleaner is a Store that can remove what writes cut off by a crash
// left behind (FS's temporary files). The sweeper asks for it.
type TempCleaner interface {
	// RemoveStaleTemp removes temporary files last written before
	// before, returning how many it removed.
	RemoveStaleTemp(ctx context.Context, before time.Time) (int, error)
}

// RemoveStaleTemp removes the temporary files of uploads that a crashed
// or killed process never finished: Put removes its own on every error,
// so any left unmodified since before belong to no live write.
func (s FS) RemoveStaleTemp(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(s.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(before) {
			return nil // gone meanwhile, or a write still in progress
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("blob temp cleanup: %w", err)
	}
	return n, nil
}

// Delete removes a blob.
func (s FS) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob delete %s: %w", key, err)
	}
	return nil
}
