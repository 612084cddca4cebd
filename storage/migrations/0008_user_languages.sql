-- The language a user chose to read the bot in (/language), one row per user; a user
-- without one reads their app's language.
CREATE TABLE user_languages (
    user_key   TEXT PRIMARY KEY,
    locale     TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
