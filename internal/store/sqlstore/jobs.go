package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/events"
	"github.com/gantryci/gantry/internal/store"
)

const jobCols = `id, project_id, pipeline_id, kind, name, stage, stage_idx, status, ref, tag, when_, allow_failure, user_id,
	created_at, updated_at, queued_at, started_at, finished_at, scheduled_at, erased_at, erased_by, coverage,
	failure_reason, exit_code, retried, runner_id, runner_manager_id, tags, timeout, artifacts_expire_at,
	downstream_pipeline_id, resource_group, definition, job_variables, retry_count, trace_size, archived, interruptible, enqueue_immediately,
	target_url, description`

// briefJobCols is jobCols without the definition, for listings.
var briefJobCols = strings.Replace(jobCols, "definition,", "NULL AS definition,", 1)

func (db *DB) scanJob(row rowScanner) (*ci.Job, error) {
	var j ci.Job
	var kind int
	var status, tags, vars string
	var created, updated int64
	var queued, started, finished, scheduled, erased, expire sql.NullInt64
	var coverage sql.NullFloat64
	var exit sql.NullInt64
	var targetURL, description sql.NullString
	if err := row.Scan(&j.ID, &j.ProjectID, &j.PipelineID, &kind, &j.Name, &j.Stage, &j.StageIdx, &status, &j.Ref,
		&j.Tag, &j.When, &j.AllowFailure, &j.UserID, &created, &updated, &queued, &started, &finished, &scheduled,
		&erased, &j.ErasedBy, &coverage, &j.FailureReason, &exit, &j.Retried, &j.RunnerID, &j.RunnerManagerID, &tags,
		&j.Timeout, &expire, &j.DownstreamPipelineID, &j.ResourceGroup, &j.Definition, &vars, &j.RetryCount,
		&j.TraceSize, &j.Archived, &j.Interruptible, &j.EnqueueImmediately, &targetURL, &description); err != nil {
		return nil, err
	}
	j.TargetURL, j.Description = fromNullString(targetURL), fromNullString(description)
	j.Kind = ci.Kind(kind)
	j.Status = ci.Status(status)
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	j.QueuedAt, j.StartedAt, j.FinishedAt = fromNull(queued), fromNull(started), fromNull(finished)
	j.ScheduledAt, j.ErasedAt, j.ArtifactsExpireAt = fromNull(scheduled), fromNull(erased), fromNull(expire)
	if coverage.Valid {
		c := coverage.Float64
		j.Coverage = &c
	}
	if exit.Valid {
		e := int(exit.Int64)
		j.ExitCode = &e
	}
	j.Tags = splitList(tags)
	if err := db.openVars(vars, varsJobs, j.ProjectID, &j.JobVariables); err != nil {
		return nil, fmt.Errorf("job %d: %w", j.ID, err)
	}
	return &j, nil
}

func nullFloat(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func nullInt(i *int) any {
	if i == nil {
		return nil
	}
	return *i
}

const insertJobCols = `project_id, pipeline_id, kind, name, stage, stage_idx, status, ref, tag,
	when_, allow_failure, user_id, created_at, updated_at, queued_at, started_at, finished_at, scheduled_at, erased_at,
	erased_by, coverage, failure_reason, exit_code, retried, runner_id, runner_manager_id, tags, timeout,
	artifacts_expire_at, downstream_pipeline_id, resource_group, definition, job_variables, retry_count, trace_size,
	archived, interruptible, enqueue_immediately, target_url, description`

const insertJobNCols = 40

// insertJobArgs stamps j's times and returns its row for insertJobCols.
func (db *DB) insertJobArgs(j *ci.Job, now time.Time) ([]any, error) {
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	j.UpdatedAt = now
	vars, err := db.sealVars(j.JobVariables, varsJobs, j.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("encode job variables: %w", err)
	}
	return []any{j.ProjectID, j.PipelineID, int(j.Kind), j.Name, j.Stage, j.StageIdx, string(j.Status), j.Ref, j.Tag, j.When,
		j.AllowFailure, j.UserID, tv(j.CreatedAt), tv(j.UpdatedAt), tp(j.QueuedAt), tp(j.StartedAt), tp(j.FinishedAt),
		tp(j.ScheduledAt), tp(j.ErasedAt), j.ErasedBy, nullFloat(j.Coverage), j.FailureReason, nullInt(j.ExitCode),
		j.Retried, j.RunnerID, j.RunnerManagerID, joinList(j.Tags), j.Timeout, tp(j.ArtifactsExpireAt),
		j.DownstreamPipelineID, j.ResourceGroup, j.Definition, vars, j.RetryCount, j.TraceSize, j.Archived, j.Interruptible,
		j.EnqueueImmediately, nullString(j.TargetURL), nullString(j.Description)}, nil
}

// insertJobsPer is how many job rows one INSERT carries: a handful of
// statement texts (one per row count up to it) for the statement cache,
// and far below both engines' parameter limits.
const insertJobsPer = 64

// insertJobs adds many job rows with multi-row INSERTs (a pipeline of 50
// jobs is one statement, not 50). Ids are matched back by position: both
// engines assign ids in the order the VALUES rows are inserted, and the
// RETURNING rows are sorted by id rather than trusted to come back in
// that order.
func (db *DB) insertJobs(ctx context.Context, q querier, jobs []*ci.Job) error {
	now := time.Now().UTC()
	args := make([]any, 0, min(len(jobs), insertJobsPer)*insertJobNCols)
	for len(jobs) > 0 {
		n := min(len(jobs), insertJobsPer)
		chunk := jobs[:n]
		jobs = jobs[n:]
		args = args[:0]
		for _, j := range chunk {
			row, err := db.insertJobArgs(j, now)
			if err != nil {
				return err
			}
			args = append(args, row...)
		}
		one := "(" + placeholders(insertJobNCols) + ")"
		query := `INSERT INTO jobs (` + insertJobCols + `) VALUES ` + strings.TrimSuffix(strings.Repeat(one+", ", n), ", ") + ` RETURNING id`
		rows, err := q.QueryContext(ctx, db.q(query), args...)
		if err != nil {
			return fmt.Errorf("insert jobs: %w", db.wrap(err))
		}
		ids := make([]int64, 0, n)
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("insert jobs: %w", db.wrap(err))
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("insert jobs: %w", db.wrap(err))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("insert jobs: %w", db.wrap(err))
		}
		if len(ids) != n {
			return fmt.Errorf("insert jobs: %d ids for %d rows", len(ids), n)
		}
		slices.Sort(ids)
		for i, j := range chunk {
			j.ID = ids[i]
		}
	}
	return nil
}

// placeholders is "?, ?, …" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// JobByID finds a job or bridge.
func (db *DB) JobByID(ctx context.Context, id int64) (*ci.Job, error) {
	j, err := db.scanJob(db.r.QueryRowContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs WHERE id = ?`), id))
	if err != nil {
		return nil, fmt.Errorf("job %d: %w", id, db.wrap(err))
	}
	return j, nil
}

// JobByTokenDigest finds the job holding a token.
func (db *DB) JobByTokenDigest(ctx context.Context, digest string) (*ci.Job, error) {
	j, err := db.scanJob(db.r.QueryRowContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs WHERE token_digest = ?`), digest))
	if err != nil {
		return nil, fmt.Errorf("job by token: %w", db.wrap(err))
	}
	return j, nil
}

// JobStateByTokenDigest finds the job holding a token, reading a few
// columns: not the definition and variables JobByTokenDigest decodes.
func (db *DB) JobStateByTokenDigest(ctx context.Context, digest string) (*store.JobState, error) {
	var st store.JobState
	var status string
	var updated int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT id, project_id, runner_id, status, updated_at FROM jobs WHERE token_digest = ?`),
		digest).Scan(&st.ID, &st.ProjectID, &st.RunnerID, &status, &updated)
	if err != nil {
		return nil, fmt.Errorf("job state by token: %w", db.wrap(err))
	}
	st.Status, st.UpdatedAt = ci.Status(status), fromMicros(updated)
	return &st, nil
}

func jobWhere(f store.JobFilter) (string, []any) {
	where := ` WHERE 1 = 1`
	var args []any
	if f.ProjectID != 0 {
		where += ` AND project_id = ?`
		args = append(args, f.ProjectID)
	}
	if f.PipelineID != 0 {
		where += ` AND pipeline_id = ?`
		args = append(args, f.PipelineID)
	}
	switch f.Kind {
	case store.BuildsOnly:
		where += ` AND kind = ?`
		args = append(args, int(ci.KindBuild))
	case store.BridgesOnly:
		where += ` AND kind = ?`
		args = append(args, int(ci.KindBridge))
	}
	if len(f.Statuses) > 0 {
		list, a := in(f.Statuses)
		where += ` AND status IN ` + list
		args = append(args, a...)
	}
	if f.Ref != "" {
		where += ` AND pipeline_id IN (SELECT id FROM pipelines WHERE project_id = ? AND ref = ?)`
		args = append(args, f.ProjectID, f.Ref)
	}
	if f.LatestOnly {
		where += ` AND retried = ?`
		args = append(args, false)
	}
	if f.RunnerID != 0 {
		where += ` AND runner_id = ?`
		args = append(args, f.RunnerID)
	}
	if f.RunnerManagerID != 0 {
		where += ` AND runner_manager_id = ?`
		args = append(args, f.RunnerManagerID)
	}
	if f.ResourceGroup != "" {
		where += ` AND resource_group = ?`
		args = append(args, f.ResourceGroup)
	}
	if f.StageBefore > 0 {
		where += ` AND stage_idx < ?`
		args = append(args, f.StageBefore)
	}
	if f.BeforeID > 0 {
		where += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	return where, args
}

// ListJobs lists jobs by id descending (ascending with Asc).
func (db *DB) ListJobs(ctx context.Context, f store.JobFilter) ([]*ci.Job, error) {
	cols := jobCols
	if f.Brief {
		cols = briefJobCols
	}
	order := ` ORDER BY id DESC`
	if f.Asc {
		order = ` ORDER BY id ASC`
	}
	var query string
	var args []any
	if len(f.Statuses) > 1 && f.Limit > 0 && f.PipelineID == 0 {
		// Several statuses: one index range per status (project_id, status,
		// id), merged. A single IN scan would walk the id index and filter,
		// which reads the whole project when the statuses are rare.
		var parts []string
		for _, st := range f.Statuses {
			one := f
			one.Statuses = []ci.Status{st}
			where, a := jobWhere(one)
			parts = append(parts, fmt.Sprintf(`SELECT * FROM (SELECT %s FROM jobs%s%s LIMIT %d) AS s%d`,
				cols, where, order, f.Limit+f.Offset, len(parts)))
			args = append(args, a...)
		}
		query = `SELECT * FROM (` + strings.Join(parts, ` UNION ALL `) + `) AS u` + order + limitOffset(f.Limit, f.Offset)
	} else {
		where, a := jobWhere(f)
		query, args = `SELECT `+cols+` FROM jobs`+where+order+limitOffset(f.Limit, f.Offset), a
	}
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return db.collectJobs(rows)
}

func (db *DB) collectJobs(rows *sql.Rows) ([]*ci.Job, error) {
	defer rows.Close()
	var out []*ci.Job
	for rows.Next() {
		j, err := db.scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("scan job: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// CountJobs counts jobs.
func (db *DB) CountJobs(ctx context.Context, f store.JobFilter) (int, error) {
	where, args := jobWhere(f)
	var n int
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM jobs`+where), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return n, nil
}

// PipelineCoverage averages the coverage of a pipeline's latest builds in
// the database, as GitLab does (builds.latest.average(:coverage)), instead
// of reading every job to average a column that is mostly NULL.
func (db *DB) PipelineCoverage(ctx context.Context, pipelineID int64) (*float64, error) {
	where, args := jobWhere(store.JobFilter{PipelineID: pipelineID, LatestOnly: true, Kind: store.BuildsOnly})
	var avg sql.NullFloat64
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT AVG(coverage) FROM jobs`+where+` AND coverage IS NOT NULL`), args...).Scan(&avg); err != nil {
		return nil, fmt.Errorf("pipeline %d coverage: %w", pipelineID, err)
	}
	if !avg.Valid {
		return nil, nil
	}
	return &avg.Float64, nil
}

// PipelineJobs returns all of a pipeline's jobs by id. It reads through the
// writer pool so processing sees its own latest writes.
func (db *DB) PipelineJobs(ctx context.Context, pipelineID int64) ([]*ci.Job, error) {
	rows, err := db.w.QueryContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs WHERE pipeline_id = ? ORDER BY id`), pipelineID)
	if err != nil {
		return nil, fmt.Errorf("pipeline jobs: %w", err)
	}
	return db.collectJobs(rows)
}

// UpdateJob writes a job's mutable fields when its status is still expect.
func (db *DB) UpdateJob(ctx context.Context, j *ci.Job, expect ci.Status) error {
	ok := false
	err := db.unit(ctx, func(u *unit) (err error) {
		ok, err = u.change(ctx, j, expect, true)
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("update job %d from %s: %w", j.ID, expect, store.ErrStale)
	}
	return nil
}

// FinishJob stores a job's final status and its archived log at once, so
// a crash cannot leave a finished job with its log half archived.
func (db *DB) FinishJob(ctx context.Context, j *ci.Job, expect ci.Status, trace *ci.Artifact) ([]string, error) {
	var replaced []string
	ok := false
	err := db.unit(ctx, func(u *unit) (err error) {
		if ok, err = u.change(ctx, j, expect, true); err != nil || !ok {
			return err
		}
		if trace != nil {
			if replaced, err = db.deleteArtifacts(ctx, u.q, j.ID, trace.FileType); err != nil {
				return err
			}
			if err := db.insertArtifact(ctx, u.q, trace); err != nil {
				return err
			}
			if err := db.deleteTrace(ctx, u.q, j.ID); err != nil {
				return err
			}
			j.TraceSize = 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("finish job %d from %s: %w", j.ID, expect, store.ErrStale)
	}
	return replaced, nil
}

// UpdateJobIfResourceFree updates j when its resource group is free.
func (db *DB) UpdateJobIfResourceFree(ctx context.Context, j *ci.Job, expect ci.Status) error {
	ok := false
	err := db.unit(ctx, func(u *unit) error {
		if db.d.LockKey != "" {
			key := fmt.Sprintf("resource_group:%d:%s", j.ProjectID, j.ResourceGroup)
			if _, err := db.exec(ctx, u.q, db.d.LockKey, key); err != nil {
				return fmt.Errorf("lock resource group: %w", err)
			}
		}
		var busy int
		if err := u.q.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM jobs WHERE project_id = ? AND resource_group = ?
			AND status IN ('pending', 'running', 'canceling') AND id <> ?`), j.ProjectID, j.ResourceGroup, j.ID).Scan(&busy); err != nil {
			return fmt.Errorf("resource group busy: %w", err)
		}
		if busy > 0 {
			return nil
		}
		var err error
		ok, err = u.change(ctx, j, expect, true)
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("update job %d: resource group %q busy or status moved: %w", j.ID, j.ResourceGroup, store.ErrStale)
	}
	return nil
}

// UpdateJobs applies several compare-and-set updates in one transaction and
// returns the ids whose status had moved (left unchanged). It is
// processing's own write and leaves the pipeline's processing mark alone.
//
// Updates that write the same values from the same status (a pass moving a
// stage's jobs from created to pending) share one statement, updateJobsPer
// ids at a time: UPDATE … WHERE status = ? AND id IN (…) RETURNING id. The
// ids it returns are the ones whose compare-and-set held; the others had
// moved, exactly as when each is written alone.
func (db *DB) UpdateJobs(ctx context.Context, updates []store.JobUpdate) ([]int64, error) {
	groups, err := db.jobUpdateGroups(updates)
	if err != nil {
		return nil, err
	}
	var stale []int64
	err = db.unit(ctx, func(u *unit) error {
		stale = stale[:0]
		if groups == nil {
			// An id written twice: one statement each, in order.
			for _, up := range updates {
				ok, err := u.change(ctx, up.Job, up.Expect, false)
				if err != nil {
					return err
				}
				if !ok {
					stale = append(stale, up.Job.ID)
				}
			}
			return nil
		}
		held := make(map[int64]bool, len(updates))
		for _, g := range groups {
			if err := db.updateJobSet(ctx, u.q, g, held); err != nil {
				return err
			}
		}
		// Events in the order of the updates, as one statement each would
		// have recorded them.
		for _, up := range updates {
			if !held[up.Job.ID] {
				stale = append(stale, up.Job.ID)
			} else if up.Job.Status != up.Expect {
				u.moved(up.Job, up.Expect)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stale, nil
}

// updateJobsPer is how many ids one set update names (a handful of
// statement texts for the statement cache).
const updateJobsPer = 64

// jobUpdateGroup is updates that write the same column values (args) from
// the same status.
type jobUpdateGroup struct {
	expect ci.Status
	args   []any
	jobs   []*ci.Job
}

// jobUpdateGroups stamps every update with one updated_at and groups the
// updates by what they write, in the order each group first appears. It
// returns nil groups when an id appears twice (those are written one by
// one, in order).
func (db *DB) jobUpdateGroups(updates []store.JobUpdate) ([]*jobUpdateGroup, error) {
	type key struct {
		expect ci.Status
		args   [jobSetNCols]any
	}
	now := time.Now().UTC()
	byKey := make(map[key]*jobUpdateGroup, 2)
	seen := make(map[int64]bool, len(updates))
	var groups []*jobUpdateGroup
	for _, up := range updates {
		if _, ok := ci.ParseStatus(string(up.Expect)); !ok {
			return nil, fmt.Errorf("update job %d: unknown status %q", up.Job.ID, up.Expect)
		}
		if seen[up.Job.ID] {
			return nil, nil
		}
		seen[up.Job.ID] = true
		up.Job.UpdatedAt = now
		args, err := db.jobSetArgs(up.Job)
		if err != nil {
			return nil, err
		}
		k := key{expect: up.Expect}
		copy(k.args[:], args)
		g := byKey[k]
		if g == nil {
			g = &jobUpdateGroup{expect: up.Expect, args: args}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.jobs = append(g.jobs, up.Job)
	}
	return groups, nil
}

// updateJobSet writes one group, recording in held the ids whose status
// was still the group's expected one.
func (db *DB) updateJobSet(ctx context.Context, q querier, g *jobUpdateGroup, held map[int64]bool) error {
	for jobs := g.jobs; len(jobs) > 0; {
		n := min(len(jobs), updateJobsPer)
		chunk := jobs[:n]
		jobs = jobs[n:]
		args := make([]any, 0, jobSetNCols+n)
		args = append(args, g.args...)
		for _, j := range chunk {
			args = append(args, j.ID)
		}
		// The expected status is written into the text, not bound: SQLite
		// checks a bound value against the partial indexes on status and
		// then prepares the statement again on every execution.
		query := `UPDATE jobs SET ` + jobSetCols + ` WHERE status = '` + string(g.expect) + `' AND id IN (` + placeholders(n) + `) RETURNING id`
		rows, err := q.QueryContext(ctx, db.q(query), args...)
		if err != nil {
			return fmt.Errorf("update jobs from %s: %w", g.expect, db.wrap(err))
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("update jobs from %s: %w", g.expect, db.wrap(err))
			}
			held[id] = true
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("update jobs from %s: %w", g.expect, db.wrap(err))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("update jobs from %s: %w", g.expect, db.wrap(err))
		}
	}
	return nil
}

// jobSetCols are the mutable columns a job update writes, in the order of
// jobSetArgs.
const jobSetCols = `status = ?, when_ = ?, allow_failure = ?, user_id = ?, updated_at = ?,
		queued_at = ?, started_at = ?, finished_at = ?, scheduled_at = ?, erased_at = ?, erased_by = ?, coverage = ?,
		failure_reason = ?, exit_code = ?, retried = ?, runner_id = ?, runner_manager_id = ?, timeout = ?,
		artifacts_expire_at = ?, downstream_pipeline_id = ?, job_variables = ?, archived = ?, target_url = ?, description = ?`

const jobSetNCols = 24

// jobSetArgs are j's values for jobSetCols: all comparable, so that
// updates writing the same values can be grouped by them.
func (db *DB) jobSetArgs(j *ci.Job) ([]any, error) {
	vars, err := db.sealVars(j.JobVariables, varsJobs, j.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("encode job variables: %w", err)
	}
	return []any{string(j.Status), j.When, j.AllowFailure, j.UserID, tv(j.UpdatedAt), tp(j.QueuedAt), tp(j.StartedAt),
		tp(j.FinishedAt), tp(j.ScheduledAt), tp(j.ErasedAt), j.ErasedBy, nullFloat(j.Coverage), j.FailureReason,
		nullInt(j.ExitCode), j.Retried, j.RunnerID, j.RunnerManagerID, j.Timeout, tp(j.ArtifactsExpireAt),
		j.DownstreamPipelineID, vars, j.Archived, nullString(j.TargetURL), nullString(j.Description)}, nil
}

func (db *DB) updateJob(ctx context.Context, q querier, j *ci.Job, expect ci.Status) (bool, error) {
	j.UpdatedAt = time.Now().UTC()
	args, err := db.jobSetArgs(j)
	if err != nil {
		return false, err
	}
	res, err := db.exec(ctx, q, `UPDATE jobs SET `+jobSetCols+` WHERE id = ? AND status = ?`, append(args, j.ID, string(expect))...)
	if err != nil {
		return false, fmt.Errorf("update job %d: %w", j.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("update job %d: %w", j.ID, err)
	}
	return n == 1, nil
}

// InsertJobs adds jobs to a pipeline, marking older same-name jobs retried.
func (db *DB) InsertJobs(ctx context.Context, jobs []*ci.Job, retriedNames []string) error {
	err := db.unit(ctx, func(u *unit) error {
		if len(retriedNames) > 0 && len(jobs) > 0 {
			list, args := in(retriedNames)
			args = append([]any{true, time.Now().UTC().UnixMicro(), jobs[0].PipelineID}, args...)
			if _, err := db.exec(ctx, u.q, `UPDATE jobs SET retried = ?, updated_at = ? WHERE pipeline_id = ? AND name IN `+list, args...); err != nil {
				return fmt.Errorf("mark retried: %w", err)
			}
		}
		if err := u.insertAll(ctx, jobs); err != nil {
			return err
		}
		if len(jobs) > 0 {
			return db.markDirty(ctx, u.q, jobs[0].PipelineID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	return nil
}

// RetryJobs clones jobs of one pipeline for a retry under the pipeline's
// lock, as GitLab's Ci::Pipelines::AddJobService holds
// "ci:pipelines:<id>:add-job" around adding a clone: on PostgreSQL a
// transaction-scoped advisory lock on the pipeline, on SQLite the one
// writer (the transaction begins immediate). Inside it every source is
// read again and cloned only when retryable still says so, so concurrent
// retries of one job make one clone.
func (db *DB) RetryJobs(ctx context.Context, pipelineID int64, sources, clones []*ci.Job, retryable func(*ci.Job) bool) ([]*ci.Job, error) {
	if len(sources) != len(clones) {
		return nil, fmt.Errorf("retry jobs: %d sources, %d clones", len(sources), len(clones))
	}
	var done []*ci.Job
	err := db.unit(ctx, func(u *unit) error {
		done = done[:0]
		if db.d.LockKey != "" {
			if _, err := db.exec(ctx, u.q, db.d.LockKey, fmt.Sprintf("pipeline:%d:add-job", pipelineID)); err != nil {
				return fmt.Errorf("lock pipeline: %w", err)
			}
		}
		var names []string
		for i, src := range sources {
			cur, err := db.scanJob(u.q.QueryRowContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs WHERE id = ? AND pipeline_id = ?`),
				src.ID, pipelineID))
			if err != nil {
				return fmt.Errorf("job %d: %w", src.ID, db.wrap(err))
			}
			if !retryable(cur) {
				continue
			}
			names = append(names, cur.Name)
			done = append(done, clones[i])
		}
		if len(done) == 0 {
			return nil
		}
		list, args := in(names)
		args = append([]any{true, time.Now().UTC().UnixMicro(), pipelineID}, args...)
		if _, err := db.exec(ctx, u.q, `UPDATE jobs SET retried = ?, updated_at = ? WHERE pipeline_id = ? AND name IN `+list, args...); err != nil {
			return fmt.Errorf("mark retried: %w", err)
		}
		if err := u.insertAll(ctx, done); err != nil {
			return err
		}
		return db.markDirty(ctx, u.q, pipelineID)
	})
	if err != nil {
		return nil, fmt.Errorf("retry jobs: %w", err)
	}
	return done, nil
}

// A claim reads pending candidates in batches, growing from
// claimBatchFirst to claimBatchMax: the first candidate usually matches,
// and on SQLite every row read is time the single writer is held.
const (
	claimBatchFirst = 4
	claimBatchMax   = 64
)

// ClaimJob hands the oldest matching pending build to a runner. Two
// claimers, even on two coordinators, can never both win the same job:
// on SQLite the whole claim runs in one write transaction (SQLite has one
// writer, so claims queue instead of racing); on PostgreSQL each attempt is
// one statement whose row lock is taken with SKIP LOCKED, so a claimer that
// meets a job another one is taking moves on at once instead of waiting.
//
// The claim is a job status change like any other: the status machine
// decides it (run: pending → running, started_at), the pipeline is marked
// for processing in the same statement or transaction, and the change is
// published after the commit.
func (db *DB) ClaimJob(ctx context.Context, c store.Claim) (*ci.Job, error) {
	if db.d.SkipLocked {
		// Each attempt is one autocommit statement.
		got, err := db.claim(ctx, db.r, db.w, c)
		if err != nil {
			return nil, err
		}
		db.publish(ctx, events.Job(got, ci.StatusPending))
		if h := db.hooks.JobMoved; h != nil {
			moved := *got
			h(&moved, ci.StatusPending)
		}
		return got, nil
	}
	var got *ci.Job
	err := db.unit(ctx, func(u *unit) error {
		var err error
		if got, err = db.claim(ctx, u.q, u.q, c); err == nil {
			u.moved(got, ci.StatusPending)
		}
		return err
	})
	return got, err
}

// claimJobSQL takes a candidate only if it is still pending. The
// pipeline's part (claimPipelineSet) marks it for processing unless it is
// running already (ci.StartNeedsProcessing), and always moves its
// updated_at, so a processing that read the jobs before this claim cannot
// store a status computed from them (UpdatePipeline compares updated_at).
// SQLite runs the two updates in the claim's transaction; PostgreSQL runs
// them as one statement, whose count is the pipeline row's (one when the
// job was taken).
const (
	claimJobSQL = `UPDATE jobs SET status = ?, started_at = ?, updated_at = ?, runner_id = ?,
		runner_manager_id = ?, token_digest = ?, timeout = ? WHERE id = ? AND status = ?`
	claimPipelineSet = `UPDATE pipelines SET dirty = dirty + CASE WHEN status = 'running' THEN 0 ELSE 1 END,
		dirty_at = CASE WHEN status = 'running' THEN dirty_at ELSE ? END,
		updated_at = CASE WHEN updated_at >= ? THEN updated_at + 1 ELSE ? END`
	claimJobMarkSQL = `WITH claimed AS (
		UPDATE jobs SET status = ?, started_at = ?, updated_at = ?, runner_id = ?, runner_manager_id = ?,
			token_digest = ?, timeout = ?
		WHERE id = (SELECT id FROM jobs WHERE id = ? AND status = ? FOR UPDATE SKIP LOCKED)
		RETURNING pipeline_id)
		` + claimPipelineSet + ` WHERE id IN (SELECT pipeline_id FROM claimed)`
)

func (db *DB) claim(ctx context.Context, read, write querier, c store.Claim) (*ci.Job, error) {
	var digest any
	if c.TokenDigest != "" {
		digest = c.TokenDigest
	}
	var afterID int64
	for batch := claimBatchFirst; ; batch = min(2*batch, claimBatchMax) {
		// Candidates without their definitions (the bulk of a row): only
		// the winner's is read.
		query := `SELECT ` + briefJobCols + ` FROM jobs WHERE status = 'pending' AND kind = 0 AND id > ?`
		args := []any{afterID}
		if c.UntaggedOnly {
			query += ` AND tags = ''`
		}
		if c.Runner.AccessLevel == "ref_protected" {
			// Only builds of protected refs; in the query so that such a
			// runner does not read the whole unprotected queue per claim.
			query += ` AND pipeline_id IN (SELECT id FROM pipelines WHERE protected = ?)`
			args = append(args, true)
		}
		if c.Runner.RunnerType == ci.RunnerProject {
			query += ` AND project_id IN (SELECT project_id FROM runner_projects WHERE runner_id = ?)`
			args = append(args, c.Runner.ID)
		}
		query += fmt.Sprintf(` ORDER BY id LIMIT %d`, batch)
		rows, err := read.QueryContext(ctx, db.q(query), args...)
		if err != nil {
			return nil, fmt.Errorf("claim candidates: %w", err)
		}
		cands, err := db.collectJobs(rows)
		if err != nil {
			return nil, err
		}
		for _, j := range cands {
			afterID = j.ID
			if c.Match != nil && !c.Match(j) {
				continue
			}
			if err := read.QueryRowContext(ctx, db.q(`SELECT definition FROM jobs WHERE id = ?`), j.ID).Scan(&j.Definition); err != nil {
				return nil, fmt.Errorf("claim job %d: definition: %w", j.ID, db.wrap(err))
			}
			if ok, err := db.claimOne(ctx, write, c, j, digest); err != nil {
				return nil, err
			} else if ok {
				return j, nil
			}
		}
		if len(cands) < batch {
			return nil, store.ErrNotFound
		}
	}
}

// claimOne records the run transition of candidate j for the runner; it
// reports false when another claimer took the job first.
func (db *DB) claimOne(ctx context.Context, write querier, c store.Claim, j *ci.Job, digest any) (bool, error) {
	now := c.Now.UTC()
	timeout := 0
	if c.Timeout != nil {
		timeout = c.Timeout(j)
	}
	taken := *j
	from, err := taken.Fire(ci.EventRun, ci.Guards{Now: now})
	if err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	taken.UpdatedAt = now
	taken.RunnerID, taken.RunnerManagerID, taken.Timeout = c.Runner.ID, c.ManagerID, timeout
	args := []any{string(taken.Status), tp(taken.StartedAt), tv(now), taken.RunnerID, taken.RunnerManagerID, digest,
		timeout, j.ID, string(from)}
	mark := []any{tv(now), tv(now), tv(now)}
	query := claimJobSQL
	if db.d.SkipLocked {
		query, args = claimJobMarkSQL, append(args, mark...)
	}
	res, err := db.exec(ctx, write, query, args...)
	if err != nil {
		return false, fmt.Errorf("claim job %d: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	if !db.d.SkipLocked {
		if _, err := db.exec(ctx, write, claimPipelineSet+` WHERE id = ?`, append(mark, j.PipelineID)...); err != nil {
			return false, fmt.Errorf("claim job %d: mark pipeline: %w", j.ID, err)
		}
	}
	*j = taken
	return true, nil
}

// TouchJob refreshes updated_at of an executing job.
func (db *DB) TouchJob(ctx context.Context, jobID int64, at time.Time) error {
	if _, err := db.exec(ctx, db.w, `UPDATE jobs SET updated_at = ? WHERE id = ? AND status IN ('running', 'canceling')`,
		tv(at), jobID); err != nil {
		return fmt.Errorf("touch job %d: %w", jobID, err)
	}
	return nil
}

// SetArtifactsExpiry sets a job's artifacts_expire_at alone.
func (db *DB) SetArtifactsExpiry(ctx context.Context, jobID int64, at *time.Time) error {
	if _, err := db.exec(ctx, db.w, `UPDATE jobs SET artifacts_expire_at = ? WHERE id = ?`, tp(at), jobID); err != nil {
		return fmt.Errorf("artifacts expiry of job %d: %w", jobID, err)
	}
	return nil
}

// KeepArtifacts clears the expiry of a job and of its live artifacts.
func (db *DB) KeepArtifacts(ctx context.Context, jobID int64, now time.Time) error {
	return db.tx(ctx, func(q querier) error {
		if _, err := db.exec(ctx, q, `UPDATE jobs SET artifacts_expire_at = NULL WHERE id = ?`, jobID); err != nil {
			return fmt.Errorf("keep job %d: %w", jobID, err)
		}
		// Rows already past their expiry are left to the sweeper, which
		// may be deleting their blobs right now.
		if _, err := db.exec(ctx, q, `UPDATE job_artifacts SET expire_at = NULL WHERE job_id = ? AND expire_at > ?`,
			jobID, tv(now)); err != nil {
			return fmt.Errorf("keep artifacts of job %d: %w", jobID, err)
		}
		return nil
	})
}

// SetJobToken replaces a job's token digest.
func (db *DB) SetJobToken(ctx context.Context, jobID int64, digest string) error {
	var d any
	if digest != "" {
		d = digest
	}
	if _, err := db.exec(ctx, db.w, `UPDATE jobs SET token_digest = ? WHERE id = ?`, d, jobID); err != nil {
		return fmt.Errorf("set job token: %w", err)
	}
	return nil
}

// JobsToSweep lists jobs for background maintenance.
func (db *DB) JobsToSweep(ctx context.Context, f store.SweepFilter) ([]*ci.Job, error) {
	// Only builds and bridges: external statuses have no runner, timeout or
	// schedule (GitLab's StuckBuildsDropService works on Ci::Build).
	query := `SELECT ` + jobCols + ` FROM jobs WHERE kind <> ?`
	args := []any{int(ci.KindExternal)}
	if len(f.Statuses) > 0 {
		list, a := in(f.Statuses)
		query += ` AND status IN ` + list
		args = append(args, a...)
	}
	if f.UpdatedBefore != nil {
		query += ` AND updated_at < ?`
		args = append(args, tv(*f.UpdatedBefore))
	}
	if f.ScheduledBefore != nil {
		query += ` AND scheduled_at IS NOT NULL AND scheduled_at <= ?`
		args = append(args, tv(*f.ScheduledBefore))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	rows, err := db.r.QueryContext(ctx, db.q(query+` ORDER BY id`+limitOffset(limit, 0)), args...)
	if err != nil {
		return nil, fmt.Errorf("sweep jobs: %w", err)
	}
	return db.collectJobs(rows)
}

var errTraceLimit = errors.New("trace limit")

// ReadTrace returns a job's whole live log.
func (db *DB) ReadTrace(ctx context.Context, jobID int64) ([]byte, error) {
	return db.ReadTraceFrom(ctx, jobID, 0)
}

// ReadTraceFrom reads the chunks from the one holding offset on (found on
// the (job_id, pos) key, no data read) and cuts what precedes offset.
func (db *DB) ReadTraceFrom(ctx context.Context, jobID, offset int64) ([]byte, error) {
	return db.ReadTraceRange(ctx, jobID, offset, -1)
}

// ReadTraceRange reads the live log's bytes [from, to) (to < 0: to the
// end), only the chunks holding them.
func (db *DB) ReadTraceRange(ctx context.Context, jobID, from, to int64) ([]byte, error) {
	offset := from
	end := to
	if end < 0 {
		end = math.MaxInt64
	}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT pos, data FROM trace_chunks WHERE job_id = ?
		AND pos >= COALESCE((SELECT MAX(pos) FROM trace_chunks WHERE job_id = ? AND pos <= ?), 0) AND pos < ? ORDER BY pos`),
		jobID, jobID, offset, end)
	if err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	defer rows.Close()
	// The chunks, then one allocation of their total: a 100 MB log is
	// copied once more, not grown by doubling.
	var chunks [][]byte
	total := 0
	for rows.Next() {
		var pos int64
		var chunk []byte
		if err := rows.Scan(&pos, &chunk); err != nil {
			return nil, err
		}
		if keep := end - pos; keep < int64(len(chunk)) {
			chunk = chunk[:max(keep, 0)]
		}
		if skip := offset - pos; skip > 0 {
			chunk = chunk[min(skip, int64(len(chunk))):]
		}
		chunks = append(chunks, chunk)
		total += len(chunk)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

// DeleteTrace drops a job's live log chunks and resets its size.
func (db *DB) DeleteTrace(ctx context.Context, jobID int64) error {
	return db.tx(ctx, func(q querier) error { return db.deleteTrace(ctx, q, jobID) })
}

func (db *DB) deleteTrace(ctx context.Context, q querier, jobID int64) error {
	if _, err := db.exec(ctx, q, `DELETE FROM trace_index WHERE job_id = ?`, jobID); err != nil {
		return fmt.Errorf("delete trace index: %w", err)
	}
	if _, err := db.exec(ctx, q, `DELETE FROM trace_chunks WHERE job_id = ?`, jobID); err != nil {
		return fmt.Errorf("delete trace: %w", err)
	}
	if _, err := db.exec(ctx, q, `UPDATE jobs SET trace_size = 0 WHERE id = ?`, jobID); err != nil {
		return fmt.Errorf("reset trace size: %w", err)
	}
	return nil
}
