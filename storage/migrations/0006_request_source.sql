-- Idempotent intake. `source` names the platform event a job was made from (a Telegram
-- chat and message, a Discord message or interaction, a button press); platforms
-- deliver at least once, so a second job from the same event is refused by this index
-- in the transaction that would have inserted it. NULL for jobs from nowhere in
-- particular (the CLI, jobs written before this migration).
ALTER TABLE jobs ADD COLUMN source TEXT;
CREATE UNIQUE INDEX jobs_by_source ON jobs (source) WHERE source IS NOT NULL;
