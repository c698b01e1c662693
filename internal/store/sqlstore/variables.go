package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/secrets"
	"github.com/gantryci/gantry/internal/store"
)

// UseSecrets makes the store encrypt CI variable values with box. Call it
// before serving, then CheckSecrets.
func (db *DB) UseSecrets(box *secrets.Box) { db.box = box }

// variableContext binds a sealed value to its row, so a value copied to
// another project or key does not decrypt.
func variableContext(projectID int64, key string) string {
	return fmt.Sprintf("project_variables:%d:%s:value", projectID, key)
}

// sealVariable returns the stored form of a variable value.
func (db *DB) sealVariable(projectID int64, key, value string) (string, bool) {
	if db.box == nil {
		return value, false
	}
	return db.box.Seal(value, variableContext(projectID, key)), true
}

// openVariable returns the value of a stored variable.
func (db *DB) openVariable(projectID int64, key, stored string, encrypted bool) (string, error) {
	if !encrypted {
		return stored, nil
	}
	if db.box == nil {
		return "", fmt.Errorf("variable %s of project %d is encrypted and no secrets key is configured", key, projectID)
	}
	v, err := db.box.Open(stored, variableContext(projectID, key))
	if err != nil {
		return "", fmt.Errorf("variable %s of project %d: %w", key, projectID, err)
	}
	return v, nil
}

// SetProjectVariable creates or replaces the project variable of v's key
// and environment scope ("" is "*"); a replaced one keeps its description.
func (db *DB) SetProjectVariable(ctx context.Context, v *ci.ProjectVariable) error {
	if v.EnvironmentScope == "" {
		v.EnvironmentScope = "*"
	}
	value, enc := db.sealVariable(v.ProjectID, v.Key, v.Value)
	_, err := db.exec(ctx, db.w, `INSERT INTO project_variables (project_id, key, value, value_encrypted, protected, masked, raw, file,
		environment_scope, description)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, key, environment_scope) DO UPDATE SET value = excluded.value,
		value_encrypted = excluded.value_encrypted, protected = excluded.protected, masked = excluded.masked,
		raw = excluded.raw, file = excluded.file`,
		v.ProjectID, v.Key, value, enc, v.Protected, v.Masked, v.Raw, v.File, v.EnvironmentScope, v.Description)
	if err != nil {
		return fmt.Errorf("set variable %s: %w", v.Key, err)
	}
	return nil
}

// CreateProjectVariable stores a new variable; ErrConflict when its key
// and environment scope are taken.
func (db *DB) CreateProjectVariable(ctx context.Context, v *ci.ProjectVariable) error {
	value, enc := db.sealVariable(v.ProjectID, v.Key, v.Value)
	_, err := db.exec(ctx, db.w, `INSERT INTO project_variables (project_id, key, value, value_encrypted, protected, masked, raw, file,
		environment_scope, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ProjectID, v.Key, value, enc, v.Protected, v.Masked, v.Raw, v.File, v.EnvironmentScope, v.Description)
	if err != nil {
		return fmt.Errorf("create variable %s: %w", v.Key, db.wrap(err))
	}
	return nil
}

// UpdateProjectVariable rewrites the variable of v's key stored under
// scope, its scope included; ErrNotFound when there is none, ErrConflict
// when the new scope is taken.
func (db *DB) UpdateProjectVariable(ctx context.Context, v *ci.ProjectVariable, scope string) error {
	value, enc := db.sealVariable(v.ProjectID, v.Key, v.Value)
	res, err := db.exec(ctx, db.w, `UPDATE project_variables SET value = ?, value_encrypted = ?, protected = ?, masked = ?,
		raw = ?, file = ?, environment_scope = ?, description = ? WHERE project_id = ? AND key = ? AND environment_scope = ?`,
		value, enc, v.Protected, v.Masked, v.Raw, v.File, v.EnvironmentScope, v.Description, v.ProjectID, v.Key, scope)
	if err != nil {
		return fmt.Errorf("update variable %s: %w", v.Key, db.wrap(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("variable %s (%s): %w", v.Key, scope, store.ErrNotFound)
	}
	return nil
}

// ListProjectVariables lists a project's variables by key.
func (db *DB) ListProjectVariables(ctx context.Context, projectID int64) ([]*ci.ProjectVariable, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT project_id, key, value, value_encrypted, protected, masked, raw, file,
		environment_scope, description FROM project_variables WHERE project_id = ? ORDER BY key, environment_scope`), projectID)
	if err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	defer rows.Close()
	var out []*ci.ProjectVariable
	for rows.Next() {
		var v ci.ProjectVariable
		var enc bool
		var desc sql.NullString
		if err := rows.Scan(&v.ProjectID, &v.Key, &v.Value, &enc, &v.Protected, &v.Masked, &v.Raw, &v.File,
			&v.EnvironmentScope, &desc); err != nil {
			return nil, err
		}
		v.Description = fromNullString(desc)
		if v.Value, err = db.openVariable(v.ProjectID, v.Key, v.Value, enc); err != nil {
			return nil, err
		}
		out = append(out, &v)
	}
	return out, rows.Err()
}

// ErrSecretsKeyMismatch reports encrypted values that the configured key
// does not open.
var ErrSecretsKeyMismatch = errors.New("secrets key does not match the database")

// CountEncryptedVariables counts the variable values (project and
// instance) stored encrypted: a coordinator that finds some must not
// create a new key.
func (db *DB) CountEncryptedVariables(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT (SELECT COUNT(*) FROM project_variables WHERE value_encrypted) +
		(SELECT COUNT(*) FROM instance_variables WHERE value_encrypted)`)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count encrypted variables: %w", err)
	}
	return n, nil
}

// CheckSecrets opens one encrypted value with the configured key, so a
// wrong key file stops the start instead of failing jobs later.
func (db *DB) CheckSecrets(ctx context.Context) error {
	var (
		projectID int64
		key, val  string
	)
	err := db.r.QueryRowContext(ctx, db.q(`SELECT project_id, key, value FROM project_variables
		WHERE value_encrypted ORDER BY project_id, key LIMIT 1`)).Scan(&projectID, &key, &val)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return fmt.Errorf("check secrets key: %w", err)
	}
	if _, err := db.openVariable(projectID, key, val, true); err != nil {
		return fmt.Errorf("%w: %w", ErrSecretsKeyMismatch, err)
	}
	return nil
}

// EncryptPlainVariables encrypts the variable values stored in plaintext
// (written before encryption, or without a key) and returns how many.
func (db *DB) EncryptPlainVariables(ctx context.Context) (int, error) {
	if db.box == nil {
		return 0, nil
	}
	rows, err := db.w.QueryContext(ctx, db.q(`SELECT project_id, key, value FROM project_variables WHERE NOT value_encrypted`))
	if err != nil {
		return 0, fmt.Errorf("list plaintext variables: %w", err)
	}
	type plain struct {
		projectID  int64
		key, value string
	}
	var todo []plain
	for rows.Next() {
		var p plain
		if err := rows.Scan(&p.projectID, &p.key, &p.value); err != nil {
			rows.Close()
			return 0, err
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, p := range todo {
		sealed, _ := db.sealVariable(p.projectID, p.key, p.value)
		// Only a row still holding the same plaintext is replaced, so a
		// value set meanwhile is never overwritten.
		if _, err := db.exec(ctx, db.w, `UPDATE project_variables SET value = ?, value_encrypted = ?
			WHERE project_id = ? AND key = ? AND NOT value_encrypted AND value = ?`,
			sealed, true, p.projectID, p.key, p.value); err != nil {
			return 0, fmt.Errorf("encrypt variable %s of project %d: %w", p.key, p.projectID, err)
		}
	}
	return len(todo), nil
}
