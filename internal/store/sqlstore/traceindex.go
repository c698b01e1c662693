package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/tracelog"
)

// The line index of live logs (trace_index): after each chunk, the
// tracelog.State of a scan of the log up to its end. A reader of lines
// [a, b] finds there the chunks holding them and the sections open before
// a, and reads only those chunks.

// indexChunk records the state after the chunk appended at offset, from
// the previous chunk's. When that one is not indexed (appended before the
// index existed) it writes nothing: TraceIndex indexes the log on its
// first read.
func (db *DB) indexChunk(ctx context.Context, q querier, jobID, offset int64, data []byte) error {
	var st tracelog.State
	if offset > 0 {
		var raw string
		err := q.QueryRowContext(ctx, db.q(`SELECT state FROM trace_index WHERE job_id = ? AND pos < ? ORDER BY pos DESC LIMIT 1`),
			jobID, offset).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("trace index: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Off != offset {
			return nil
		}
	}
	st.Feed(data, nil)
	return db.putIndex(ctx, q, jobID, offset, st)
}

func (db *DB) putIndex(ctx context.Context, q querier, jobID, pos int64, st tracelog.State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := db.exec(ctx, q, `INSERT INTO trace_index (job_id, pos, state) VALUES (?, ?, ?)
		ON CONFLICT (job_id, pos) DO NOTHING`, jobID, pos, string(b)); err != nil {
		return fmt.Errorf("trace index: %w", err)
	}
	return nil
}

// TraceIndex returns the live log's index, one entry per chunk in order,
// indexing the chunks appended before the index existed first (one read
// of the log, once).
func (db *DB) TraceIndex(ctx context.Context, jobID int64) ([]store.TraceMark, error) {
	marks, err := db.readIndex(ctx, jobID)
	if err != nil {
		return nil, err
	}
	var chunks int
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM trace_chunks WHERE job_id = ?`), jobID).Scan(&chunks); err != nil {
		return nil, fmt.Errorf("trace index: %w", err)
	}
	if chunks <= len(marks) && tiled(marks) {
		return marks, nil
	}
	if err := db.backfillIndex(ctx, jobID); err != nil {
		return nil, err
	}
	return db.readIndex(ctx, jobID)
}

func (db *DB) readIndex(ctx context.Context, jobID int64) ([]store.TraceMark, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT pos, state FROM trace_index WHERE job_id = ? ORDER BY pos`), jobID)
	if err != nil {
		return nil, fmt.Errorf("trace index: %w", err)
	}
	defer rows.Close()
	var marks []store.TraceMark
	for rows.Next() {
		var m store.TraceMark
		var raw string
		if err := rows.Scan(&m.Pos, &raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &m.End); err != nil {
			return nil, fmt.Errorf("trace index of job %d at %d: %w", jobID, m.Pos, err)
		}
		marks = append(marks, m)
	}
	return marks, rows.Err()
}

// tiled reports whether marks cover the log from 0 without a gap.
func tiled(marks []store.TraceMark) bool {
	var off int64
	for _, m := range marks {
		if m.Pos != off {
			return false
		}
		off = m.End.Off
	}
	return true
}

// backfillIndex indexes every chunk of a log, reading them in order.
// Entries already present are kept (they are the same).
func (db *DB) backfillIndex(ctx context.Context, jobID int64) error {
	return db.tx(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, db.q(`SELECT pos, data FROM trace_chunks WHERE job_id = ? ORDER BY pos`), jobID)
		if err != nil {
			return fmt.Errorf("trace index: %w", err)
		}
		type entry struct {
			pos int64
			st  tracelog.State
		}
		var entries []entry
		var st tracelog.State
		for rows.Next() {
			var pos int64
			var data []byte
			if err := rows.Scan(&pos, &data); err != nil {
				rows.Close()
				return err
			}
			st.Feed(data, nil)
			entries = append(entries, entry{pos, st.Clone()})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range entries {
			if err := db.putIndex(ctx, q, jobID, e.pos, e.st); err != nil {
				return err
			}
		}
		return nil
	})
}
