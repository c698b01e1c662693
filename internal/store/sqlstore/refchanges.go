package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/store"
)

// refChangeContext binds sealed push options to their row's project, ref
// and commit.
func refChangeContext(c *store.RefChange) string {
	return fmt.Sprintf("ref_changes:%d:%s:%s:push_options", c.ProjectID, c.Ref, c.NewSHA)
}

// AddRefChanges records the ref updates of one push in one transaction.
// Push options are sealed like CI variable values: ci.variable carries
// values a pipeline treats as variables.
func (db *DB) AddRefChanges(ctx context.Context, changes []*store.RefChange) error {
	if len(changes) == 0 {
		return nil
	}
	now := time.Now().UTC()
	err := db.tx(ctx, func(q querier) error {
		for _, c := range changes {
			if c.CreatedAt.IsZero() {
				c.CreatedAt = now
			}
			opts, enc := "", false
			if len(c.PushOptions) > 0 {
				b, err := json.Marshal(c.PushOptions)
				if err != nil {
					return fmt.Errorf("encode push options: %w", err)
				}
				opts = string(b)
				if db.box != nil {
					opts, enc = db.box.Seal(opts, refChangeContext(c)), true
				}
			}
			id, err := db.insert(ctx, q, `INSERT INTO ref_changes (project_id, user_id, ref, old_sha, new_sha, push_options,
				options_encrypted, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				c.ProjectID, c.UserID, c.Ref, c.OldSHA, c.NewSHA, opts, enc, tv(c.CreatedAt))
			if err != nil {
				return fmt.Errorf("insert ref change %s: %w", c.Ref, err)
			}
			c.ID = id
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add ref changes: %w", err)
	}
	return nil
}

// RefChanges lists recorded ref changes oldest first, of one project or
// (projectID 0) of all.
func (db *DB) RefChanges(ctx context.Context, projectID int64, limit int) ([]*store.RefChange, error) {
	query := `SELECT id, project_id, user_id, ref, old_sha, new_sha, push_options, options_encrypted, created_at FROM ref_changes`
	var args []any
	if projectID != 0 {
		query += ` WHERE project_id = ?`
		args = append(args, projectID)
	}
	rows, err := db.r.QueryContext(ctx, db.q(query+` ORDER BY id`+limitOffset(limit, 0)), args...)
	if err != nil {
		return nil, fmt.Errorf("ref changes: %w", err)
	}
	defer rows.Close()
	var out []*store.RefChange
	for rows.Next() {
		var (
			c       store.RefChange
			opts    string
			enc     bool
			created int64
		)
		if err := rows.Scan(&c.ID, &c.ProjectID, &c.UserID, &c.Ref, &c.OldSHA, &c.NewSHA, &opts, &enc, &created); err != nil {
			return nil, fmt.Errorf("scan ref change: %w", err)
		}
		c.CreatedAt = fromMicros(created)
		if opts != "" {
			if enc {
				if db.box == nil {
					return nil, fmt.Errorf("push options of ref change %d are encrypted and no secrets key is configured", c.ID)
				}
				if opts, err = db.box.Open(opts, refChangeContext(&c)); err != nil {
					return nil, fmt.Errorf("push options of ref change %d: %w", c.ID, err)
				}
			}
			if err := json.Unmarshal([]byte(opts), &c.PushOptions); err != nil {
				return nil, fmt.Errorf("push options of ref change %d: %w", c.ID, err)
			}
		}
		out = append(out, &c)
	}
	return out, rows.Err()
}

// DeleteRefChange removes a ref change that gets no pipeline; ErrConflict
// when it is gone already.
func (db *DB) DeleteRefChange(ctx context.Context, id int64) error {
	return db.tx(ctx, func(q querier) error { return db.takeRefChange(ctx, q, id) })
}

// takeRefChange deletes ref change id inside a transaction: ErrConflict
// when another transaction took it first, which is what keeps a
// pipeline from being created twice for one change.
func (db *DB) takeRefChange(ctx context.Context, q querier, id int64) error {
	res, err := db.exec(ctx, q, `DELETE FROM ref_changes WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete ref change %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete ref change %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("ref change %d taken already: %w", id, store.ErrConflict)
	}
	return nil
}
