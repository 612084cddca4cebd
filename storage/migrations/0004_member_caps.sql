-- Caps inside one server. A guild admin sets limits for a member or a role *in that
-- server* (scopes 'member' and 'guild_role', keys "<guild_key>|<user_key>" and
-- "<guild_key>|<role_key>"); they apply on top of the user's bot-wide caps, never
-- instead of them. The ledger keeps a running total per member and server.
-- SQLite cannot change a CHECK constraint in place: both tables are rebuilt.

DROP TRIGGER quota_ledger_reserved;
DROP TRIGGER quota_ledger_settled;
DROP TRIGGER quota_ledger_refunded;

CREATE TABLE quota_usage_new (
    scope        TEXT NOT NULL CHECK (scope IN ('user', 'member', 'guild', 'global')),
    scope_key    TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month', 'open')),
    period_start TEXT NOT NULL,
    used         INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    bonus        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_key, period, period_start)
) WITHOUT ROWID;
INSERT INTO quota_usage_new SELECT scope, scope_key, period, period_start, used, bonus
    FROM quota_usage;
DROP TABLE quota_usage;
ALTER TABLE quota_usage_new RENAME TO quota_usage;

-- Members' totals for what the ledger already holds (jobs in flight keep counting).
WITH live AS (
    SELECT r.guild_key || '|' || r.user_key AS member, r.day_start, r.month_start,
        r.amount_mc,
        EXISTS (SELECT 1 FROM quota_ledger s WHERE s.job_id = r.job_id AND s.entry = 'refund')
            AS refunded,
        EXISTS (SELECT 1 FROM quota_ledger s WHERE s.job_id = r.job_id
                AND s.entry IN ('commit', 'refund')) AS settled
    FROM quota_ledger r WHERE r.entry = 'reserve' AND r.guild_key IS NOT NULL
)
INSERT INTO quota_usage (scope, scope_key, period, period_start, used)
SELECT 'member', member, 'day', day_start, SUM(amount_mc)
    FROM live WHERE NOT refunded GROUP BY member, day_start
UNION ALL
SELECT 'member', member, 'month', month_start, SUM(amount_mc)
    FROM live WHERE NOT refunded GROUP BY member, month_start
UNION ALL
SELECT 'member', member, 'open', '', COUNT(*) FROM live WHERE NOT settled GROUP BY member;

CREATE TABLE quota_limits_new (
    scope           TEXT NOT NULL
                    CHECK (scope IN ('user', 'role', 'guild', 'member', 'guild_role')),
    scope_key       TEXT NOT NULL,
    daily_mc        INTEGER CHECK (daily_mc >= 0),
    monthly_mc      INTEGER CHECK (monthly_mc >= 0),
    concurrent_jobs INTEGER CHECK (concurrent_jobs >= 1),
    updated_at      TEXT NOT NULL,
    updated_by      TEXT NOT NULL,
    PRIMARY KEY (scope, scope_key)
) WITHOUT ROWID;
INSERT INTO quota_limits_new SELECT scope, scope_key, daily_mc, monthly_mc, concurrent_jobs,
    updated_at, updated_by FROM quota_limits;
DROP TABLE quota_limits;
ALTER TABLE quota_limits_new RENAME TO quota_limits;

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
        SELECT scope, scope_key, period, period_start, used FROM (
            SELECT 'guild' AS scope, NEW.guild_key AS scope_key, 'day' AS period,
                   NEW.day_start AS period_start, NEW.amount_mc AS used
            UNION ALL SELECT 'member', NEW.guild_key || '|' || NEW.user_key, 'open', '', 1
            UNION ALL SELECT 'member', NEW.guild_key || '|' || NEW.user_key, 'month',
                   NEW.month_start, NEW.amount_mc
            UNION ALL SELECT 'member', NEW.guild_key || '|' || NEW.user_key, 'day',
                   NEW.day_start, NEW.amount_mc)
        WHERE NEW.guild_key IS NOT NULL
    ON CONFLICT DO UPDATE SET used = used + excluded.used;
END;

CREATE TRIGGER quota_ledger_settled AFTER INSERT ON quota_ledger
WHEN NEW.entry IN ('commit', 'refund')
BEGIN
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'global' AND scope_key = '*' AND period = 'open' AND period_start = '';
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'user' AND scope_key = NEW.user_key AND period = 'open' AND period_start = '';
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'member' AND scope_key = NEW.guild_key || '|' || NEW.user_key
      AND period = 'open' AND period_start = '';
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
    UPDATE quota_usage SET used = used - NEW.amount_mc
    WHERE scope = 'member' AND scope_key = NEW.guild_key || '|' || NEW.user_key
      AND period = 'day' AND period_start = NEW.day_start;
    UPDATE quota_usage SET used = used - NEW.amount_mc
    WHERE scope = 'member' AND scope_key = NEW.guild_key || '|' || NEW.user_key
      AND period = 'month' AND period_start = NEW.month_start;
END;
