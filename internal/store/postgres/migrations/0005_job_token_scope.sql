-- The CI/CD job token inbound allowlist (GitLab's
-- ci_inbound_job_token_scope_enabled and ci_job_token_project_scope_links
-- with direction inbound). A project without a job_token_scopes row has
-- the scope off, as projects created before it existed; new projects get a
-- row with inbound_enabled true.
CREATE TABLE job_token_scopes (
    project_id      BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    inbound_enabled BOOLEAN NOT NULL
);
-- source_project_id's job tokens may reach project_id.
CREATE TABLE job_token_allowlist (
    project_id        BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source_project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (project_id, source_project_id)
);
