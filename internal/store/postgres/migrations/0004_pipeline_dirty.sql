-- A pipeline owes a processing from the commit of a job change until a
-- processing of it completes: dirty counts the changes, dirty_at is the
-- last one. The sweeper processes pipelines left dirty by a coordinator
-- that died in between.
ALTER TABLE pipelines ADD COLUMN dirty BIGINT NOT NULL DEFAULT 0, ADD COLUMN dirty_at BIGINT;
CREATE INDEX pipelines_dirty ON pipelines (dirty_at) WHERE dirty > 0;
