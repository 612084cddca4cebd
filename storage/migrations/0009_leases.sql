-- Leases: one process at a time does a thing (polls Telegram for a bot token); it holds
-- the lease while it renews it, and another may take it once `until` has passed (the
-- holder was killed, or lost its machine).
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until TEXT NOT NULL
) WITHOUT ROWID;
