-- PostgreSQL dialect of ../0011_request_windows.sql.
CREATE TABLE request_windows (
    rate     TEXT NOT NULL,
    user_key TEXT NOT NULL,
    started  DOUBLE PRECISION NOT NULL,
    used     INTEGER NOT NULL CHECK (used >= 1),
    PRIMARY KEY (rate, user_key)
);

CREATE INDEX request_windows_by_start ON request_windows (rate, started);
