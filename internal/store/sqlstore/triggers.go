package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

const triggerCols = `id, project_id, owner_id, description, token_hash, token_short, created_at, updated_at, last_used, expires_at`

func scanTrigger(row interface{ Scan(...any) error }) (*ci.Trigger, error) {
	var t ci.Trigger
	var created, updated int64
	var used, expires sql.NullInt64
	if err := row.Scan(&t.ID, &t.ProjectID, &t.OwnerID, &t.Description, &t.TokenDigest, &t.TokenShort,
		&created, &updated, &used, &expires); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	t.LastUsed, t.ExpiresAt = fromNull(used), fromNull(expires)
	return &t, nil
}

// CreateTrigger stores t and sets its ID.
func (db *DB) CreateTrigger(ctx context.Context, t *ci.Trigger) error {
	id, err := db.insert(ctx, db.w, `INSERT INTO pipeline_triggers (project_id, owner_id, description, token_hash,
		token_short, created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ProjectID, t.OwnerID, t.Description, t.TokenDigest, t.TokenShort, tv(t.CreatedAt), tv(t.UpdatedAt), tp(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create trigger: %w", err)
	}
	t.ID = id
	return nil
}

// ListTriggers lists a project's triggers by id.
func (db *DB) ListTriggers(ctx context.Context, projectID int64, limit, offset int) ([]*ci.Trigger, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+triggerCols+` FROM pipeline_triggers WHERE project_id = ?
		ORDER BY id LIMIT ? OFFSET ?`), projectID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	defer rows.Close()
	var out []*ci.Trigger
	for rows.Next() {
		t, err := scanTrigger(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CountTriggers counts a project's triggers.
func (db *DB) CountTriggers(ctx context.Context, projectID int64) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM pipeline_triggers WHERE project_id = ?`), projectID).Scan(&n)
	return n, err
}

func (db *DB) triggerWhere(ctx context.Context, where string, args ...any) (*ci.Trigger, error) {
	t, err := scanTrigger(db.r.QueryRowContext(ctx, db.q(`SELECT `+triggerCols+` FROM pipeline_triggers WHERE `+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	return t, nil
}

// TriggerByID finds a trigger of a project.
func (db *DB) TriggerByID(ctx context.Context, projectID, id int64) (*ci.Trigger, error) {
	return db.triggerWhere(ctx, `project_id = ? AND id = ?`, projectID, id)
}

// TriggerByDigest finds a trigger by its token's digest.
func (db *DB) TriggerByDigest(ctx context.Context, digest string) (*ci.Trigger, error) {
	return db.triggerWhere(ctx, `token_hash = ?`, digest)
}

// UpdateTrigger changes a trigger's description.
func (db *DB) UpdateTrigger(ctx context.Context, t *ci.Trigger) error {
	res, err := db.exec(ctx, db.w, `UPDATE pipeline_triggers SET description = ?, updated_at = ? WHERE id = ?`,
		t.Description, tv(t.UpdatedAt), t.ID)
	if err != nil {
		return fmt.Errorf("update trigger %d: %w", t.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// TouchTrigger records a use of the trigger.
func (db *DB) TouchTrigger(ctx context.Context, id int64, at time.Time) error {
	if _, err := db.exec(ctx, db.w, `UPDATE pipeline_triggers SET last_used = ? WHERE id = ?`, tv(at), id); err != nil {
		return fmt.Errorf("touch trigger %d: %w", id, err)
	}
	return nil
}

// DeleteTrigger removes a project's trigger.
func (db *DB) DeleteTrigger(ctx context.Context, projectID, id int64) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM pipeline_triggers WHERE project_id = ? AND id = ?`, projectID, id)
	if err != nil {
		return fmt.Errorf("delete trigger %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}
