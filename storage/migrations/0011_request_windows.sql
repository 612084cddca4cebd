-- The per-user request rate (bot.core.ratelimit), in the store so that every bot process
-- on it counts the same requests: per rate and user, when the current window began
-- (Unix seconds) and how many requests it has counted.
CREATE TABLE request_windows (
    rate     TEXT NOT NULL,
    user_key TEXT NOT NULL,
    started  REAL NOT NULL,
    used     INTEGER NOT NULL CHECK (used >= 1),
    PRIMARY KEY (rate, user_key)
) WITHOUT ROWID;

CREATE INDEX request_windows_by_start ON request_windows (rate, started);
