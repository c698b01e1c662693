-- A pipeline owes a processing from the commit of a job change until a
-- processing of it completes: dirty counts the changes, dirty_at is the
-- last one. The sweeper processes pipelines left dirty by a coordinator
-- that died in between.
ALTER TABLE pipelines ADD COLUMN dirty INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN dirty_at INTEGER;
CREATE INDEX pipelines_dirty ON pipelines (dirty_at) WHERE dirty > 0;
