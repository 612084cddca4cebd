-- Admin overrides of the configured quota defaults. NULL = inherit.
-- scope 'user' and 'role': limits for that user / members of that role;
-- scope 'guild': daily_mc is the guild's (or Telegram group's) daily budget.
CREATE TABLE quota_limits (
    scope           TEXT NOT NULL CHECK (scope IN ('user', 'role', 'guild')),
    scope_key       TEXT NOT NULL,
    daily_mc        INTEGER CHECK (daily_mc >= 0),
    monthly_mc      INTEGER CHECK (monthly_mc >= 0),
    concurrent_jobs INTEGER CHECK (concurrent_jobs >= 1),
    updated_at      TEXT NOT NULL,
    updated_by      TEXT NOT NULL,
    PRIMARY KEY (scope, scope_key)
) WITHOUT ROWID;

-- Per guild/chat and per channel settings (default provider, safety policy, ...),
-- a value per name as JSON; a channel value wins over its guild's.
CREATE TABLE scope_settings (
    scope      TEXT NOT NULL CHECK (scope IN ('guild', 'channel')),
    scope_key  TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (scope, scope_key, name)
) WITHOUT ROWID;

-- Admin actions and safety blocks, append-only.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_by_time ON audit_log (at);
