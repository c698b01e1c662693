package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// instanceVariableContext binds a sealed instance variable value to its
// key, as variableContext does for project variables.
func instanceVariableContext(key string) string {
	return "instance_variables:" + key + ":value"
}

func (db *DB) sealInstanceVariable(key, value string) (string, bool) {
	if db.box == nil {
		return value, false
	}
	return db.box.Seal(value, instanceVariableContext(key)), true
}

// ListInstanceVariables lists the instance variables by key.
func (db *DB) ListInstanceVariables(ctx context.Context) ([]*ci.InstanceVariable, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT key, value, value_encrypted, protected, masked, raw, file, description
		FROM instance_variables ORDER BY key`))
	if err != nil {
		return nil, fmt.Errorf("list instance variables: %w", err)
	}
	defer rows.Close()
	var out []*ci.InstanceVariable
	for rows.Next() {
		var v ci.InstanceVariable
		var enc bool
		var desc sql.NullString
		if err := rows.Scan(&v.Key, &v.Value, &enc, &v.Protected, &v.Masked, &v.Raw, &v.File, &desc); err != nil {
			return nil, err
		}
		if enc {
			if db.box == nil {
				return nil, fmt.Errorf("instance variable %s is encrypted and no secrets key is configured", v.Key)
			}
			if v.Value, err = db.box.Open(v.Value, instanceVariableContext(v.Key)); err != nil {
				return nil, fmt.Errorf("instance variable %s: %w", v.Key, err)
			}
		}
		v.Description = fromNullString(desc)
		out = append(out, &v)
	}
	return out, rows.Err()
}

// CreateInstanceVariable stores a new instance variable.
func (db *DB) CreateInstanceVariable(ctx context.Context, v *ci.InstanceVariable) error {
	value, enc := db.sealInstanceVariable(v.Key, v.Value)
	_, err := db.exec(ctx, db.w, `INSERT INTO instance_variables (key, value, value_encrypted, protected, masked, raw, file,
		description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, v.Key, value, enc, v.Protected, v.Masked, v.Raw, v.File, v.Description)
	if err != nil {
		return fmt.Errorf("create instance variable %s: %w", v.Key, db.wrap(err))
	}
	return nil
}

// UpdateInstanceVariable rewrites an instance variable.
func (db *DB) UpdateInstanceVariable(ctx context.Context, v *ci.InstanceVariable) error {
	value, enc := db.sealInstanceVariable(v.Key, v.Value)
	res, err := db.exec(ctx, db.w, `UPDATE instance_variables SET value = ?, value_encrypted = ?, protected = ?, masked = ?,
		raw = ?, file = ?, description = ? WHERE key = ?`, value, enc, v.Protected, v.Masked, v.Raw, v.File, v.Description, v.Key)
	if err != nil {
		return fmt.Errorf("update instance variable %s: %w", v.Key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("instance variable %s: %w", v.Key, store.ErrNotFound)
	}
	return nil
}

// DeleteInstanceVariable removes an instance variable.
func (db *DB) DeleteInstanceVariable(ctx context.Context, key string) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM instance_variables WHERE key = ?`, key)
	if err != nil {
		return fmt.Errorf("delete instance variable %s: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("instance variable %s: %w", key, store.ErrNotFound)
	}
	return nil
}
