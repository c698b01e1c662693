package sqlite_test

import (
	"database/sql"
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

// TestMigrateProtectsDefaultBranches: migration 0006 protects the default
// branch of projects that existed before it, as their first push would
// now.
func TestMigrateProtectsDefaultBranches(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gantry.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	pushed := &ci.Project{Namespace: "o", Path: "pushed", Name: "pushed", Visibility: ci.VisibilityPrivate, DefaultBranch: "trunk"}
	empty := &ci.Project{Namespace: "o", Path: "empty", Name: "empty", Visibility: ci.VisibilityPrivate}
	for _, p := range []*ci.Project{pushed, empty} {
		if err := db.CreateProject(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	// Back to the schema before 0006, with the projects in it.
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE protected_ref_access_levels`, `DROP TABLE protected_refs`,
		`DELETE FROM schema_migrations WHERE version = 6`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	rs, err := db.ProtectedRefs(t.Context(), pushed.ID)
	if err != nil || len(rs) != 1 || rs[0].Name != "trunk" || rs[0].AllowForcePush ||
		!rs.Can(ci.BranchRef, "trunk", ci.ActionPush, ci.Maintainer) || rs.Can(ci.BranchRef, "trunk", ci.ActionPush, ci.Developer) ||
		!rs.Can(ci.BranchRef, "trunk", ci.ActionMerge, ci.Maintainer) {
		t.Fatalf("pushed project's rules: %+v, %v", rs, err)
	}
	if rs, err := db.ProtectedRefs(t.Context(), empty.ID); err != nil || len(rs) != 0 {
		t.Fatalf("empty project's rules: %+v, %v", rs, err)
	}
}
