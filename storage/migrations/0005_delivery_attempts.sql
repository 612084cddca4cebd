-- Exactly-once posting. `delivery_attempts` is counted up (and committed) before each
-- post, so that after a restart, a timeout or a dropped connection the adapter knows an
-- earlier post may have gone through and looks for it before posting again;
-- `posted_ref` (JSON) names the message that carries the video once it is known.
ALTER TABLE jobs ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN posted_ref TEXT;
