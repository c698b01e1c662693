-- Gantry schema, SQLite dialect. Times are Unix microseconds (INTEGER) so the
-- same SQL serves SQLite and PostgreSQL; booleans are 0/1.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    username_lower TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    email          TEXT    NOT NULL DEFAULT '',
    is_admin       BOOLEAN NOT NULL DEFAULT 0,
    state          TEXT    NOT NULL DEFAULT 'active',
    created_at     INTEGER NOT NULL
);

CREATE TABLE personal_access_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    digest       TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    expires_at   INTEGER,
    revoked      BOOLEAN NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);

CREATE TABLE projects (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace               TEXT    NOT NULL,
    path                    TEXT    NOT NULL,
    full_path_lower         TEXT    NOT NULL UNIQUE,
    name                    TEXT    NOT NULL,
    description             TEXT    NOT NULL DEFAULT '',
    visibility              TEXT    NOT NULL,
    default_branch          TEXT    NOT NULL DEFAULT '',
    creator_id              INTEGER NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    public_builds           BOOLEAN NOT NULL DEFAULT 1,
    build_timeout           INTEGER NOT NULL DEFAULT 3600,
    ci_config_path          TEXT    NOT NULL DEFAULT '',
    job_token_scope_enabled BOOLEAN NOT NULL DEFAULT 0
);

CREATE TABLE project_members (
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access_level INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);

CREATE TABLE project_variables (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    protected  BOOLEAN NOT NULL DEFAULT 0,
    masked     BOOLEAN NOT NULL DEFAULT 0,
    raw        BOOLEAN NOT NULL DEFAULT 0,
    file       BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, key)
);

CREATE TABLE commits (
    project_id INTEGER NOT NULL,
    sha        TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    PRIMARY KEY (project_id, sha)
);

CREATE TABLE internal_ids (
    project_id INTEGER NOT NULL,
    usage      TEXT    NOT NULL,
    last_value INTEGER NOT NULL,
    PRIMARY KEY (project_id, usage)
);

CREATE TABLE pipelines (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id         INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    iid                INTEGER NOT NULL,
    ref                TEXT    NOT NULL,
    tag                BOOLEAN NOT NULL DEFAULT 0,
    sha                TEXT    NOT NULL,
    before_sha         TEXT    NOT NULL,
    source             TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    user_id            INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    started_at         INTEGER,
    finished_at        INTEGER,
    committed_at       INTEGER,
    yaml_errors        TEXT    NOT NULL DEFAULT '',
    failure_reason     TEXT    NOT NULL DEFAULT '',
    name               TEXT    NOT NULL DEFAULT '',
    variables          TEXT    NOT NULL DEFAULT '',
    parent_pipeline_id INTEGER NOT NULL DEFAULT 0,
    parent_job_id      INTEGER NOT NULL DEFAULT 0,
    protected          BOOLEAN NOT NULL DEFAULT 0,
    warnings           BOOLEAN NOT NULL DEFAULT 0,
    UNIQUE (project_id, iid)
);
CREATE INDEX pipelines_project ON pipelines (project_id, id);
CREATE INDEX pipelines_project_ref ON pipelines (project_id, ref, id);
CREATE INDEX pipelines_parent ON pipelines (parent_pipeline_id) WHERE parent_pipeline_id <> 0;

CREATE TABLE jobs (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id             INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    pipeline_id            INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    kind                   INTEGER NOT NULL,
    name                   TEXT    NOT NULL,
    stage                  TEXT    NOT NULL,
    stage_idx              INTEGER NOT NULL,
    status                 TEXT    NOT NULL,
    ref                    TEXT    NOT NULL,
    tag                    BOOLEAN NOT NULL DEFAULT 0,
    when_                  TEXT    NOT NULL,
    allow_failure          BOOLEAN NOT NULL DEFAULT 0,
    user_id                INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    queued_at              INTEGER,
    started_at             INTEGER,
    finished_at            INTEGER,
    scheduled_at           INTEGER,
    erased_at              INTEGER,
    erased_by              INTEGER NOT NULL DEFAULT 0,
    coverage               REAL,
    failure_reason         TEXT    NOT NULL DEFAULT '',
    exit_code              INTEGER,
    retried                BOOLEAN NOT NULL DEFAULT 0,
    runner_id              INTEGER NOT NULL DEFAULT 0,
    runner_manager_id      INTEGER NOT NULL DEFAULT 0,
    tags                   TEXT    NOT NULL DEFAULT '',
    timeout                INTEGER NOT NULL DEFAULT 0,
    artifacts_expire_at    INTEGER,
    downstream_pipeline_id INTEGER NOT NULL DEFAULT 0,
    resource_group         TEXT    NOT NULL DEFAULT '',
    definition             BLOB,
    job_variables          TEXT    NOT NULL DEFAULT '',
    retry_count            INTEGER NOT NULL DEFAULT 0,
    trace_size             INTEGER NOT NULL DEFAULT 0,
    token_digest           TEXT,
    archived               BOOLEAN NOT NULL DEFAULT 0,
    interruptible          BOOLEAN NOT NULL DEFAULT 0,
    enqueue_immediately    BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX jobs_project ON jobs (project_id, id);
CREATE INDEX jobs_project_status ON jobs (project_id, status, id);
CREATE INDEX jobs_pipeline ON jobs (pipeline_id, id);
CREATE INDEX jobs_pending ON jobs (id) WHERE status = 'pending' AND kind = 0;
CREATE INDEX jobs_active ON jobs (status, updated_at) WHERE status IN ('running', 'canceling', 'scheduled', 'pending', 'waiting_for_resource');
CREATE UNIQUE INDEX jobs_token ON jobs (token_digest) WHERE token_digest IS NOT NULL;

CREATE TABLE trace_chunks (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    pos    INTEGER NOT NULL,
    data   BLOB    NOT NULL,
    PRIMARY KEY (job_id, pos)
);

CREATE TABLE job_artifacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    project_id  INTEGER NOT NULL,
    file_type   TEXT    NOT NULL,
    file_format TEXT    NOT NULL,
    filename    TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    blob_key    TEXT    NOT NULL,
    expire_at   INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX job_artifacts_job ON job_artifacts (job_id, id);
CREATE INDEX job_artifacts_expire ON job_artifacts (expire_at) WHERE expire_at IS NOT NULL;
CREATE INDEX job_artifacts_project ON job_artifacts (project_id);

CREATE TABLE runners (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    token_digest     TEXT    NOT NULL UNIQUE,
    token_prefix     TEXT    NOT NULL DEFAULT '',
    description      TEXT    NOT NULL DEFAULT '',
    runner_type      TEXT    NOT NULL,
    tags             TEXT    NOT NULL DEFAULT '',
    run_untagged     BOOLEAN NOT NULL DEFAULT 1,
    paused           BOOLEAN NOT NULL DEFAULT 0,
    locked           BOOLEAN NOT NULL DEFAULT 0,
    access_level     TEXT    NOT NULL DEFAULT 'not_protected',
    maximum_timeout  INTEGER NOT NULL DEFAULT 0,
    maintenance_note TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    contacted_at     INTEGER,
    created_by       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE runner_projects (
    runner_id  INTEGER NOT NULL REFERENCES runners(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (runner_id, project_id)
);
CREATE INDEX runner_projects_project ON runner_projects (project_id);

CREATE TABLE runner_managers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    runner_id    INTEGER NOT NULL REFERENCES runners(id) ON DELETE CASCADE,
    system_id    TEXT    NOT NULL,
    version      TEXT    NOT NULL DEFAULT '',
    revision     TEXT    NOT NULL DEFAULT '',
    platform     TEXT    NOT NULL DEFAULT '',
    architecture TEXT    NOT NULL DEFAULT '',
    ip_address   TEXT    NOT NULL DEFAULT '',
    features     TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    contacted_at INTEGER,
    UNIQUE (runner_id, system_id)
);

CREATE TABLE locks (
    name  TEXT    PRIMARY KEY,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL
);
