package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

const protectedRefCols = `id, project_id, kind, name, allow_force_push, code_owner_approval_required, created_at`

// CreateProtectedRef stores a protection rule with its access levels in one
// transaction; a rule of the same kind and name gives ErrConflict.
func (db *DB) CreateProtectedRef(ctx context.Context, r *ci.ProtectedRef) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	err := db.tx(ctx, func(q querier) error {
		id, err := db.insert(ctx, q, `INSERT INTO protected_refs (project_id, kind, name, allow_force_push,
			code_owner_approval_required, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			r.ProjectID, string(r.Kind), r.Name, r.AllowForcePush, r.CodeOwnerApprovalRequired, tv(r.CreatedAt))
		if err != nil {
			return err
		}
		r.ID = id
		return db.insertRefAccess(ctx, q, r)
	})
	if err != nil {
		return fmt.Errorf("create protected %s %s: %w", r.Kind, r.Name, err)
	}
	return nil
}

func (db *DB) insertRefAccess(ctx context.Context, q querier, r *ci.ProtectedRef) error {
	for i := range r.Access {
		a := &r.Access[i]
		id, err := db.insert(ctx, q, `INSERT INTO protected_ref_access_levels (protected_ref_id, action, access_level)
			VALUES (?, ?, ?)`, r.ID, string(a.Action), int(a.AccessLevel))
		if err != nil {
			return err
		}
		a.ID = id
	}
	return nil
}

// UpdateProtectedRef writes a rule's flags and, when replaceAccess is set,
// replaces its access levels, in one transaction.
func (db *DB) UpdateProtectedRef(ctx context.Context, r *ci.ProtectedRef, replaceAccess bool) error {
	err := db.tx(ctx, func(q querier) error {
		res, err := db.exec(ctx, q, `UPDATE protected_refs SET allow_force_push = ?, code_owner_approval_required = ?
			WHERE id = ?`, r.AllowForcePush, r.CodeOwnerApprovalRequired, r.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if !replaceAccess {
			return nil
		}
		if _, err := db.exec(ctx, q, `DELETE FROM protected_ref_access_levels WHERE protected_ref_id = ?`, r.ID); err != nil {
			return err
		}
		return db.insertRefAccess(ctx, q, r)
	})
	if err != nil {
		return fmt.Errorf("update protected ref %d: %w", r.ID, err)
	}
	return nil
}

// DeleteProtectedRef removes a rule (its access levels go with it).
func (db *DB) DeleteProtectedRef(ctx context.Context, id int64) error {
	if _, err := db.exec(ctx, db.w, `DELETE FROM protected_refs WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete protected ref %d: %w", id, err)
	}
	return nil
}

// ProtectedRefs lists a project's rules of both kinds, oldest first, with
// their access levels.
func (db *DB) ProtectedRefs(ctx context.Context, projectID int64) (ci.ProtectedRefs, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+protectedRefCols+` FROM protected_refs
		WHERE project_id = ? ORDER BY id`), projectID)
	if err != nil {
		return nil, fmt.Errorf("protected refs: %w", err)
	}
	defer rows.Close()
	var out ci.ProtectedRefs
	byID := map[int64]*ci.ProtectedRef{}
	for rows.Next() {
		var r ci.ProtectedRef
		var kind string
		var created int64
		if err := rows.Scan(&r.ID, &r.ProjectID, &kind, &r.Name, &r.AllowForcePush, &r.CodeOwnerApprovalRequired,
			&created); err != nil {
			return nil, fmt.Errorf("protected refs: %w", err)
		}
		r.Kind, r.CreatedAt = ci.RefKind(kind), fromMicros(created)
		out = append(out, &r)
		byID[r.ID] = &r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("protected refs: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	arows, err := db.r.QueryContext(ctx, db.q(`SELECT a.id, a.protected_ref_id, a.action, a.access_level
		FROM protected_ref_access_levels a JOIN protected_refs r ON r.id = a.protected_ref_id
		WHERE r.project_id = ? ORDER BY a.id`), projectID)
	if err != nil {
		return nil, fmt.Errorf("protected ref access levels: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var a ci.RefAccess
		var refID int64
		var action string
		var lvl int
		if err := arows.Scan(&a.ID, &refID, &action, &lvl); err != nil {
			return nil, fmt.Errorf("protected ref access levels: %w", err)
		}
		a.Action, a.AccessLevel = ci.RefAction(action), ci.AccessLevel(lvl)
		if r := byID[refID]; r != nil {
			r.Access = append(r.Access, a)
		}
	}
	if err := arows.Err(); err != nil {
		return nil, fmt.Errorf("protected ref access levels: %w", err)
	}
	return out, nil
}
