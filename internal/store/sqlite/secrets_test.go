package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/secrets"
	"github.com/gantryci/gantry/internal/store/sqlite"
	"github.com/gantryci/gantry/internal/store/sqlstore"
)

// TestVariableEncryption: values stored in plaintext (before encryption)
// are read as they are and encrypted on request; a store with another key
// refuses them with an error naming its key file.
func TestVariableEncryption(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "gantry.db")
	db, raw := openWithRaw(t, path)
	stored := func() (string, bool) {
		t.Helper()
		var v string
		var enc bool
		if err := raw.QueryRowContext(ctx, `SELECT value, value_encrypted FROM project_variables WHERE key = 'K'`).Scan(&v, &enc); err != nil {
			t.Fatal(err)
		}
		return v, enc
	}
	u := &ci.User{Username: "u", Name: "u", Email: "u@example.com"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	p := &ci.Project{Namespace: "u", Path: "p", Name: "p", Visibility: "private", CreatorID: u.ID}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	// Written without a key: plaintext, as rows from before encryption.
	if err := db.SetProjectVariable(ctx, &ci.ProjectVariable{ProjectID: p.ID, Key: "K", Value: "legacy-plain"}); err != nil {
		t.Fatal(err)
	}
	if v, enc := stored(); v != "legacy-plain" || enc {
		t.Fatalf("stored %q encrypted=%v", v, enc)
	}

	box, err := secrets.Create(filepath.Join(dir, "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	db.UseSecrets(box)
	if n, err := db.EncryptPlainVariables(ctx); err != nil || n != 1 {
		t.Fatalf("EncryptPlainVariables = %d, %v", n, err)
	}
	if v, enc := stored(); strings.Contains(v, "legacy-plain") || !enc {
		t.Errorf("after encryption stored %q encrypted=%v", v, enc)
	}
	if n, err := db.CountEncryptedVariables(ctx); err != nil || n != 1 {
		t.Errorf("CountEncryptedVariables = %d, %v", n, err)
	}
	vars, err := db.ListProjectVariables(ctx, p.ID)
	if err != nil || len(vars) != 1 || vars[0].Value != "legacy-plain" {
		t.Fatalf("ListProjectVariables = %v, %v", vars, err)
	}
	if err := db.CheckSecrets(ctx); err != nil {
		t.Errorf("CheckSecrets with the right key: %v", err)
	}

	other, err := secrets.Create(filepath.Join(dir, "b.key"))
	if err != nil {
		t.Fatal(err)
	}
	db.UseSecrets(other)
	if err := db.CheckSecrets(ctx); !errors.Is(err, sqlstore.ErrSecretsKeyMismatch) || !strings.Contains(err.Error(), other.File()) {
		t.Errorf("CheckSecrets with another key: %v", err)
	}
	if _, err := db.ListProjectVariables(ctx, p.ID); !errors.Is(err, secrets.ErrWrongKey) {
		t.Errorf("ListProjectVariables with another key: %v", err)
	}
}

// TestPlainVariablesSearchUsesIndex: the start-up search for variable lists
// still in plaintext is answered by the partial indexes of migration 0018,
// not by reading every job and pipeline (seconds per million jobs before
// the server was ready). SQLite uses a partial index only when the query
// repeats its WHERE, so a reworded query would silently scan again.
func TestPlainVariablesSearchUsesIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, raw := openWithRaw(t, filepath.Join(t.TempDir(), "gantry.db"))
	for table, tt := range map[string]struct{ col, index string }{
		"jobs":      {"job_variables", "jobs_plain_variables"},
		"pipelines": {"variables", "pipelines_plain_variables"},
	} {
		// The query text of sqlstore.encryptPlainVars.
		q := `EXPLAIN QUERY PLAN SELECT id, project_id, ` + tt.col + ` FROM ` + table + `
		WHERE ` + tt.col + ` <> '' AND ` + tt.col + ` NOT LIKE 'sealed:%'`
		rows, err := raw.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if got := strings.Join(plan, "; "); !strings.Contains(got, "USING INDEX "+tt.index) {
			t.Errorf("%s: plan %q does not use %s", table, got, tt.index)
		}
	}
}

// openWithRaw opens the store at path (migrated) and a second, plain
// connection pool on the same file to look behind it; both close with t.
func openWithRaw(t *testing.T, path string) (*sqlstore.DB, *sql.DB) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return db, raw
}
