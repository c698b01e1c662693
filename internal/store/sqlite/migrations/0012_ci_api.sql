-- Project variables get GitLab's environment_scope and description
-- (ci_variables.environment_scope, ci_variables.description). One variable per
-- key and project still: the scope is kept and answered, not yet a second key.
ALTER TABLE project_variables ADD COLUMN environment_scope TEXT NOT NULL DEFAULT '*';
ALTER TABLE project_variables ADD COLUMN description TEXT;

-- Pipeline trigger tokens (GitLab's ci_triggers). The token is kept as a
-- SHA-256 digest; token_short is the four characters after "glptt-" that
-- GitLab shows to everyone but the owner.
CREATE TABLE pipeline_triggers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    owner_id    INTEGER NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    token_hash  TEXT    NOT NULL UNIQUE,
    token_short TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    last_used   BIGINT,
    expires_at  BIGINT
);
CREATE INDEX pipeline_triggers_project ON pipeline_triggers (project_id, id);
