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

-- The database keeps the running totals in step with the ledger itself, so that no
-- writer can add an entry and forget a total (and a reservation is one statement).
CREATE TRIGGER quota_ledger_reserved AFTER INSERT ON quota_ledger
WHEN NEW.entry = 'reserve'
BEGIN
    INSERT INTO quota_usage (scope, scope_key, period, period_start, used) VALUES
        ('global', '*', 'open', '', 1),
        ('user', NEW.user_key, 'open', '', 1),
        ('user', NEW.user_key, 'month', NEW.month_start, NEW.amount_mc),
        ('user', NEW.user_key, 'day', NEW.day_start, NEW.amount_mc)
    ON CONFLICT DO UPDATE SET used = used + excluded.used;
    INSERT INTO quota_usage (scope, scope_key, period, period_start, used)
        SELECT 'guild', NEW.guild_key, 'day', NEW.day_start, NEW.amount_mc
        WHERE NEW.guild_key IS NOT NULL
    ON CONFLICT DO UPDATE SET used = used + excluded.used;
END;

-- Settling frees the job's slots; a refund also gives the credits back to the
-- windows the reservation was counted in. One UPDATE per total, each on the full
-- primary key, so none scans the table.
CREATE TRIGGER quota_ledger_settled AFTER INSERT ON quota_ledger
WHEN NEW.entry IN ('commit', 'refund')
BEGIN
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'global' AND scope_key = '*' AND period = 'open' AND period_start = '';
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'user' AND scope_key = NEW.user_key AND period = 'open' AND period_start = '';
END;

CREATE TRIGGER quota_ledger_refunded AFTER INSERT ON quota_ledger
WHEN NEW.entry = 'refund'
BEGIN
    UPDATE quota_usage SET used = used - NEW.amount_mc
    WHERE scope = 'user' AND scope_key = NEW.user_key AND period = 'day'
      AND period_start = NEW.day_start;
    UPDATE quota_usage SET used = used - NEW.amount_mc
    WHERE scope = 'user' AND scope_key = NEW.user_key AND period = 'month'
      AND period_start = NEW.month_start;
    UPDATE quota_usage SET used = used - NEW.amount_mc
    WHERE scope = 'guild' AND scope_key = NEW.guild_key AND period = 'day'
      AND period_start = NEW.day_start;
END;
