-- PostgreSQL dialect of ../0006_request_source.sql.
ALTER TABLE jobs ADD COLUMN source TEXT;
CREATE UNIQUE INDEX jobs_by_source ON jobs (source) WHERE source IS NOT NULL;
