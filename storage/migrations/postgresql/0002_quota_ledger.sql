-- PostgreSQL dialect of ../0002_quota_ledger.sql. SQLite's triggers become PL/pgSQL
-- trigger functions with the same effect: the running totals move with the ledger in
-- the statement that writes it.
CREATE TABLE quota_ledger (
    job_id      TEXT NOT NULL,
    entry       TEXT NOT NULL CHECK (entry IN ('reserve', 'commit', 'refund')),
    user_key    TEXT NOT NULL,
    guild_key   TEXT,
    amount_mc   BIGINT NOT NULL CHECK (amount_mc >= 0),
    day_start   TEXT NOT NULL,
    month_start TEXT NOT NULL,
    reason      TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (job_id, entry)
);

CREATE INDEX quota_ledger_by_user ON quota_ledger (user_key, entry);
CREATE INDEX quota_ledger_by_guild ON quota_ledger (guild_key, entry);

CREATE TABLE quota_usage (
    scope        TEXT NOT NULL CONSTRAINT quota_usage_scope
                 CHECK (scope IN ('user', 'guild', 'global')),
    scope_key    TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month', 'open')),
    period_start TEXT NOT NULL,
    used         BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
    bonus        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_key, period, period_start)
);

CREATE FUNCTION quota_ledger_reserved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quota_usage AS u (scope, scope_key, period, period_start, used) VALUES
        ('global', '*', 'open', '', 1),
        ('user', NEW.user_key, 'open', '', 1),
        ('user', NEW.user_key, 'month', NEW.month_start, NEW.amount_mc),
        ('user', NEW.user_key, 'day', NEW.day_start, NEW.amount_mc)
    ON CONFLICT (scope, scope_key, period, period_start)
    DO UPDATE SET used = u.used + excluded.used;
    IF NEW.guild_key IS NOT NULL THEN
        INSERT INTO quota_usage AS u (scope, scope_key, period, period_start, used)
        VALUES ('guild', NEW.guild_key, 'day', NEW.day_start, NEW.amount_mc)
        ON CONFLICT (scope, scope_key, period, period_start)
        DO UPDATE SET used = u.used + excluded.used;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER quota_ledger_reserved AFTER INSERT ON quota_ledger
FOR EACH ROW WHEN (NEW.entry = 'reserve') EXECUTE FUNCTION quota_ledger_reserved();

CREATE FUNCTION quota_ledger_settled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'global' AND scope_key = '*' AND period = 'open' AND period_start = '';
    UPDATE quota_usage SET used = used - 1
    WHERE scope = 'user' AND scope_key = NEW.user_key AND period = 'open' AND period_start = '';
    RETURN NULL;
END $$;

CREATE TRIGGER quota_ledger_settled AFTER INSERT ON quota_ledger
FOR EACH ROW WHEN (NEW.entry IN ('commit', 'refund')) EXECUTE FUNCTION quota_ledger_settled();

CREATE FUNCTION quota_ledger_refunded() RETURNS trigger LANGUAGE plpgsql AS $$
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
    RETURN NULL;
END $$;

CREATE TRIGGER quota_ledger_refunded AFTER INSERT ON quota_ledger
FOR EACH ROW WHEN (NEW.entry = 'refund') EXECUTE FUNCTION quota_ledger_refunded();
