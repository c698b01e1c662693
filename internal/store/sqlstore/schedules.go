package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

const scheduleCols = `id, project_id, owner_id, description, ref, cron, cron_timezone, next_run_at, active, inputs,
	created_at, updated_at`

func scanSchedule(row interface{ Scan(...any) error }) (*ci.PipelineSchedule, error) {
	var s ci.PipelineSchedule
	var next sql.NullInt64
	var inputs string
	var created, updated int64
	if err := row.Scan(&s.ID, &s.ProjectID, &s.OwnerID, &s.Description, &s.Ref, &s.Cron, &s.CronTimezone, &next,
		&s.Active, &inputs, &created, &updated); err != nil {
		return nil, err
	}
	s.NextRunAt, s.CreatedAt, s.UpdatedAt = fromNull(next), fromMicros(created), fromMicros(updated)
	if err := json.Unmarshal([]byte(inputs), &s.Inputs); err != nil {
		return nil, fmt.Errorf("schedule %d inputs: %w", s.ID, err)
	}
	return &s, nil
}

func scheduleInputs(s *ci.PipelineSchedule) (string, error) {
	in := s.Inputs
	if in == nil {
		in = []ci.ScheduleInput{}
	}
	b, err := json.Marshal(in)
	return string(b), err
}

// CreatePipelineSchedule stores s and sets its ID.
func (db *DB) CreatePipelineSchedule(ctx context.Context, s *ci.PipelineSchedule) error {
	inputs, err := scheduleInputs(s)
	if err != nil {
		return err
	}
	id, err := db.insert(ctx, db.w, `INSERT INTO pipeline_schedules (project_id, owner_id, description, ref, cron,
		cron_timezone, next_run_at, active, inputs, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ProjectID, s.OwnerID, s.Description, s.Ref, s.Cron, s.CronTimezone, tp(s.NextRunAt), s.Active, inputs,
		tv(s.CreatedAt), tv(s.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create pipeline schedule: %w", err)
	}
	s.ID = id
	return nil
}

// PipelineScheduleByID finds a schedule of a project.
func (db *DB) PipelineScheduleByID(ctx context.Context, projectID, id int64) (*ci.PipelineSchedule, error) {
	s, err := scanSchedule(db.r.QueryRowContext(ctx, db.q(`SELECT `+scheduleCols+` FROM pipeline_schedules
		WHERE project_id = ? AND id = ?`), projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline schedule %d: %w", id, err)
	}
	return s, nil
}

func scheduleWhere(f store.ScheduleFilter) (string, []any) {
	where, args := ` WHERE project_id = ?`, []any{f.ProjectID}
	if f.Active != nil {
		where += ` AND active = ?`
		args = append(args, *f.Active)
	}
	return where, args
}

func (db *DB) schedules(ctx context.Context, query string, args ...any) ([]*ci.PipelineSchedule, error) {
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list pipeline schedules: %w", err)
	}
	defer rows.Close()
	var out []*ci.PipelineSchedule
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ListPipelineSchedules lists a project's schedules by id.
func (db *DB) ListPipelineSchedules(ctx context.Context, f store.ScheduleFilter) ([]*ci.PipelineSchedule, error) {
	where, args := scheduleWhere(f)
	return db.schedules(ctx, `SELECT `+scheduleCols+` FROM pipeline_schedules`+where+` ORDER BY id`+
		limitOffset(f.Limit, f.Offset), args...)
}

// CountPipelineSchedules counts what ListPipelineSchedules lists without
// Limit and Offset.
func (db *DB) CountPipelineSchedules(ctx context.Context, f store.ScheduleFilter) (int, error) {
	where, args := scheduleWhere(f)
	var n int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM pipeline_schedules`+where), args...).Scan(&n)
	return n, err
}

// UpdatePipelineSchedule writes every attribute of s.
func (db *DB) UpdatePipelineSchedule(ctx context.Context, s *ci.PipelineSchedule) error {
	inputs, err := scheduleInputs(s)
	if err != nil {
		return err
	}
	res, err := db.exec(ctx, db.w, `UPDATE pipeline_schedules SET owner_id = ?, description = ?, ref = ?, cron = ?,
		cron_timezone = ?, next_run_at = ?, active = ?, inputs = ?, updated_at = ? WHERE id = ?`,
		s.OwnerID, s.Description, s.Ref, s.Cron, s.CronTimezone, tp(s.NextRunAt), s.Active, inputs, tv(s.UpdatedAt), s.ID)
	if err != nil {
		return fmt.Errorf("update pipeline schedule %d: %w", s.ID, err)
	}
	return oneRow(res)
}

// DeletePipelineSchedule removes a schedule; its pipelines stay, unlinked
// (GitLab's has_many :pipelines, dependent: :nullify).
func (db *DB) DeletePipelineSchedule(ctx context.Context, projectID, id int64) error {
	return db.tx(ctx, func(q querier) error {
		res, err := db.exec(ctx, q, `DELETE FROM pipeline_schedules WHERE project_id = ? AND id = ?`, projectID, id)
		if err != nil {
			return fmt.Errorf("delete pipeline schedule %d: %w", id, err)
		}
		if err := oneRow(res); err != nil {
			return err
		}
		if _, err := db.exec(ctx, q, `DELETE FROM pipeline_schedule_variables WHERE schedule_id = ?`, id); err != nil {
			return fmt.Errorf("delete schedule variables: %w", err)
		}
		if _, err := db.exec(ctx, q, `UPDATE pipelines SET pipeline_schedule_id = 0 WHERE pipeline_schedule_id = ?`, id); err != nil {
			return fmt.Errorf("unlink schedule pipelines: %w", err)
		}
		return nil
	})
}

// DuePipelineSchedules lists active schedules due before now
// (Ci::PipelineSchedule.runnable_schedules).
func (db *DB) DuePipelineSchedules(ctx context.Context, now time.Time, limit int) ([]*ci.PipelineSchedule, error) {
	return db.schedules(ctx, `SELECT `+scheduleCols+` FROM pipeline_schedules WHERE active AND next_run_at < ?
		ORDER BY next_run_at, id`+limitOffset(limit, 0), tv(now))
}

// ClaimPipelineSchedule is the one conditional UPDATE that decides which
// coordinator runs a due schedule: only the one whose update still finds
// next_run_at at the value it read moves it on.
func (db *DB) ClaimPipelineSchedule(ctx context.Context, id int64, due, next, now time.Time) (bool, error) {
	res, err := db.exec(ctx, db.w, `UPDATE pipeline_schedules SET next_run_at = ?, updated_at = ?
		WHERE id = ? AND active AND next_run_at = ?`, tv(next), tv(now), id, tv(due))
	if err != nil {
		return false, fmt.Errorf("claim pipeline schedule %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// DeactivatePipelineSchedule sets a schedule inactive (deactivate!).
func (db *DB) DeactivatePipelineSchedule(ctx context.Context, id int64, now time.Time) error {
	res, err := db.exec(ctx, db.w, `UPDATE pipeline_schedules SET active = ?, updated_at = ? WHERE id = ?`, false, tv(now), id)
	if err != nil {
		return fmt.Errorf("deactivate pipeline schedule %d: %w", id, err)
	}
	return oneRow(res)
}

// scheduleVariableContext binds a sealed schedule variable value to its
// row, as variableContext does for project variables.
func scheduleVariableContext(scheduleID int64, key string) string {
	return fmt.Sprintf("pipeline_schedule_variables:%d:%s:value", scheduleID, key)
}

func (db *DB) sealScheduleVariable(v *ci.ScheduleVariable) (string, bool) {
	if db.box == nil {
		return v.Value, false
	}
	return db.box.Seal(v.Value, scheduleVariableContext(v.ScheduleID, v.Key)), true
}

// ScheduleVariables lists a schedule's variables by key, decrypted.
func (db *DB) ScheduleVariables(ctx context.Context, scheduleID int64) ([]*ci.ScheduleVariable, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT key, value, value_encrypted, variable_type
		FROM pipeline_schedule_variables WHERE schedule_id = ? ORDER BY key`), scheduleID)
	if err != nil {
		return nil, fmt.Errorf("schedule variables: %w", err)
	}
	defer rows.Close()
	var out []*ci.ScheduleVariable
	for rows.Next() {
		v := ci.ScheduleVariable{ScheduleID: scheduleID}
		var enc bool
		if err := rows.Scan(&v.Key, &v.Value, &enc, &v.VariableType); err != nil {
			return nil, err
		}
		if enc {
			if db.box == nil {
				return nil, fmt.Errorf("variable %s of schedule %d is encrypted and no secrets key is configured", v.Key, scheduleID)
			}
			if v.Value, err = db.box.Open(v.Value, scheduleVariableContext(scheduleID, v.Key)); err != nil {
				return nil, fmt.Errorf("variable %s of schedule %d: %w", v.Key, scheduleID, err)
			}
		}
		out = append(out, &v)
	}
	return out, rows.Err()
}

// CreateScheduleVariable adds a variable; ErrConflict for a taken key.
func (db *DB) CreateScheduleVariable(ctx context.Context, v *ci.ScheduleVariable) error {
	value, enc := db.sealScheduleVariable(v)
	_, err := db.exec(ctx, db.w, `INSERT INTO pipeline_schedule_variables (schedule_id, key, value, value_encrypted,
		variable_type) VALUES (?, ?, ?, ?, ?)`, v.ScheduleID, v.Key, value, enc, v.VariableType)
	if err != nil {
		return fmt.Errorf("create schedule variable %s: %w", v.Key, err)
	}
	return nil
}

// UpdateScheduleVariable replaces a variable's value and type.
func (db *DB) UpdateScheduleVariable(ctx context.Context, v *ci.ScheduleVariable) error {
	value, enc := db.sealScheduleVariable(v)
	res, err := db.exec(ctx, db.w, `UPDATE pipeline_schedule_variables SET value = ?, value_encrypted = ?,
		variable_type = ? WHERE schedule_id = ? AND key = ?`, value, enc, v.VariableType, v.ScheduleID, v.Key)
	if err != nil {
		return fmt.Errorf("update schedule variable %s: %w", v.Key, err)
	}
	return oneRow(res)
}

// DeleteScheduleVariable removes a variable.
func (db *DB) DeleteScheduleVariable(ctx context.Context, scheduleID int64, key string) error {
	res, err := db.exec(ctx, db.w, `DELETE FROM pipeline_schedule_variables WHERE schedule_id = ? AND key = ?`, scheduleID, key)
	if err != nil {
		return fmt.Errorf("delete schedule variable %s: %w", key, err)
	}
	return oneRow(res)
}

// oneRow is store.ErrNotFound when an update or delete touched no row.
func oneRow(res sql.Result) error {
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
