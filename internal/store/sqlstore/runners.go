package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

const runnerCols = `id, description, runner_type, tags, run_untagged, paused, locked, access_level, maximum_timeout,
	maintenance_note, created_at, contacted_at, created_by, token_prefix`

func scanRunner(row rowScanner) (*ci.Runner, error) {
	var r ci.Runner
	var tags string
	var created int64
	var contacted sql.NullInt64
	if err := row.Scan(&r.ID, &r.Description, &r.RunnerType, &tags, &r.RunUntagged, &r.Paused, &r.Locked, &r.AccessLevel,
		&r.MaximumTimeout, &r.MaintenanceNote, &created, &contacted, &r.CreatedByID, &r.TokenPrefix); err != nil {
		return nil, err
	}
	r.Tags = splitList(tags)
	r.CreatedAt, r.ContactedAt = fromMicros(created), fromNull(contacted)
	return &r, nil
}

// CreateRunner stores a runner, its token digest and project assignments.
func (db *DB) CreateRunner(ctx context.Context, r *ci.Runner, tokenDigest string) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	if r.AccessLevel == "" {
		r.AccessLevel = ci.RunnerNotProtected
	}
	return db.tx(ctx, func(q querier) error {
		id, err := db.insert(ctx, q, `INSERT INTO runners (token_digest, token_prefix, description, runner_type, tags, run_untagged,
			paused, locked, access_level, maximum_timeout, maintenance_note, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tokenDigest, r.TokenPrefix, r.Description, r.RunnerType, joinList(r.Tags), r.RunUntagged, r.Paused, r.Locked,
			r.AccessLevel, r.MaximumTimeout, r.MaintenanceNote, tv(r.CreatedAt), r.CreatedByID)
		if err != nil {
			return fmt.Errorf("create runner: %w", err)
		}
		r.ID = id
		return db.setRunnerProjects(ctx, q, r)
	})
}

func (db *DB) setRunnerProjects(ctx context.Context, q querier, r *ci.Runner) error {
	if _, err := db.exec(ctx, q, `DELETE FROM runner_projects WHERE runner_id = ?`, r.ID); err != nil {
		return fmt.Errorf("runner projects: %w", err)
	}
	for _, pid := range r.ProjectIDs {
		if _, err := db.exec(ctx, q, `INSERT INTO runner_projects (runner_id, project_id) VALUES (?, ?)`, r.ID, pid); err != nil {
			return fmt.Errorf("runner project %d: %w", pid, err)
		}
	}
	return nil
}

func (db *DB) loadRunnerProjects(ctx context.Context, rs map[int64]*ci.Runner) error {
	if len(rs) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(rs))
	for id := range rs {
		ids = append(ids, id)
	}
	list, args := in(ids)
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT runner_id, project_id FROM runner_projects WHERE runner_id IN `+list+
		` ORDER BY project_id`), args...)
	if err != nil {
		return fmt.Errorf("runner projects: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rid, pid int64
		if err := rows.Scan(&rid, &pid); err != nil {
			return err
		}
		rs[rid].ProjectIDs = append(rs[rid].ProjectIDs, pid)
	}
	return rows.Err()
}

func (db *DB) oneRunner(ctx context.Context, where string, arg any) (*ci.Runner, error) {
	r, err := scanRunner(db.r.QueryRowContext(ctx, db.q(`SELECT `+runnerCols+` FROM runners WHERE `+where), arg))
	if err != nil {
		return nil, fmt.Errorf("runner: %w", db.wrap(err))
	}
	if err := db.loadRunnerProjects(ctx, map[int64]*ci.Runner{r.ID: r}); err != nil {
		return nil, err
	}
	return r, nil
}

// RunnerByID finds a runner.
func (db *DB) RunnerByID(ctx context.Context, id int64) (*ci.Runner, error) {
	return db.oneRunner(ctx, `id = ?`, id)
}

// RunnerByTokenDigest finds a runner by its token digest.
func (db *DB) RunnerByTokenDigest(ctx context.Context, digest string) (*ci.Runner, error) {
	return db.oneRunner(ctx, `token_digest = ?`, digest)
}

// RunnersByIDs loads several runners without their project lists
// (ProjectIDs is nil): the job entities it serves never show them.
func (db *DB) RunnersByIDs(ctx context.Context, ids []int64) (map[int64]*ci.Runner, error) {
	return byIDs(ctx, db, "runners", `SELECT `+runnerCols+` FROM runners WHERE id IN `, ids, scanRunner,
		func(r *ci.Runner) int64 { return r.ID })
}

// runnerWhere is the WHERE clause of a runner filter.
func runnerWhere(f store.RunnerFilter) (string, []any, error) {
	where := ` WHERE 1 = 1`
	var args []any
	add := func(clause string, a ...any) {
		where += ` AND ` + clause
		args = append(args, a...)
	}
	if f.ProjectID != 0 {
		add(`(runner_type = ? OR id IN (SELECT runner_id FROM runner_projects WHERE project_id = ?))`,
			ci.RunnerInstance, f.ProjectID)
	}
	if f.OwnedBy != 0 {
		add(`(created_by = ? OR id IN (SELECT rp.runner_id FROM runner_projects rp JOIN project_members m
			ON m.project_id = rp.project_id WHERE m.user_id = ? AND m.access_level >= ?))`,
			f.OwnedBy, f.OwnedBy, int(ci.Maintainer))
	}
	if f.Type != "" {
		add(`runner_type = ?`, f.Type)
	}
	if f.Paused != nil {
		add(`paused = ?`, *f.Paused)
	}
	// Tags and versions compare exactly: replace and substr are
	// case-sensitive on both databases, where SQLite's LIKE is not.
	for _, t := range f.TagList {
		add(`replace(tags, ?, '') <> tags`, ","+t+",")
	}
	for _, sc := range f.Scopes {
		clause, a, err := runnerScope(sc, f.Now)
		if err != nil {
			return "", nil, err
		}
		add(clause, a...)
	}
	if f.VersionPrefix != "" {
		add(`id IN (SELECT runner_id FROM runner_managers WHERE substr(version, 1, `+
			strconv.Itoa(utf8.RuneCountInString(f.VersionPrefix))+`) = ?)`, f.VersionPrefix)
	}
	return where, args, nil
}

// runnerScope is one Ci::Runner scope as SQL; the status scopes follow
// ci.Runner.Status's timeouts at now. Stored times are whole microseconds,
// so a cutoff rounds the way that keeps each comparison exact.
func runnerScope(scope string, now time.Time) (string, []any, error) {
	cutoff := func(d time.Duration) (floor, ceil int64) {
		t := now.Add(-d)
		floor = tv(t)
		if t.Sub(fromMicros(floor)) > 0 {
			return floor, floor + 1
		}
		return floor, floor
	}
	switch scope {
	case "", "all":
		return `1 = 1`, nil, nil
	case ci.RunnerScopeShared:
		return `runner_type = ?`, []any{ci.RunnerInstance}, nil
	case ci.RunnerScopeSpecific:
		return `runner_type <> ?`, []any{ci.RunnerInstance}, nil
	case ci.RunnerInstance, ci.RunnerGroup, ci.RunnerProject:
		return `runner_type = ?`, []any{scope}, nil
	case ci.RunnerActive, ci.RunnerPaused:
		return `paused = ?`, []any{scope == ci.RunnerPaused}, nil
	case ci.RunnerOnline:
		floor, _ := cutoff(ci.RunnerOnlineTimeout)
		return `contacted_at > ?`, []any{floor}, nil
	case ci.RunnerOffline:
		floor, _ := cutoff(ci.RunnerOnlineTimeout)
		return `contacted_at <= ?`, []any{floor}, nil
	case ci.RunnerNeverContacted:
		return `contacted_at IS NULL`, nil, nil
	case ci.RunnerStale:
		_, ceil := cutoff(ci.RunnerStaleTimeout)
		return `created_at < ? AND (contacted_at IS NULL OR contacted_at < ?)`, []any{ceil, ceil}, nil
	}
	return "", nil, fmt.Errorf("unknown runner scope %q", scope)
}

// ListRunners lists runners by id.
func (db *DB) ListRunners(ctx context.Context, f store.RunnerFilter) ([]*ci.Runner, error) {
	where, args, err := runnerWhere(f)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+runnerCols+` FROM runners`+where+` ORDER BY id`+
		limitOffset(f.Limit, f.Offset)), args...)
	if err != nil {
		return nil, fmt.Errorf("list runners: %w", err)
	}
	defer rows.Close()
	var out []*ci.Runner
	byID := map[int64]*ci.Runner{}
	for rows.Next() {
		r, err := scanRunner(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		byID[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, db.loadRunnerProjects(ctx, byID)
}

// CountRunners counts the runners ListRunners would list without paging.
func (db *DB) CountRunners(ctx context.Context, f store.RunnerFilter) (int, error) {
	where, args, err := runnerWhere(f)
	if err != nil {
		return 0, err
	}
	var n int
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM runners`+where), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count runners: %w", err)
	}
	return n, nil
}

// UpdateRunner writes a runner's settings and projects.
func (db *DB) UpdateRunner(ctx context.Context, r *ci.Runner) error {
	return db.tx(ctx, func(q querier) error {
		if _, err := db.exec(ctx, q, `UPDATE runners SET description = ?, tags = ?, run_untagged = ?, paused = ?, locked = ?,
			access_level = ?, maximum_timeout = ?, maintenance_note = ? WHERE id = ?`,
			r.Description, joinList(r.Tags), r.RunUntagged, r.Paused, r.Locked, r.AccessLevel, r.MaximumTimeout,
			r.MaintenanceNote, r.ID); err != nil {
			return fmt.Errorf("update runner %d: %w", r.ID, err)
		}
		return db.setRunnerProjects(ctx, q, r)
	})
}

// SetRunnerToken replaces a runner's token.
func (db *DB) SetRunnerToken(ctx context.Context, id int64, digest, prefix string) error {
	if _, err := db.exec(ctx, db.w, `UPDATE runners SET token_digest = ?, token_prefix = ? WHERE id = ?`, digest, prefix, id); err != nil {
		return fmt.Errorf("runner token: %w", err)
	}
	return nil
}

// TouchRunner records contact.
func (db *DB) TouchRunner(ctx context.Context, id int64, at time.Time) error {
	if _, err := db.exec(ctx, db.w, `UPDATE runners SET contacted_at = ? WHERE id = ?`, tv(at), id); err != nil {
		return fmt.Errorf("touch runner: %w", err)
	}
	return nil
}

// DeleteRunner removes a runner with its managers.
func (db *DB) DeleteRunner(ctx context.Context, id int64) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM runners WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete runner: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

const managerCols = `id, runner_id, system_id, version, revision, platform, architecture, ip_address, features, created_at, contacted_at`

func scanManager(row rowScanner) (*ci.RunnerManager, error) {
	var m ci.RunnerManager
	var features string
	var created int64
	var contacted sql.NullInt64
	if err := row.Scan(&m.ID, &m.RunnerID, &m.SystemID, &m.Version, &m.Revision, &m.Platform, &m.Architecture,
		&m.IPAddress, &features, &created, &contacted); err != nil {
		return nil, err
	}
	if features != "" {
		if err := json.Unmarshal([]byte(features), &m.Features); err != nil {
			return nil, fmt.Errorf("decode features: %w", err)
		}
	}
	m.CreatedAt, m.ContactedAt = fromMicros(created), fromNull(contacted)
	return &m, nil
}

// UpsertRunnerManager records a runner process and its reported info.
func (db *DB) UpsertRunnerManager(ctx context.Context, m *ci.RunnerManager) error {
	now := time.Now().UTC()
	if m.ContactedAt == nil {
		m.ContactedAt = &now
	}
	features := ""
	if len(m.Features) > 0 {
		b, err := json.Marshal(m.Features)
		if err != nil {
			return fmt.Errorf("encode features: %w", err)
		}
		features = string(b)
	}
	var created int64
	err := db.w.QueryRowContext(ctx, db.q(`INSERT INTO runner_managers (runner_id, system_id, version, revision, platform,
		architecture, ip_address, features, created_at, contacted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (runner_id, system_id) DO UPDATE SET version = excluded.version, revision = excluded.revision,
		platform = excluded.platform, architecture = excluded.architecture, ip_address = excluded.ip_address,
		features = excluded.features, contacted_at = excluded.contacted_at
		RETURNING id, created_at`),
		m.RunnerID, m.SystemID, m.Version, m.Revision, m.Platform, m.Architecture, m.IPAddress, features, tv(now),
		tv(*m.ContactedAt)).Scan(&m.ID, &created)
	if err != nil {
		return fmt.Errorf("upsert runner manager: %w", err)
	}
	m.CreatedAt = fromMicros(created)
	return nil
}

// RunnerManagersByIDs loads managers.
func (db *DB) RunnerManagersByIDs(ctx context.Context, ids []int64) (map[int64]*ci.RunnerManager, error) {
	return byIDs(ctx, db, "runner managers", `SELECT `+managerCols+` FROM runner_managers WHERE id IN `, ids, scanManager,
		func(m *ci.RunnerManager) int64 { return m.ID })
}

// ListRunnerManagers lists a runner's managers.
func (db *DB) ListRunnerManagers(ctx context.Context, runnerID int64) ([]*ci.RunnerManager, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+managerCols+` FROM runner_managers WHERE runner_id = ? ORDER BY id`), runnerID)
	if err != nil {
		return nil, fmt.Errorf("list runner managers: %w", err)
	}
	defer rows.Close()
	var out []*ci.RunnerManager
	for rows.Next() {
		m, err := scanManager(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteRunnerManager removes one manager.
func (db *DB) DeleteRunnerManager(ctx context.Context, runnerID int64, systemID string) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM runner_managers WHERE runner_id = ? AND system_id = ?`, runnerID, systemID)
	if err != nil {
		return fmt.Errorf("delete runner manager: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}
