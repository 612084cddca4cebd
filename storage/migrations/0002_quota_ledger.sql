-- The quota ledger: at most one reserve, one commit and one refund per job (the
-- primary key), and never both a commit and a refund (enforced by the writes).
CREATE TABLE quota_ledger (
    job_id      TEXT NOT NULL,
    entry       TEXT NOT NULL CHECK (entry IN ('reserve', 'commit', 'refund')),
    user_key    TEXT NOT NULL,
    guild_key   TEXT,
    amount_mc   INTEGER NOT NULL CHECK (amount_mc >= 0),
    day_start   TEXT NOT NULL,   -- the UTC windows the reservation was counted in
    month_start TEXT NOT NULL,
    reason      TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (job_id, entry)
) WITHOUT ROWID;

CREATE INDEX quota_ledger_by_user ON quota_ledger (user_key, entry);
CREATE INDEX quota_ledger_by_guild ON quota_ledger (guild_key, entry);

-- Running totals, so a reservation reads a handful of rows, not the ledger:
--   period 'day' / 'month': milli-credits reserved (and not refunded) in that window;
--   period 'open': jobs reserved and not yet settled (period_start is '').
-- bonus: admin grants and resets for that window.
CREATE TABLE quota_usage (
    scope        TEXT NOT NULL CHECK (scope IN ('user', 'guild', 'global')),
    scope_key    TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month', 'open')),
    period_start TEXT NOT NULL,
    used         INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    bonus        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_key, period, period_start)
) WITHOUT ROWID;
