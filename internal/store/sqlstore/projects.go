package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

const projectCols = `id, namespace, path, name, description, visibility, default_branch, creator_id,
	created_at, updated_at, public_builds, build_timeout, ci_config_path, job_token_scope_enabled,
	archived, ci_default_git_depth, auto_cancel_pending_pipelines`

func scanProject(row rowScanner) (*ci.Project, error) {
	var p ci.Project
	var created, updated int64
	if err := row.Scan(&p.ID, &p.Namespace, &p.Path, &p.Name, &p.Description, &p.Visibility, &p.DefaultBranch,
		&p.CreatorID, &created, &updated, &p.PublicBuilds, &p.BuildTimeout, &p.CIConfigPath, &p.JobTokenScopeEnabled,
		&p.Archived, &p.CIDefaultGitDepth, &p.AutoCancelPendingPipelines); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}

// CreateProject inserts a project and sets its id.
func (db *DB) CreateProject(ctx context.Context, p *ci.Project) error {
	now := time.Now().UTC()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	p.UpdatedAt = p.CreatedAt
	if p.BuildTimeout == 0 {
		p.BuildTimeout = 3600
	}
	id, err := db.insert(ctx, db.w, `INSERT INTO projects (namespace, path, full_path_lower, name, description, visibility,
		default_branch, creator_id, created_at, updated_at, public_builds, build_timeout, ci_config_path, job_token_scope_enabled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Namespace, p.Path, strings.ToLower(p.FullPath()), p.Name, p.Description, p.Visibility, p.DefaultBranch,
		p.CreatorID, tv(p.CreatedAt), tv(p.UpdatedAt), p.PublicBuilds, p.BuildTimeout, p.CIConfigPath, p.JobTokenScopeEnabled)
	if err != nil {
		return fmt.Errorf("create project %s: %w", p.FullPath(), err)
	}
	p.ID = id
	// The CI settings start at the columns' defaults (GitLab's for new
	// projects).
	p.Archived, p.CIDefaultGitDepth, p.AutoCancelPendingPipelines = false, 20, true
	return nil
}

// ProjectByID finds a project.
func (db *DB) ProjectByID(ctx context.Context, id int64) (*ci.Project, error) {
	p, err := scanProject(db.r.QueryRowContext(ctx, db.q(`SELECT `+projectCols+` FROM projects WHERE id = ?`), id))
	if err != nil {
		return nil, fmt.Errorf("project %d: %w", id, db.wrap(err))
	}
	return p, nil
}

// ProjectByPath finds a project by namespace/path, ignoring case.
func (db *DB) ProjectByPath(ctx context.Context, namespace, path string) (*ci.Project, error) {
	full := strings.ToLower(namespace + "/" + path)
	p, err := scanProject(db.r.QueryRowContext(ctx, db.q(`SELECT `+projectCols+` FROM projects WHERE full_path_lower = ?`), full))
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", full, db.wrap(err))
	}
	return p, nil
}

// ListProjects lists projects by id descending, as GitLab's default order.
func (db *DB) ListProjects(ctx context.Context, f store.ProjectFilter) ([]*ci.Project, error) {
	query := `SELECT ` + projectCols + ` FROM projects`
	var args []any
	switch {
	case f.MemberOnly:
		query += ` WHERE id IN (SELECT project_id FROM project_members WHERE user_id = ?)`
		args = append(args, f.VisibleTo)
	case f.All:
	case f.Anonymous || f.VisibleTo == 0:
		query += ` WHERE visibility = 'public'`
	default:
		query += ` WHERE visibility <> 'private' OR id IN (SELECT project_id FROM project_members WHERE user_id = ?)`
		args = append(args, f.VisibleTo)
	}
	query += ` ORDER BY id DESC` + limitOffset(f.Limit, f.Offset)
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var out []*ci.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdateProject writes a project's settings.
func (db *DB) UpdateProject(ctx context.Context, p *ci.Project) error {
	p.UpdatedAt = time.Now().UTC()
	_, err := db.exec(ctx, db.w, `UPDATE projects SET path = ?, full_path_lower = ?, name = ?, description = ?, visibility = ?,
		default_branch = ?, updated_at = ?, public_builds = ?, build_timeout = ?, ci_config_path = ?, job_token_scope_enabled = ?,
		archived = ?, ci_default_git_depth = ?, auto_cancel_pending_pipelines = ? WHERE id = ?`,
		p.Path, strings.ToLower(p.FullPath()), p.Name, p.Description, p.Visibility, p.DefaultBranch, tv(p.UpdatedAt),
		p.PublicBuilds, p.BuildTimeout, p.CIConfigPath, p.JobTokenScopeEnabled, p.Archived, p.CIDefaultGitDepth,
		p.AutoCancelPendingPipelines, p.ID)
	if err != nil {
		return fmt.Errorf("update project %d: %w", p.ID, db.wrap(err))
	}
	return nil
}

// DeleteProject removes a project and everything of it: pipelines, jobs,
// logs, artifacts' rows, members, variables, rules, triggers (by cascade)
// and the rows kept without a foreign key. It returns the blob keys of
// the artifacts, for the caller to delete once the rows are gone.
func (db *DB) DeleteProject(ctx context.Context, id int64) ([]string, error) {
	var keys []string
	err := db.tx(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, db.q(`SELECT blob_key FROM job_artifacts WHERE project_id = ?`), id)
		if err != nil {
			return fmt.Errorf("project artifacts: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, stmt := range []string{
			`DELETE FROM job_artifacts WHERE project_id = ?`,
			`DELETE FROM commits WHERE project_id = ?`,
			`DELETE FROM internal_ids WHERE project_id = ?`,
		} {
			if _, err := q.ExecContext(ctx, db.q(stmt), id); err != nil {
				return fmt.Errorf("delete project %d: %w", id, err)
			}
		}
		res, err := q.ExecContext(ctx, db.q(`DELETE FROM projects WHERE id = ?`), id)
		if err != nil {
			return fmt.Errorf("delete project %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("project %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// SetMember adds a member or changes its role.
func (db *DB) SetMember(ctx context.Context, m *ci.Member) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	_, err := db.exec(ctx, db.w, `INSERT INTO project_members (project_id, user_id, access_level, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, user_id) DO UPDATE SET access_level = excluded.access_level`,
		m.ProjectID, m.UserID, int(m.AccessLevel), tv(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("set member: %w", err)
	}
	return nil
}

// MemberAccess returns the user's role in a project.
func (db *DB) MemberAccess(ctx context.Context, projectID, userID int64) (ci.AccessLevel, error) {
	var lvl int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT access_level FROM project_members WHERE project_id = ? AND user_id = ?`),
		projectID, userID).Scan(&lvl)
	if err != nil {
		if err = db.wrap(err); err == store.ErrNotFound {
			return ci.NoAccess, nil
		}
		return ci.NoAccess, fmt.Errorf("member access: %w", err)
	}
	return ci.AccessLevel(lvl), nil
}

// ListMembers lists a project's members.
func (db *DB) ListMembers(ctx context.Context, projectID int64) ([]*ci.Member, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT project_id, user_id, access_level, created_at FROM project_members
		WHERE project_id = ? ORDER BY user_id`), projectID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	var out []*ci.Member
	for rows.Next() {
		var m ci.Member
		var lvl int
		var created int64
		if err := rows.Scan(&m.ProjectID, &m.UserID, &lvl, &created); err != nil {
			return nil, err
		}
		m.AccessLevel, m.CreatedAt = ci.AccessLevel(lvl), fromMicros(created)
		out = append(out, &m)
	}
	return out, rows.Err()
}

// SaveCommit caches a commit's data.
func (db *DB) SaveCommit(ctx context.Context, projectID int64, c *store.Commit) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode commit: %w", err)
	}
	_, err = db.exec(ctx, db.w, `INSERT INTO commits (project_id, sha, data) VALUES (?, ?, ?)
		ON CONFLICT (project_id, sha) DO NOTHING`, projectID, c.ID, string(data))
	if err != nil {
		return fmt.Errorf("save commit %s: %w", c.ID, err)
	}
	return nil
}

// CommitsBySHA loads cached commits.
func (db *DB) CommitsBySHA(ctx context.Context, projectID int64, shas []string) (map[string]*store.Commit, error) {
	out := make(map[string]*store.Commit, len(shas))
	if len(shas) == 0 {
		return out, nil
	}
	list, args := in(shas)
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT data FROM commits WHERE project_id = ? AND sha IN `+list),
		append([]any{projectID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("commits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var c store.Commit
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("decode commit: %w", err)
		}
		out[c.ID] = &c
	}
	return out, rows.Err()
}
