-- PostgreSQL dialect of ../0005_delivery_attempts.sql.
ALTER TABLE jobs ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN posted_ref TEXT;
