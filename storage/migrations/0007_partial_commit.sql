-- A job stopped part-way and kept (Stop & keep) is charged for what it made: its
-- commit entry holds that amount, never more than the reservation, and the rest goes
-- back to the windows the reservation was counted in, as a refund's would. A commit
-- of the whole reservation (every other job) changes no total here.
CREATE TRIGGER quota_ledger_committed_less AFTER INSERT ON quota_ledger
WHEN NEW.entry = 'commit' AND NEW.amount_mc < (
    SELECT amount_mc FROM quota_ledger WHERE job_id = NEW.job_id AND entry = 'reserve')
BEGIN
    UPDATE quota_usage SET used = used - ((SELECT amount_mc FROM quota_ledger
        WHERE job_id = NEW.job_id AND entry = 'reserve') - NEW.amount_mc)
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
END;
