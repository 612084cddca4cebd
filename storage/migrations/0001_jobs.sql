-- Jobs: one row per animation request, updated at every state change so that a
-- restarted process can resume, re-queue or deliver it.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    platform        TEXT NOT NULL CHECK (platform IN ('discord', 'telegram', 'cli')),
    user_key        TEXT NOT NULL,            -- "discord:1234"
    guild_key       TEXT,                     -- Discord guild or Telegram group; NULL in DMs
    channel_id      TEXT,                     -- where the result is posted
    reply_ref       TEXT NOT NULL DEFAULT '{}',  -- JSON: interaction token, message ids
    request         TEXT NOT NULL,            -- JSON: prompt, options, input file paths
    provider        TEXT NOT NULL,
    provider_handle TEXT,                     -- JSON, saved before the first poll
    state           TEXT NOT NULL,
    progress        REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    status_detail   TEXT NOT NULL DEFAULT '{}',  -- JSON: queue position, section, ETA
    error           TEXT,
    cost_mc         INTEGER NOT NULL CHECK (cost_mc >= 0),  -- milli-credits
    seed            INTEGER,
    result_path     TEXT,
    delivered       INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    delivered_at    TEXT
);

CREATE INDEX jobs_by_user ON jobs (user_key, created_at);
CREATE INDEX jobs_by_state ON jobs (state, created_at);
