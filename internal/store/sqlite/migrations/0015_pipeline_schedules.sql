-- Pipeline schedules (GitLab's ci_pipeline_schedules), their variables
-- (ci_pipeline_schedule_variables, values encrypted like project variables)
-- and the link from a pipeline to the schedule that created it
-- (ci_pipelines.pipeline_schedule_id; 0 for none, reset when the schedule
-- is deleted, as GitLab nullifies it).
CREATE TABLE pipeline_schedules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    owner_id      INTEGER NOT NULL DEFAULT 0,
    description   TEXT    NOT NULL,
    ref           TEXT    NOT NULL,
    cron          TEXT    NOT NULL,
    cron_timezone TEXT    NOT NULL,
    next_run_at   BIGINT,
    active        BOOLEAN NOT NULL DEFAULT 1,
    inputs        TEXT    NOT NULL DEFAULT '[]',
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
CREATE INDEX pipeline_schedules_project ON pipeline_schedules (project_id, id);
CREATE INDEX pipeline_schedules_due ON pipeline_schedules (next_run_at) WHERE active;

CREATE TABLE pipeline_schedule_variables (
    schedule_id     INTEGER NOT NULL REFERENCES pipeline_schedules (id) ON DELETE CASCADE,
    key             TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    value_encrypted BOOLEAN NOT NULL DEFAULT 0,
    variable_type   TEXT    NOT NULL DEFAULT 'env_var',
    PRIMARY KEY (schedule_id, key)
);

ALTER TABLE pipelines ADD COLUMN pipeline_schedule_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX pipelines_schedule ON pipelines (pipeline_schedule_id, id) WHERE pipeline_schedule_id <> 0;
