-- Project variables get GitLab's environment_scope and description
-- (ci_variables.environment_scope, ci_variables.description). One variable per
-- key and project still: the scope is kept and answered, not yet a second key.
ALTER TABLE project_variables ADD COLUMN environment_scope TEXT NOT NULL DEFAULT '*';
ALTER TABLE project_variables ADD COLUMN description TEXT;
