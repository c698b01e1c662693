package blob

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// ErrNotZip is returned by OpenZip for a blob that is not a zip archive (a
// gzip archive, or a damaged one): nothing in it can be listed or extracted.
var ErrNotZip = errors.New("blob: not a zip archive")

// Zip is an open zip archive in the store. Only its central directory is
// read (through io.ReaderAt); entries are decompressed when opened.
type Zip struct {
	*zip.Reader
	f File
}

// Close closes the underlying blob.
func (z *Zip) Close() error { return z.f.Close() }

// OpenZip opens the blob under key as a zip archive. The error wraps
// fs.ErrNotExist when the blob is absent and is ErrNotZip when it is not a
// zip.
func OpenZip(ctx context.Context, s Store, key string) (*Zip, error) {
	f, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, f.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrNotZip, key, err)
	}
	return &Zip{Reader: zr, f: f}, nil
}

// Entry is the regular file named name, or nil.
func (z *Zip) Entry(name string) *zip.File {
	for _, e := range z.File {
		if e.Name == name && !e.FileInfo().IsDir() {
			return e
		}
	}
	return nil
}

// DirEntry is one child of a directory of the archive.
type DirEntry struct {
	Name string // base name
	Path string // full path inside the archive, no trailing slash
	Dir  bool
	Size uint64 // uncompressed; 0 for directories
}

// List is the children of directory dir ("" for the root), directories
// first, each group sorted by name, as GitLab's artifacts browser shows
// them; ok is false when dir is neither the root nor a directory of the
// archive. Directories implied by deeper paths count, as in
// Gitlab::Ci::Build::Artifacts::Metadata.
func (z *Zip) List(dir string) (entries []DirEntry, ok bool) {
	dir = strings.Trim(dir, "/")
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	ok = dir == ""
	dirs := map[string]bool{}
	for _, e := range z.File {
		name := e.Name
		rest, found := strings.CutPrefix(name, prefix)
		if !found || rest == "" {
			if name == prefix {
				ok = true
			}
			continue
		}
		ok = true
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			sub := rest[:i]
			if !dirs[sub] {
				dirs[sub] = true
				entries = append(entries, DirEntry{Name: sub, Path: path.Join(dir, sub), Dir: true})
			}
			continue
		}
		entries = append(entries, DirEntry{Name: rest, Path: name, Size: e.UncompressedSize64})
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Dir != entries[j].Dir {
			return entries[i].Dir
		}
		return entries[i].Name < entries[j].Name
	})
	return entries, ok
}
