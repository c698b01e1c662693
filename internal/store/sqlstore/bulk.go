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

// Bulk loading for seeding large data sets (bench/, imports). These write
// the same rows as CreatePipeline, CreateArtifact and SaveCommit, but many
// per statement and many statements per transaction; they run no engine
// logic and fire no pending notifications. Ids are assigned here, in order,
// after the current maximum of each table.

// bulkMaxParams keeps a multi-row statement under SQLite's variable limit
// (32766) and PostgreSQL's (65535).
const bulkMaxParams = 30000

// bulkInsert inserts rows (each len(cols) values) into table with as few
// multi-row INSERT statements as the parameter limit allows.
func (db *DB) bulkInsert(ctx context.Context, q querier, table, cols string, ncols int, rows [][]any, suffix string) error {
	per := max(1, bulkMaxParams/ncols)
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", ncols), ", ") + ")"
	stmts := map[int]string{}
	args := make([]any, 0, per*ncols)
	for len(rows) > 0 {
		n := min(per, len(rows))
		query, ok := stmts[n]
		if !ok {
			query = db.q(`INSERT INTO ` + table + ` (` + cols + `) VALUES ` +
				strings.TrimSuffix(strings.Repeat(one+", ", n), ", ") + suffix)
			stmts[n] = query
		}
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := q.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("bulk insert %s: %w", table, db.wrap(err))
		}
		rows = rows[n:]
	}
	return nil
}

// nextID is the table's current maximum id (0 when empty).
func (db *DB) nextID(ctx context.Context, q querier, table string) (int64, error) {
	var id int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM `+table).Scan(&id); err != nil {
		return 0, fmt.Errorf("max id of %s: %w", table, err)
	}
	return id, nil
}

// syncSequence moves PostgreSQL's serial sequence past explicitly inserted
// ids (SQLite's AUTOINCREMENT follows explicit ids by itself).
func (db *DB) syncSequence(ctx context.Context, q querier, table string) error {
	if db.d.Name != "postgres" {
		return nil
	}
	_, err := q.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+table+`', 'id'), (SELECT MAX(id) FROM `+table+`))`)
	if err != nil {
		return fmt.Errorf("sync %s sequence: %w", table, err)
	}
	return nil
}

const bulkJobCols = `id, project_id, pipeline_id, kind, name, stage, stage_idx, status, ref, tag,
	when_, allow_failure, user_id, created_at, updated_at, queued_at, started_at, finished_at, scheduled_at, erased_at,
	erased_by, coverage, failure_reason, exit_code, retried, runner_id, runner_manager_id, tags, timeout,
	artifacts_expire_at, downstream_pipeline_id, resource_group, definition, job_variables, retry_count, trace_size,
	archived, interruptible, enqueue_immediately`

const bulkPipelineCols = `id, project_id, iid, ref, tag, sha, before_sha, source, status, user_id,
	created_at, updated_at, started_at, finished_at, committed_at, yaml_errors, failure_reason, name, variables,
	parent_pipeline_id, parent_job_id, protected, warnings`

// BulkInsertPipelines stores pipelines and their jobs (jobs[i] belong to
// ps[i]) in one transaction, assigning ids and per-project iids, and
// setting each job's PipelineID and ProjectID. Timestamps already set are
// kept (seeded history); zero ones become now.
func (db *DB) BulkInsertPipelines(ctx context.Context, ps []*ci.Pipeline, jobs [][]*ci.Job) error {
	if len(jobs) != len(ps) {
		return fmt.Errorf("bulk insert pipelines: %d pipelines but %d job lists", len(ps), len(jobs))
	}
	now := time.Now().UTC()
	return db.tx(ctx, func(q querier) error {
		pid, err := db.nextID(ctx, q, "pipelines")
		if err != nil {
			return err
		}
		jid, err := db.nextID(ctx, q, "jobs")
		if err != nil {
			return err
		}
		// Per-project iids, reserved in internal_ids like CreatePipeline.
		count := map[int64]int64{}
		for _, p := range ps {
			count[p.ProjectID]++
		}
		last := map[int64]int64{}
		for project, n := range count {
			var v int64
			if err := q.QueryRowContext(ctx, db.q(`INSERT INTO internal_ids (project_id, usage, last_value) VALUES (?, 'pipelines', ?)
				ON CONFLICT (project_id, usage) DO UPDATE SET last_value = internal_ids.last_value + ? RETURNING last_value`),
				project, n, n).Scan(&v); err != nil {
				return fmt.Errorf("reserve iids: %w", err)
			}
			last[project] = v - n
		}
		prow := make([][]any, 0, len(ps))
		var jrow [][]any
		for i, p := range ps {
			pid++
			p.ID = pid
			last[p.ProjectID]++
			p.IID = last[p.ProjectID]
			if p.CreatedAt.IsZero() {
				p.CreatedAt = now
			}
			if p.UpdatedAt.IsZero() {
				p.UpdatedAt = p.CreatedAt
			}
			vars, err := db.sealVars(p.Variables, varsPipelines, p.ProjectID)
			if err != nil {
				return fmt.Errorf("encode variables: %w", err)
			}
			prow = append(prow, []any{p.ID, p.ProjectID, p.IID, p.Ref, p.Tag, p.SHA, p.BeforeSHA, p.Source, string(p.Status),
				p.UserID, tv(p.CreatedAt), tv(p.UpdatedAt), tp(p.StartedAt), tp(p.FinishedAt), tp(p.CommittedAt),
				p.YAMLErrors, p.FailureReason, p.Name, vars, p.ParentPipelineID, p.ParentJobID, p.Protected, p.Warnings})
			for _, j := range jobs[i] {
				jid++
				j.ID, j.PipelineID, j.ProjectID = jid, p.ID, p.ProjectID
				if j.CreatedAt.IsZero() {
					j.CreatedAt = now
				}
				if j.UpdatedAt.IsZero() {
					j.UpdatedAt = j.CreatedAt
				}
				jv, err := db.sealVars(j.JobVariables, varsJobs, j.ProjectID)
				if err != nil {
					return fmt.Errorf("encode job variables: %w", err)
				}
				jrow = append(jrow, []any{j.ID, j.ProjectID, j.PipelineID, int(j.Kind), j.Name, j.Stage, j.StageIdx,
					string(j.Status), j.Ref, j.Tag, j.When, j.AllowFailure, j.UserID, tv(j.CreatedAt), tv(j.UpdatedAt),
					tp(j.QueuedAt), tp(j.StartedAt), tp(j.FinishedAt), tp(j.ScheduledAt), tp(j.ErasedAt), j.ErasedBy,
					nullFloat(j.Coverage), j.FailureReason, nullInt(j.ExitCode), j.Retried, j.RunnerID, j.RunnerManagerID,
					joinList(j.Tags), j.Timeout, tp(j.ArtifactsExpireAt), j.DownstreamPipelineID, j.ResourceGroup,
					j.Definition, jv, j.RetryCount, j.TraceSize, j.Archived, j.Interruptible, j.EnqueueImmediately})
			}
		}
		if err := db.bulkInsert(ctx, q, "pipelines", bulkPipelineCols, 23, prow, ""); err != nil {
			return err
		}
		if err := db.bulkInsert(ctx, q, "jobs", bulkJobCols, 39, jrow, ""); err != nil {
			return err
		}
		if err := db.syncSequence(ctx, q, "pipelines"); err != nil {
			return err
		}
		return db.syncSequence(ctx, q, "jobs")
	})
}

// BulkInsertArtifacts stores artifact rows in one transaction, assigning ids.
func (db *DB) BulkInsertArtifacts(ctx context.Context, arts []*ci.Artifact) error {
	now := time.Now().UTC()
	return db.tx(ctx, func(q querier) error {
		id, err := db.nextID(ctx, q, "job_artifacts")
		if err != nil {
			return err
		}
		rows := make([][]any, 0, len(arts))
		for _, a := range arts {
			id++
			a.ID = id
			if a.CreatedAt.IsZero() {
				a.CreatedAt = now
			}
			rows = append(rows, []any{a.ID, a.JobID, a.ProjectID, a.FileType, a.FileFormat, a.Filename, a.Size, a.BlobKey,
				tp(a.ExpireAt), tv(a.CreatedAt)})
		}
		if err := db.bulkInsert(ctx, q, "job_artifacts", `id, job_id, project_id, file_type, file_format, filename, size,
			blob_key, expire_at, created_at`, 10, rows, ""); err != nil {
			return err
		}
		return db.syncSequence(ctx, q, "job_artifacts")
	})
}

// BulkSaveCommits caches many commits of a project in one transaction
// (existing ones are kept, as SaveCommit does).
func (db *DB) BulkSaveCommits(ctx context.Context, projectID int64, cs []*store.Commit) error {
	rows := make([][]any, 0, len(cs))
	for _, c := range cs {
		data, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode commit: %w", err)
		}
		rows = append(rows, []any{projectID, c.ID, string(data)})
	}
	return db.tx(ctx, func(q querier) error {
		return db.bulkInsert(ctx, q, "commits", "project_id, sha, data", 3, rows, " ON CONFLICT (project_id, sha) DO NOTHING")
	})
}
