-- PostgreSQL dialect of ../0008_user_languages.sql.
CREATE TABLE user_languages (
    user_key   TEXT PRIMARY KEY,
    locale     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
