package pipeline_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/testkit"
)

// TestSweepRemovesStaleUploads: the sweeper removes the temporary file an
// upload left when its coordinator was killed mid-write, once it has gone
// unwritten for an hour, and leaves a write in progress alone.
func TestSweepRemovesStaleUploads(t *testing.T) {
	testkit.ForEachDB(t, func(t *testing.T, db testkit.DB) {
		e := testkit.NewEnv(t, db, testkit.Options{})
		dir := filepath.Join(e.Blobs.Root, "artifacts", "7", "9")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cut, live := filepath.Join(dir, ".tmp-cut"), filepath.Join(dir, ".tmp-live")
		for _, f := range []string{cut, live} {
			if err := os.WriteFile(f, []byte("half an archive"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(cut, old, old); err != nil {
			t.Fatal(err)
		}
		e.Engine.SweepOnce(e.Ctx, pipeline.SweepConfig{Interval: time.Second})
		if _, err := os.Stat(cut); !os.IsNotExist(err) {
			t.Errorf("the cut-off upload's temporary file is still there (%v)", err)
		}
		if _, err := os.Stat(live); err != nil {
			t.Errorf("a write in progress lost its temporary file: %v", err)
		}
	})
}
