-- The line index of live logs: after each chunk of trace_chunks, where a
-- scan of the log stands (lines so far, the sections open, an unfinished
-- marker), as JSON (tracelog.State). Written in the transaction that
-- appends the chunk; chunks appended before this table existed are
-- indexed on their first read. Pages read only the chunks holding the
-- lines they show.
CREATE TABLE trace_index (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    pos    INTEGER NOT NULL,
    state  TEXT    NOT NULL,
    PRIMARY KEY (job_id, pos)
);
