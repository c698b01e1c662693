-- Variable lists still stored in plaintext (written before values were
-- encrypted at rest) are found at every start and sealed
-- (EncryptPlainVariables). Without these indexes that search read every
-- job and pipeline row: seconds per million jobs before the server was
-- ready. They hold only rows still to seal, normally none. The WHERE is the
-- query's, word for word: SQLite uses a partial index only then.
CREATE INDEX jobs_plain_variables ON jobs (id)
    WHERE job_variables <> '' AND job_variables NOT LIKE 'sealed:%';
CREATE INDEX pipelines_plain_variables ON pipelines (id)
    WHERE variables <> '' AND variables NOT LIKE 'sealed:%';
