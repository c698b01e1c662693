-- Background sweeps select jobs by status. The partial jobs_active index
-- is never chosen for "status IN (...)" (SQLite only uses a partial index
-- whose condition the query repeats), so sweeps scanned the whole table.
CREATE INDEX jobs_status ON jobs (status, id);
DROP INDEX jobs_active;
