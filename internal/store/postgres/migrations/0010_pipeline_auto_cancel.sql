-- workflow:auto_cancel of the pipeline's configuration, kept with the
-- pipeline because a later commit's pipeline obeys the older pipeline's
-- on_new_commit, and a failing job its own pipeline's on_job_failure.
-- '' means GitLab's defaults (conservative, none).
ALTER TABLE pipelines ADD COLUMN auto_cancel_on_new_commit TEXT NOT NULL DEFAULT '',
	ADD COLUMN auto_cancel_on_job_failure TEXT NOT NULL DEFAULT '';
