package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/ci"
)

const artifactCols = `id, job_id, project_id, file_type, file_format, filename, size, blob_key, expire_at, created_at`

func scanArtifact(row rowScanner) (*ci.Artifact, error) {
	var a ci.Artifact
	var expire sql.NullInt64
	var created int64
	if err := row.Scan(&a.ID, &a.JobID, &a.ProjectID, &a.FileType, &a.FileFormat, &a.Filename, &a.Size, &a.BlobKey,
		&expire, &created); err != nil {
		return nil, err
	}
	a.ExpireAt, a.CreatedAt = fromNull(expire), fromMicros(created)
	return &a, nil
}

func (db *DB) insertArtifact(ctx context.Context, q querier, a *ci.Artifact) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now().UTC()
	}
	id, err := db.insert(ctx, q, `INSERT INTO job_artifacts (job_id, project_id, file_type, file_format, filename, size,
		blob_key, expire_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.JobID, a.ProjectID, a.FileType, a.FileFormat, a.Filename, a.Size, a.BlobKey, tp(a.ExpireAt), tv(a.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert artifact: %w", err)
	}
	a.ID = id
	return nil
}

// CreateArtifact stores an artifact row.
func (db *DB) CreateArtifact(ctx context.Context, a *ci.Artifact) error {
	return db.insertArtifact(ctx, db.w, a)
}

// ReplaceArtifact swaps the job's artifact of a.FileType for a.
func (db *DB) ReplaceArtifact(ctx context.Context, a *ci.Artifact) ([]string, error) {
	var keys []string
	err := db.tx(ctx, func(q querier) error {
		var err error
		keys, err = db.deleteArtifacts(ctx, q, a.JobID, a.FileType)
		if err != nil {
			return err
		}
		return db.insertArtifact(ctx, q, a)
	})
	return keys, err
}

// ArtifactsByJobIDs loads the artifacts of several jobs, in id order.
func (db *DB) ArtifactsByJobIDs(ctx context.Context, ids []int64) (map[int64][]*ci.Artifact, error) {
	out := make(map[int64][]*ci.Artifact, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	list, args := in(ids)
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+artifactCols+` FROM job_artifacts WHERE job_id IN `+list+` ORDER BY id`), args...)
	if err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanArtifact(rows)
		if err != nil {
			return nil, err
		}
		out[a.JobID] = append(out[a.JobID], a)
	}
	return out, rows.Err()
}

func (db *DB) deleteArtifacts(ctx context.Context, q querier, jobID int64, fileTypes ...string) ([]string, error) {
	where := ` WHERE job_id = ?`
	args := []any{jobID}
	if len(fileTypes) > 0 {
		list, a := in(fileTypes)
		where += ` AND file_type IN ` + list
		args = append(args, a...)
	}
	rows, err := q.QueryContext(ctx, db.q(`SELECT blob_key FROM job_artifacts`+where), args...)
	if err != nil {
		return nil, fmt.Errorf("artifact keys: %w", err)
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if _, err := db.exec(ctx, q, `DELETE FROM job_artifacts`+where, args...); err != nil {
		return nil, fmt.Errorf("delete artifacts: %w", err)
	}
	return keys, nil
}

// DeleteArtifacts removes a job's artifacts and returns their blob keys.
func (db *DB) DeleteArtifacts(ctx context.Context, jobID int64, fileTypes ...string) ([]string, error) {
	var keys []string
	err := db.tx(ctx, func(q querier) error {
		var err error
		keys, err = db.deleteArtifacts(ctx, q, jobID, fileTypes...)
		return err
	})
	return keys, err
}

// ExpireArtifacts sets every deletable artifact of a project (all but
// traces) to expire at the given time, and the jobs' expiry with it.
func (db *DB) ExpireArtifacts(ctx context.Context, projectID int64, at time.Time) error {
	return db.tx(ctx, func(q querier) error {
		if _, err := db.exec(ctx, q, `UPDATE job_artifacts SET expire_at = ? WHERE project_id = ? AND file_type <> 'trace'`,
			tv(at), projectID); err != nil {
			return fmt.Errorf("expire artifacts: %w", err)
		}
		if _, err := db.exec(ctx, q, `UPDATE jobs SET artifacts_expire_at = ? WHERE project_id = ? AND id IN
			(SELECT job_id FROM job_artifacts WHERE project_id = ?)`, tv(at), projectID, projectID); err != nil {
			return fmt.Errorf("expire jobs' artifacts: %w", err)
		}
		return nil
	})
}

// ExpiredArtifacts lists artifacts past their expiry.
func (db *DB) ExpiredArtifacts(ctx context.Context, now time.Time, limit int) ([]*ci.Artifact, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+artifactCols+` FROM job_artifacts
		WHERE expire_at IS NOT NULL AND expire_at < ? ORDER BY expire_at`+limitOffset(limit, 0)), tv(now))
	if err != nil {
		return nil, fmt.Errorf("expired artifacts: %w", err)
	}
	defer rows.Close()
	var out []*ci.Artifact
	for rows.Next() {
		a, err := scanArtifact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteArtifactByID removes one artifact row.
func (db *DB) DeleteArtifactByID(ctx context.Context, id int64) error {
	if _, err := db.exec(ctx, db.w, `DELETE FROM job_artifacts WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete artifact %d: %w", id, err)
	}
	return nil
}
