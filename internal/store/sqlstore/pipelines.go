package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/events"
	"github.com/gantryci/gantry/internal/store"
)

const pipelineCols = `id, iid, project_id, ref, tag, sha, before_sha, source, status, user_id, created_at, updated_at,
	started_at, finished_at, committed_at, yaml_errors, failure_reason, name, variables, parent_pipeline_id,
	parent_job_id, protected, warnings, dirty, auto_cancel_on_new_commit, auto_cancel_on_job_failure, pipeline_schedule_id`

func (db *DB) scanPipeline(row rowScanner) (*ci.Pipeline, error) {
	var p ci.Pipeline
	var created, updated int64
	var started, finished, committed sql.NullInt64
	var vars, status, onNewCommit, onJobFailure string
	if err := row.Scan(&p.ID, &p.IID, &p.ProjectID, &p.Ref, &p.Tag, &p.SHA, &p.BeforeSHA, &p.Source, &status,
		&p.UserID, &created, &updated, &started, &finished, &committed, &p.YAMLErrors, &p.FailureReason, &p.Name,
		&vars, &p.ParentPipelineID, &p.ParentJobID, &p.Protected, &p.Warnings, &p.Dirty, &onNewCommit, &onJobFailure,
		&p.PipelineScheduleID); err != nil {
		return nil, err
	}
	p.AutoCancelOnNewCommit = ci.AutoCancelOnNewCommit(onNewCommit)
	p.AutoCancelOnJobFailure = ci.AutoCancelOnJobFailure(onJobFailure)
	p.Status = ci.Status(status)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	p.StartedAt, p.FinishedAt, p.CommittedAt = fromNull(started), fromNull(finished), fromNull(committed)
	if err := db.openVars(vars, varsPipelines, p.ProjectID, &p.Variables); err != nil {
		return nil, fmt.Errorf("pipeline %d: %w", p.ID, err)
	}
	return &p, nil
}

// CreatePipeline stores a pipeline with its jobs atomically.
func (db *DB) CreatePipeline(ctx context.Context, p *ci.Pipeline, jobs []*ci.Job) error {
	now := time.Now().UTC()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	p.UpdatedAt = p.CreatedAt
	vars, err := db.sealVars(p.Variables, varsPipelines, p.ProjectID)
	if err != nil {
		return fmt.Errorf("encode variables: %w", err)
	}
	err = db.unit(ctx, func(u *unit) error {
		q := u.q
		if err := q.QueryRowContext(ctx, db.q(`INSERT INTO internal_ids (project_id, usage, last_value) VALUES (?, 'pipelines', 1)
			ON CONFLICT (project_id, usage) DO UPDATE SET last_value = internal_ids.last_value + 1 RETURNING last_value`),
			p.ProjectID).Scan(&p.IID); err != nil {
			return fmt.Errorf("next iid: %w", err)
		}
		id, err := db.insert(ctx, q, `INSERT INTO pipelines (project_id, iid, ref, tag, sha, before_sha, source, status, user_id,
			created_at, updated_at, started_at, finished_at, committed_at, yaml_errors, failure_reason, name, variables,
			parent_pipeline_id, parent_job_id, protected, warnings, dirty, dirty_at, auto_cancel_on_new_commit,
			auto_cancel_on_job_failure, pipeline_schedule_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ProjectID, p.IID, p.Ref, p.Tag, p.SHA, p.BeforeSHA, p.Source, string(p.Status), p.UserID,
			tv(p.CreatedAt), tv(p.UpdatedAt), tp(p.StartedAt), tp(p.FinishedAt), tp(p.CommittedAt), p.YAMLErrors,
			p.FailureReason, p.Name, vars, p.ParentPipelineID, p.ParentJobID, p.Protected, p.Warnings,
			len(jobs), tv(now), string(p.AutoCancelOnNewCommit), string(p.AutoCancelOnJobFailure), p.PipelineScheduleID)
		if err != nil {
			return fmt.Errorf("insert pipeline: %w", err)
		}
		p.ID, p.Dirty = id, int64(len(jobs))
		for _, j := range jobs {
			j.PipelineID, j.ProjectID = p.ID, p.ProjectID
		}
		if err := u.insertAll(ctx, jobs); err != nil {
			return err
		}
		if p.RefChangeID != 0 {
			if err := db.takeRefChange(ctx, q, p.RefChangeID); err != nil {
				return err
			}
		}
		if p.ParentJobID != 0 {
			if _, err := db.exec(ctx, q, `UPDATE jobs SET downstream_pipeline_id = ? WHERE id = ?`, p.ID, p.ParentJobID); err != nil {
				return fmt.Errorf("link bridge: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create pipeline: %w", err)
	}
	db.publish(ctx, events.Event{Kind: events.PipelineChanged, ProjectID: p.ProjectID, PipelineID: p.ID, Status: p.Status})
	return nil
}

// PipelineByID finds a pipeline.
func (db *DB) PipelineByID(ctx context.Context, id int64) (*ci.Pipeline, error) {
	p, err := db.scanPipeline(db.r.QueryRowContext(ctx, db.q(`SELECT `+pipelineCols+` FROM pipelines WHERE id = ?`), id))
	if err != nil {
		return nil, fmt.Errorf("pipeline %d: %w", id, db.wrap(err))
	}
	return p, nil
}

// PipelinesByIDs loads several pipelines.
func (db *DB) PipelinesByIDs(ctx context.Context, ids []int64) (map[int64]*ci.Pipeline, error) {
	return byIDs(ctx, db, "pipelines", `SELECT `+pipelineCols+` FROM pipelines WHERE id IN `, ids, db.scanPipeline,
		func(p *ci.Pipeline) int64 { return p.ID })
}

func pipelineWhere(f store.PipelineFilter) (string, []any) {
	where := ` WHERE 1 = 1`
	var args []any
	if f.ProjectID != 0 {
		where += ` AND project_id = ?`
		args = append(args, f.ProjectID)
	}
	if f.ParentPipelineID != 0 {
		where += ` AND parent_pipeline_id = ?`
		args = append(args, f.ParentPipelineID)
	}
	if len(f.Statuses) > 0 {
		list, a := in(f.Statuses)
		where += ` AND status IN ` + list
		args = append(args, a...)
	}
	switch f.Scope {
	case "running":
		where += ` AND status = 'running'`
	case "pending":
		where += ` AND status = 'pending'`
	case "finished":
		where += ` AND status IN ('success', 'failed', 'canceled')`
	case "branches":
		where += ` AND tag = ?`
		args = append(args, false)
	case "tags":
		where += ` AND tag = ?`
		args = append(args, true)
	}
	if f.Ref != "" {
		where += ` AND ref = ?`
		args = append(args, f.Ref)
	}
	if f.ExcludeChildren {
		where += ` AND source <> 'parent_pipeline'`
	}
	if f.BeforeID != 0 {
		where += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	if f.SHA != "" {
		where += ` AND sha = ?`
		args = append(args, f.SHA)
	}
	if f.Source != "" {
		where += ` AND source = ?`
		args = append(args, f.Source)
	}
	if f.Name != "" {
		where += ` AND name = ?`
		args = append(args, f.Name)
	}
	if f.ScheduleID != 0 {
		where += ` AND pipeline_schedule_id = ?`
		args = append(args, f.ScheduleID)
	}
	if f.UserID != 0 {
		where += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if f.UpdatedAfter != nil {
		where += ` AND updated_at > ?`
		args = append(args, tv(*f.UpdatedAfter))
	}
	if f.UpdatedBefore != nil {
		where += ` AND updated_at < ?`
		args = append(args, tv(*f.UpdatedBefore))
	}
	return where, args
}

// ListPipelines lists pipelines.
func (db *DB) ListPipelines(ctx context.Context, f store.PipelineFilter) ([]*ci.Pipeline, error) {
	where, args := pipelineWhere(f)
	order := "id"
	switch f.OrderBy {
	case "status", "ref", "updated_at", "user_id":
		order = f.OrderBy
	}
	dir := " DESC"
	if f.Asc {
		dir = " ASC"
	}
	orderBy := ` ORDER BY ` + order + dir
	if order != "id" {
		orderBy += `, id` + dir
	}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+pipelineCols+` FROM pipelines`+where+orderBy+limitOffset(f.Limit, f.Offset)), args...)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	defer rows.Close()
	var out []*ci.Pipeline
	for rows.Next() {
		p, err := db.scanPipeline(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CountPipelines counts pipelines.
func (db *DB) CountPipelines(ctx context.Context, f store.PipelineFilter) (int, error) {
	where, args := pipelineWhere(f)
	var n int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM pipelines`+where), args...).Scan(&n)
	return n, err
}

// UpdatePipeline writes a pipeline's status fields if the row has not
// changed since p was read (same updated_at); otherwise ErrStale.
func (db *DB) UpdatePipeline(ctx context.Context, p *ci.Pipeline) error {
	read := p.UpdatedAt
	now := time.Now().UTC()
	if !now.After(read) {
		now = read.Add(time.Microsecond)
	}
	res, err := db.exec(ctx, db.w, `UPDATE pipelines SET status = ?, updated_at = ?, started_at = ?, finished_at = ?,
		warnings = ?, yaml_errors = ?, failure_reason = ? WHERE id = ? AND updated_at = ?`,
		string(p.Status), tv(now), tp(p.StartedAt), tp(p.FinishedAt), p.Warnings, p.YAMLErrors, p.FailureReason, p.ID, tv(read))
	if err != nil {
		return fmt.Errorf("update pipeline %d: %w", p.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update pipeline %d: %w", p.ID, err)
	} else if n == 0 {
		return fmt.Errorf("update pipeline %d: %w", p.ID, store.ErrStale)
	}
	p.UpdatedAt = now
	db.publish(ctx, events.Event{Kind: events.PipelineChanged, ProjectID: p.ProjectID, PipelineID: p.ID, Status: p.Status})
	return nil
}

// markDirty records, in the transaction of a job change, that the job's
// pipeline owes a processing.
func (db *DB) markDirty(ctx context.Context, q querier, pipelineID int64) error {
	if _, err := db.exec(ctx, q, `UPDATE pipelines SET dirty = dirty + 1, dirty_at = ? WHERE id = ?`,
		time.Now().UTC().UnixMicro(), pipelineID); err != nil {
		return fmt.Errorf("mark pipeline %d for processing: %w", pipelineID, err)
	}
	return nil
}

// ClearPipelineDirty ends the processing debt of a pipeline read with
// Dirty == seen; a job change since then (a higher count) keeps it.
func (db *DB) ClearPipelineDirty(ctx context.Context, id, seen int64) error {
	if _, err := db.exec(ctx, db.w, `UPDATE pipelines SET dirty = 0, dirty_at = NULL WHERE id = ? AND dirty = ?`, id, seen); err != nil {
		return fmt.Errorf("clear pipeline %d processing mark: %w", id, err)
	}
	return nil
}

// DirtyPipelines lists up to limit pipelines whose last job change before
// the given time was never followed by a completed processing, oldest first.
func (db *DB) DirtyPipelines(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT id FROM pipelines WHERE dirty > 0 AND dirty_at < ?
		ORDER BY dirty_at LIMIT ?`), before.UTC().UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("dirty pipelines: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("dirty pipelines: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// DeletePipeline removes a pipeline with its jobs, logs and artifact rows.
func (db *DB) DeletePipeline(ctx context.Context, id int64) error {
	return db.tx(ctx, func(q querier) error {
		if _, err := db.exec(ctx, q, `DELETE FROM pipelines WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete pipeline %d: %w", id, err)
		}
		return nil
	})
}
