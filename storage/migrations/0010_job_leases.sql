-- Several bot processes on one store: each job unfinished is owned by the process that
-- runs it, for as long as that process renews its lease; another adopts it once the
-- lease has run out (or at once when the owner is known gone). NULL: a job from
-- before leases, anyone's to take.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
CREATE INDEX jobs_by_owner ON jobs (owner) WHERE owner IS NOT NULL;
