-- Protected branches and tags (GitLab's protected_branches and
-- protected_tags): one row per rule, kind 'branch' or 'tag'; name is an
-- exact ref name or a wildcard pattern.
CREATE TABLE protected_refs (
    id                           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id                   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    kind                         TEXT    NOT NULL,
    name                         TEXT    NOT NULL,
    allow_force_push             BOOLEAN NOT NULL DEFAULT 0,
    code_owner_approval_required BOOLEAN NOT NULL DEFAULT 0,
    created_at                   INTEGER NOT NULL,
    UNIQUE (project_id, kind, name)
);
-- Who may push, merge (branches) or create (tags) under a rule.
CREATE TABLE protected_ref_access_levels (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    protected_ref_id INTEGER NOT NULL REFERENCES protected_refs(id) ON DELETE CASCADE,
    action           TEXT    NOT NULL,
    access_level     INTEGER NOT NULL
);
CREATE INDEX protected_ref_access_levels_ref ON protected_ref_access_levels (protected_ref_id);
