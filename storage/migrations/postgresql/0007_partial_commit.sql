-- PostgreSQL dialect of ../0007_partial_commit.sql: a commit of less than the
-- reservation gives the rest back to the windows the reservation was counted in.
CREATE FUNCTION quota_ledger_committed_less() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    reserved BIGINT;
BEGIN
    SELECT amount_mc INTO reserved FROM quota_ledger
    WHERE job_id = NEW.job_id AND entry = 'reserve';
    IF NEW.amount_mc < reserved THEN
        UPDATE quota_usage SET used = used - (reserved - NEW.amount_mc)
        WHERE (scope = 'user' AND scope_key = NEW.user_key AND period = 'day'
               AND period_start = NEW.day_start)
           OR (scope = 'user' AND scope_key = NEW.user_key AND period = 'month'
               AND period_start = NEW.month_start)
           OR (scope = 'guild' AND scope_key = NEW.guild_key AND period = 'day'
               AND period_start = NEW.day_start)
           OR (scope = 'member' AND scope_key = NEW.guild_key || '|' || NEW.user_key
               AND period = 'day' AND period_start = NEW.day_start)
           OR (scope = 'member' AND scope_key = NEW.guild_key || '|' || NEW.user_key
               AND period = 'month' AND period_start = NEW.month_start);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER quota_ledger_committed_less AFTER INSERT ON quota_ledger
FOR EACH ROW WHEN (NEW.entry = 'commit') EXECUTE FUNCTION quota_ledger_committed_less();
