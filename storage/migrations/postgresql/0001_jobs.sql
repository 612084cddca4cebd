-- PostgreSQL dialect of ../0001_jobs.sql: the same tables, columns and constraints.
-- Timestamps stay fixed-width UTC ISO text, as in SQLite, so that every query of the
-- store compares and sorts them the same way on both backends.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    platform        TEXT NOT NULL CHECK (platform IN ('discord', 'telegram', 'cli')),
    user_key        TEXT NOT NULL,
    guild_key       TEXT,
    channel_id      TEXT,
    reply_ref       TEXT NOT NULL DEFAULT '{}',
    request         TEXT NOT NULL,
    provider        TEXT NOT NULL,
    provider_handle TEXT,
    state           TEXT NOT NULL,
    progress        DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    status_detail   TEXT NOT NULL DEFAULT '{}',
    error           TEXT,
    cost_mc         BIGINT NOT NULL CHECK (cost_mc >= 0),
    seed            BIGINT,
    result_path     TEXT,
    delivered       INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    delivered_at    TEXT
);

CREATE INDEX jobs_by_user ON jobs (user_key, created_at);
CREATE INDEX jobs_by_state ON jobs (state, created_at);
