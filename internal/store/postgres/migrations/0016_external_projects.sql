-- External commit statuses (GitLab's GenericCommitStatus, POST
-- /projects/:id/statuses/:sha) are jobs of kind 2 with the link and text the
-- reporting system gave (ci_builds.target_url, ci_builds.description).
ALTER TABLE jobs ADD COLUMN target_url TEXT,
	ADD COLUMN description TEXT;

-- Project settings PUT /projects/:id changes that the engine obeys
-- (projects.archived, ci_cd_settings.default_git_depth,
-- project_ci_cd_settings.auto_cancel_pending_pipelines).
ALTER TABLE projects ADD COLUMN archived BOOLEAN NOT NULL DEFAULT FALSE,
	ADD COLUMN ci_default_git_depth INTEGER NOT NULL DEFAULT 20,
	ADD COLUMN auto_cancel_pending_pipelines BOOLEAN NOT NULL DEFAULT TRUE;

-- Project variables are unique per key and environment scope, as GitLab's
-- ci_variables (index on project_id, key, environment_scope): several
-- values of one key for different environments.
ALTER TABLE project_variables DROP CONSTRAINT project_variables_pkey,
	ADD PRIMARY KEY (project_id, key, environment_scope);

-- Instance CI/CD variables (GitLab's ci_instance_variables), given to every
-- job below group and project variables. Values are sealed like project
-- variables' (value_encrypted).
CREATE TABLE instance_variables (
    key             TEXT    PRIMARY KEY,
    value           TEXT    NOT NULL,
    value_encrypted BOOLEAN NOT NULL DEFAULT FALSE,
    protected       BOOLEAN NOT NULL DEFAULT FALSE,
    masked          BOOLEAN NOT NULL DEFAULT FALSE,
    raw             BOOLEAN NOT NULL DEFAULT FALSE,
    file            BOOLEAN NOT NULL DEFAULT FALSE,
    description     TEXT
);
