-- The ref updates of acknowledged pushes still owed their pipeline (what
-- GitLab's PostReceive job carries). A push is recorded here before git's
-- answer reaches the client, and each row is deleted in the transaction
-- that creates its pipeline, so a crash neither loses nor doubles one.
-- ref is the full name (refs/heads/…, refs/tags/…); push_options are the
-- push's `git push -o` options as a JSON array, sealed with the secrets
-- key (like CI variable values) when options_encrypted.
CREATE TABLE ref_changes (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id           INTEGER NOT NULL DEFAULT 0,
    ref               TEXT    NOT NULL,
    old_sha           TEXT    NOT NULL,
    new_sha           TEXT    NOT NULL,
    push_options      TEXT    NOT NULL DEFAULT '',
    options_encrypted BOOLEAN NOT NULL DEFAULT 0,
    created_at        BIGINT  NOT NULL
);
CREATE INDEX ref_changes_project ON ref_changes (project_id, id);
