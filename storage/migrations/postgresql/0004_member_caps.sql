-- PostgreSQL dialect of ../0004_member_caps.sql: caps inside one server (scopes 'member'
-- and 'guild_role'). PostgreSQL changes the CHECK constraints and the trigger functions
-- in place, where SQLite rebuilds the tables.
ALTER TABLE quota_usage DROP CONSTRAINT quota_usage_scope,
    ADD CONSTRAINT quota_usage_scope CHECK (scope IN ('user', 'member', 'guild', 'global'));

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

ALTER TABLE quota_limits DROP CONSTRAINT quota_limits_scope,
    ADD CONSTRAINT quota_limits_scope
    CHECK (scope IN ('user', 'role', 'guild', 'member', 'guild_role'));

CREATE OR REPLACE FUNCTION quota_ledger_reserved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quota_usage AS u (scope, scope_key, period, period_start, used) VALUES
        ('global', '*', 'open', '', 1),
        ('user', NEW.user_key, 'open', '', 1),
        ('user', NEW.user_key, 'month', NEW.month_start, NEW.amount_mc),
        ('user', NEW.user_key, 'day', NEW.day_start, NEW.amount_mc)
    ON CONFLICT (scope, scope_key, period, period_start)
    DO UPDATE SET used = u.used + excluded.used;
    IF NEW.guild_key IS NOT NULL THEN
        INSERT INTO quota_usage AS u (scope, scope_key, period, period_start, used) VALUES
            ('guild', NEW.guild_key, 'day', NEW.day_start, NEW.amount_mc),
            ('member', NEW.guild_key || '|' || NEW.user_key, 'open', '', 1),
            ('member', NEW.guild_key || '|' || NEW.user_key, 'month', NEW.month_start,
             NEW.amount_mc),
            ('member', NEW.guild_key || '|' || NEW.user_key, 'day', NEW.day_start,
             NEW.amount_mc)
        ON CONFLICT (scope, scope_key, period, period_start)
        DO UPDATE SET used = u.used + excluded.used;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION quota_ledger_settled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'global' AND scope_key = '*' AND period = 'open' AND period_start = '';
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'user' AND scope_key = NEW.user_key AND period = 'open' AND period_start = '';
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'member' AND scope_key = NEW.guild_key || '|' || NEW.user_key
      AND period = 'open' AND period_start = '';
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION quota_ledger_refunded() RETURNS trigger LANGUAGE plpgsql AS $$
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
    RETURN NULL;
END $$;
