package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gantryci/gantry/internal/store"
)

// The attributes below live beside a variable's value: they never touch the
// value column, which SetProjectVariable and ListProjectVariables own.

// ProjectVariableAttrs maps each of the project's variable keys to its
// environment scope and description (of a key with several scopes, the
// last scope by name).
func (db *DB) ProjectVariableAttrs(ctx context.Context, projectID int64) (map[string]store.VariableAttrs, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT key, environment_scope, description FROM project_variables
		WHERE project_id = ? ORDER BY key, environment_scope`), projectID)
	if err != nil {
		return nil, fmt.Errorf("variable attributes: %w", err)
	}
	defer rows.Close()
	out := map[string]store.VariableAttrs{}
	for rows.Next() {
		var key string
		var a store.VariableAttrs
		var desc sql.NullString
		if err := rows.Scan(&key, &a.EnvironmentScope, &desc); err != nil {
			return nil, err
		}
		if desc.Valid {
			a.Description = &desc.String
		}
		out[key] = a
	}
	return out, rows.Err()
}

// SetProjectVariableAttrs sets an existing variable's scope and description.
func (db *DB) SetProjectVariableAttrs(ctx context.Context, projectID int64, key string, a store.VariableAttrs) error {
	res, err := db.exec(ctx, db.w, `UPDATE project_variables SET environment_scope = ?, description = ?
		WHERE project_id = ? AND key = ?`, a.EnvironmentScope, a.Description, projectID, key)
	if err != nil {
		return fmt.Errorf("set variable %s attributes: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteProjectVariableScope removes the variable of key and scope.
func (db *DB) DeleteProjectVariableScope(ctx context.Context, projectID int64, key, scope string) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM project_variables WHERE project_id = ? AND key = ? AND environment_scope = ?`,
		projectID, key, scope)
	if err != nil {
		return fmt.Errorf("delete variable %s: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteProjectVariable removes a variable; ErrNotFound when there is none.
func (db *DB) DeleteProjectVariable(ctx context.Context, projectID int64, key string) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM project_variables WHERE project_id = ? AND key = ?`, projectID, key)
	if err != nil {
		return fmt.Errorf("delete variable %s: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}
