-- PostgreSQL dialect of ../0010_job_leases.sql.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
CREATE INDEX jobs_by_owner ON jobs (owner) WHERE owner IS NOT NULL;
