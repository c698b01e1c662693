package blob

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRemoveStaleTemp: the temporary files of writes a crash cut off are
// removed once old enough; fresh ones (a write in progress) and blobs stay.
func TestRemoveStaleTemp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := FS{Root: t.TempDir()}
	if _, err := s.Put(ctx, "artifacts/1/2/archive.zip", strings.NewReader("zip")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Root, "artifacts", "1", "2")
	stale, fresh := filepath.Join(dir, tempPrefix+"111"), filepath.Join(dir, tempPrefix+"222")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	n, err := s.RemoveStaleTemp(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemp = %d, %v; want 1 removed", n, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
	f, err := s.Open(ctx, "artifacts/1/2/archive.zip")
	if err != nil {
		t.Fatalf("blob removed: %v", err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil || b.String() != "zip" {
		t.Errorf("blob = %q, %v", b.String(), err)
	}
	// An empty or missing root is not an error.
	if n, err := (FS{Root: filepath.Join(t.TempDir(), "none")}).RemoveStaleTemp(ctx, time.Now()); err != nil || n != 0 {
		t.Errorf("missing root: %d, %v", n, err)
	}
}
