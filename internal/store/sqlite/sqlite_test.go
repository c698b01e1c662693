package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/sqlite"
	"github.com/gantryci/gantry/internal/store/storetest"
	"github.com/gantryci/gantry/internal/testkit"
)

// TestStore runs the shared storage suite on real SQLite files, one fresh
// database per subtest.
func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return testkit.SQLite.Open(t) })
}

// TestReopen checks that opening an existing database keeps its data and
// does not apply migrations twice.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gantry.db")
	tests := []struct {
		name  string
		check func(t *testing.T, s store.Store)
	}{
		{"create", func(t *testing.T, s store.Store) {
			if err := s.CreateUser(t.Context(), &ci.User{Username: "kept", Name: "Kept"}); err != nil {
				t.Fatalf("create user: %v", err)
			}
		}},
		{"reopen", func(t *testing.T, s store.Store) {
			if _, err := s.UserByUsername(t.Context(), "kept"); err != nil {
				t.Fatalf("user after reopen: %v", err)
			}
		}},
		{"reopen again", func(t *testing.T, s store.Store) {
			n, err := s.CountUsers(t.Context())
			if err != nil || n != 1 {
				t.Fatalf("users = %d, %v; want 1", n, err)
			}
		}},
	}
	for _, tc := range tests { // sequential: each step reopens the same file
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer db.Close()
			tc.check(t, db)
		})
	}
}
