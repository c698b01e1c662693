package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/store"
)

// DeleteMember removes a project member.
func (db *DB) DeleteMember(ctx context.Context, projectID, userID int64) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM project_members WHERE project_id = ? AND user_id = ?`, projectID, userID)
	if err != nil {
		return fmt.Errorf("delete member: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// JobTokenScope reads whether a project's inbound job token allowlist is on;
// projects without a row have it off.
func (db *DB) JobTokenScope(ctx context.Context, projectID int64) (bool, error) {
	var on bool
	err := db.r.QueryRowContext(ctx, db.q(`SELECT inbound_enabled FROM job_token_scopes WHERE project_id = ?`), projectID).Scan(&on)
	if err != nil {
		if err = db.wrap(err); err == store.ErrNotFound {
			return false, nil
		}
		return false, fmt.Errorf("job token scope: %w", err)
	}
	return on, nil
}

// SetJobTokenScope turns a project's inbound allowlist on or off.
func (db *DB) SetJobTokenScope(ctx context.Context, projectID int64, on bool) error {
	_, err := db.exec(ctx, db.w, `INSERT INTO job_token_scopes (project_id, inbound_enabled) VALUES (?, ?)
		ON CONFLICT (project_id) DO UPDATE SET inbound_enabled = excluded.inbound_enabled`, projectID, on)
	if err != nil {
		return fmt.Errorf("set job token scope: %w", err)
	}
	return nil
}

// JobTokenAllowlist lists the source projects of a project's allowlist.
func (db *DB) JobTokenAllowlist(ctx context.Context, projectID int64, limit, offset int) ([]int64, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT source_project_id FROM job_token_allowlist WHERE project_id = ?
		ORDER BY source_project_id LIMIT ? OFFSET ?`), projectID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("job token allowlist: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// CountJobTokenAllowlist counts a project's allowlist.
func (db *DB) CountJobTokenAllowlist(ctx context.Context, projectID int64) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM job_token_allowlist WHERE project_id = ?`), projectID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count job token allowlist: %w", err)
	}
	return n, nil
}

// AddJobTokenAllowlist lets sourceID's job tokens reach projectID.
func (db *DB) AddJobTokenAllowlist(ctx context.Context, projectID, sourceID int64) error {
	_, err := db.exec(ctx, db.w, `INSERT INTO job_token_allowlist (project_id, source_project_id, created_at) VALUES (?, ?, ?)`,
		projectID, sourceID, tv(time.Now().UTC()))
	if err != nil {
		return fmt.Errorf("add to job token allowlist: %w", err)
	}
	return nil
}

// RemoveJobTokenAllowlist drops sourceID from projectID's allowlist.
func (db *DB) RemoveJobTokenAllowlist(ctx context.Context, projectID, sourceID int64) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM job_token_allowlist WHERE project_id = ? AND source_project_id = ?`, projectID, sourceID)
	if err != nil {
		return fmt.Errorf("remove from job token allowlist: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// JobTokenAllowed is Ci::JobToken::Scope#accessible? for the inbound
// direction: the scope is off, or the source project is allowlisted.
func (db *DB) JobTokenAllowed(ctx context.Context, projectID, sourceID int64) (bool, error) {
	var on, listed bool
	err := db.r.QueryRowContext(ctx, db.q(`SELECT
		COALESCE((SELECT inbound_enabled FROM job_token_scopes WHERE project_id = ?), FALSE),
		EXISTS (SELECT 1 FROM job_token_allowlist WHERE project_id = ? AND source_project_id = ?)`),
		projectID, projectID, sourceID).Scan(&on, &listed)
	if err != nil {
		return false, fmt.Errorf("job token allowed: %w", err)
	}
	return !on || listed, nil
}
