package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/secrets"
	"github.com/gantryci/gantry/internal/store"
)

// UseSecrets makes the store encrypt CI variable values with box: project
// variables, and the variable lists kept with pipelines (API, trigger and
// schedule variables) and jobs (job_variables_attributes given at play),
// as GitLab encrypts ci_variables, ci_pipeline_variables and
// ci_job_variables alike. Call it before serving, then CheckSecrets.
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

// Variable lists are stored as JSON in pipelines.variables and
// jobs.job_variables; encrypted, the column holds sealedVarsPrefix and the
// sealed JSON, bound to the table and the project. A plaintext list (JSON,
// always starting with "[") is from before encryption.
const sealedVarsPrefix = "sealed:"

// The tables holding variable lists, and their columns.
const (
	varsPipelines = "pipelines"
	varsJobs      = "jobs"
)

var varsColumn = map[string]string{varsPipelines: "variables", varsJobs: "job_variables"}

func varsContext(table string, projectID int64) string {
	return fmt.Sprintf("%s:%d:%s", table, projectID, varsColumn[table])
}

// sealVars returns the stored form of a variable list ("" when empty).
func (db *DB) sealVars(vs []ci.Variable, table string, projectID int64) (string, error) {
	if len(vs) == 0 {
		return "", nil
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return "", err
	}
	if db.box == nil {
		return string(b), nil
	}
	return sealedVarsPrefix + db.box.Seal(string(b), varsContext(table, projectID)), nil
}

// openVars decodes a stored variable list into out; an encrypted one that
// the key does not open is an error naming the key file, never garbage.
func (db *DB) openVars(stored, table string, projectID int64, out *[]ci.Variable) error {
	if stored == "" {
		return nil
	}
	if sealed, ok := strings.CutPrefix(stored, sealedVarsPrefix); ok {
		if db.box == nil {
			return fmt.Errorf("%s variables of project %d are encrypted and no secrets key is configured", table, projectID)
		}
		plain, err := db.box.Open(sealed, varsContext(table, projectID))
		if err != nil {
			return fmt.Errorf("%s variables of project %d: %w", table, projectID, err)
		}
		stored = plain
	}
	if err := json.Unmarshal([]byte(stored), out); err != nil {
		return fmt.Errorf("decode %s variables: %w", table, err)
	}
	return nil
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

// CountEncryptedVariables counts the variable values stored encrypted
// (project, instance and pipeline schedule variables, and pipelines and jobs with
// encrypted variable lists): a coordinator that finds some must not create
// a new key. It reads every job: ask only when the key file is missing.
func (db *DB) CountEncryptedVariables(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT
		(SELECT COUNT(*) FROM project_variables WHERE value_encrypted) +
		(SELECT COUNT(*) FROM pipeline_schedule_variables WHERE value_encrypted) +
		(SELECT COUNT(*) FROM pipelines WHERE variables LIKE 'sealed:%') +
		(SELECT COUNT(*) FROM jobs WHERE job_variables LIKE 'sealed:%') +
		(SELECT COUNT(*) FROM ref_changes WHERE options_encrypted) +
		(SELECT COUNT(*) FROM instance_variables WHERE value_encrypted)`)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count encrypted variables: %w", err)
	}
	return n, nil
}

// CheckSecrets opens one encrypted value of each kind with the configured
// key, so a wrong key file stops the start instead of failing jobs later.
func (db *DB) CheckSecrets(ctx context.Context) error {
	var (
		projectID int64
		key, val  string
	)
	err := db.r.QueryRowContext(ctx, db.q(`SELECT project_id, key, value FROM project_variables
		WHERE value_encrypted ORDER BY project_id, key LIMIT 1`)).Scan(&projectID, &key, &val)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("check secrets key: %w", err)
	default:
		if _, err := db.openVariable(projectID, key, val, true); err != nil {
			return fmt.Errorf("%w: %w", ErrSecretsKeyMismatch, err)
		}
	}
	for _, table := range []string{varsPipelines, varsJobs} {
		// One of the newest rows: searching the whole table for a sealed
		// list would read every job of a database with none (seconds per
		// million jobs at every start); a wrong key shows in recent rows.
		col := varsColumn[table]
		err := db.r.QueryRowContext(ctx, db.q(`SELECT project_id, `+col+` FROM
			(SELECT id, project_id, `+col+` FROM `+table+` ORDER BY id DESC LIMIT 1000) recent
			WHERE `+col+` LIKE 'sealed:%' ORDER BY id DESC LIMIT 1`)).Scan(&projectID, &val)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check secrets key: %w", err)
		}
		var vs []ci.Variable
		if err := db.openVars(val, table, projectID, &vs); err != nil {
			return fmt.Errorf("%w: %w", ErrSecretsKeyMismatch, err)
		}
	}
	return nil
}

// EncryptPlainVariables encrypts the variable values stored in plaintext
// (written before encryption, or without a key) and returns how many rows
// it encrypted.
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
	todo, err := collect(rows, func(p *plain) []any { return []any{&p.projectID, &p.key, &p.value} })
	if err != nil {
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
	n := len(todo)
	for _, table := range []string{varsPipelines, varsJobs} {
		k, err := db.encryptPlainVars(ctx, table)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// encryptPlainVars encrypts the plaintext variable lists of table.
func (db *DB) encryptPlainVars(ctx context.Context, table string) (int, error) {
	col := varsColumn[table]
	// The WHERE is the partial index's (migration 0018), word for word.
	rows, err := db.w.QueryContext(ctx, db.q(`SELECT id, project_id, `+col+` FROM `+table+`
		WHERE `+col+` <> '' AND `+col+` NOT LIKE 'sealed:%'`))
	if err != nil {
		return 0, fmt.Errorf("list plaintext %s variables: %w", table, err)
	}
	type plain struct {
		id, projectID int64
		vars          string
	}
	todo, err := collect(rows, func(p *plain) []any { return []any{&p.id, &p.projectID, &p.vars} })
	if err != nil {
		return 0, err
	}
	for _, p := range todo {
		var vs []ci.Variable
		if err := json.Unmarshal([]byte(p.vars), &vs); err != nil {
			return 0, fmt.Errorf("decode variables of %s %d: %w", table, p.id, err)
		}
		sealed, err := db.sealVars(vs, table, p.projectID)
		if err != nil {
			return 0, err
		}
		// As above: only a row still holding the same plaintext.
		if _, err := db.exec(ctx, db.w, `UPDATE `+table+` SET `+col+` = ? WHERE id = ? AND `+col+` = ?`,
			sealed, p.id, p.vars); err != nil {
			return 0, fmt.Errorf("encrypt variables of %s %d: %w", table, p.id, err)
		}
	}
	return len(todo), nil
}

// collect reads every row into a T, scanning into the fields dest names,
// and closes rows.
func collect[T any](rows *sql.Rows, dest func(*T) []any) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(dest(&v)...); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
