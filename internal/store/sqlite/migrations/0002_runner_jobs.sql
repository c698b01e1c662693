-- Jobs by runner, for GET /runners/:id/jobs.
CREATE INDEX jobs_runner ON jobs (runner_id, id) WHERE runner_id <> 0;
