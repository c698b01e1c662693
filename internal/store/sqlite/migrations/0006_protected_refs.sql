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

-- Projects pushed to before protected refs existed get what a first push
-- gives a new project: the default branch protected, maintainers push and
-- merge, no force push.
INSERT INTO protected_refs (project_id, kind, name, allow_force_push, code_owner_approval_required, created_at)
    SELECT id, 'branch', default_branch, 0, 0, created_at FROM projects WHERE default_branch <> '';
INSERT INTO protected_ref_access_levels (protected_ref_id, action, access_level)
    SELECT id, 'push', 40 FROM protected_refs ORDER BY id;
INSERT INTO protected_ref_access_levels (protected_ref_id, action, access_level)
    SELECT id, 'merge', 40 FROM protected_refs ORDER BY id;
