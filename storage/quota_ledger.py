"""The quota ledger: atomic reserve, and exactly-once commit or refund, per job.

Amounts are integer milli-credits, so sums stay exact. Windows are UTC calendar days
and months; a reservation is counted in the windows of the moment it was made, and
its refund goes back to those same windows.

Each write runs inside one serialised write transaction (`BEGIN IMMEDIATE` on SQLite,
the store's advisory lock on PostgreSQL; see `storage.db`): the running totals it reads
cannot change before it writes, in this process or another, so the check-then-update
below is exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from storage.db import Connection, Database, timestamp


class Limit(StrEnum):
    """Which limit refused a reservation, in the order they are checked."""

    GLOBAL_QUEUE = "global_queue"
    USER_CONCURRENT = "user_concurrent"
    USER_MONTHLY = "user_monthly"
    USER_DAILY = "user_daily"
    MEMBER_CONCURRENT = "member_concurrent"  # caps inside one server, set by its admins
    MEMBER_MONTHLY = "member_monthly"
    MEMBER_DAILY = "member_daily"
    GUILD_DAILY = "guild_daily"


def day_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(moment: datetime) -> datetime:
    return day_start(moment).replace(day=1)


def next_day(moment: datetime) -> datetime:
    start = day_start(moment)
    return start.fromordinal(start.toordinal() + 1).replace(tzinfo=UTC)


def next_month(moment: datetime) -> datetime:
    start = month_start(moment)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


@dataclass(frozen=True)
class Caps:
    """The limits one reservation is checked against; None means no limit."""

    user_daily_mc: int | None
    user_monthly_mc: int | None
    user_concurrent: int | None
    guild_daily_mc: int | None
    global_open: int | None
    # A member's caps in the job's server, on top of the user's (None: none there).
    member_daily_mc: int | None = None
    member_monthly_mc: int | None = None
    member_concurrent: int | None = None


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    cap: int  # milli-credits, or jobs for the two job-count limits
    remaining: int  # what is left under that cap (never negative)
    resets_at: datetime | None  # None: frees up when a running job ends


@dataclass(frozen=True)
class ReserveOutcome:
    granted: bool
    refusal: Refusal | None = None
    # True when this job already held a reservation: nothing was charged again.
    replayed: bool = False


@dataclass(frozen=True)
class Bucket:
    scope: str  # user | member | guild | global
    scope_key: str
    period: str  # day | month | open
    period_start: str  # '' for open

    def key(self) -> tuple[str, str, str, str]:
        return (self.scope, self.scope_key, self.period, self.period_start)


@dataclass(frozen=True)
class BucketUsage:
    used: int
    bonus: int

    def remaining(self, cap: int) -> int:
        return max(0, cap + self.bonus - self.used)


GLOBAL_KEY = "*"


def member_key(guild_key: str, user_key: str) -> str:
    """A member of one server, as the ledger's triggers spell it."""
    return f"{guild_key}|{user_key}"


def _reservation_buckets(
    user_key: str, guild_key: str | None, day: str, month: str
) -> list[tuple[Bucket, Limit]]:
    """Every running total a reservation touches, with the limit that caps it."""
    buckets = [
        (Bucket("global", GLOBAL_KEY, "open", ""), Limit.GLOBAL_QUEUE),
        (Bucket("user", user_key, "open", ""), Limit.USER_CONCURRENT),
        (Bucket("user", user_key, "month", month), Limit.USER_MONTHLY),
        (Bucket("user", user_key, "day", day), Limit.USER_DAILY),
    ]
    if guild_key is not None:
        member = member_key(guild_key, user_key)
        buckets += [
            (Bucket("member", member, "open", ""), Limit.MEMBER_CONCURRENT),
            (Bucket("member", member, "month", month), Limit.MEMBER_MONTHLY),
            (Bucket("member", member, "day", day), Limit.MEMBER_DAILY),
            (Bucket("guild", guild_key, "day", day), Limit.GUILD_DAILY),
        ]
    return buckets


def _cap_for(limit: Limit, caps: Caps) -> int | None:
    return {
        Limit.GLOBAL_QUEUE: caps.global_open,
        Limit.USER_CONCURRENT: caps.user_concurrent,
        Limit.USER_MONTHLY: caps.user_monthly_mc,
        Limit.USER_DAILY: caps.user_daily_mc,
        Limit.MEMBER_CONCURRENT: caps.member_concurrent,
        Limit.MEMBER_MONTHLY: caps.member_monthly_mc,
        Limit.MEMBER_DAILY: caps.member_daily_mc,
        Limit.GUILD_DAILY: caps.guild_daily_mc,
    }[limit]


def _resets_at(limit: Limit, now: datetime) -> datetime | None:
    if limit in (Limit.USER_DAILY, Limit.MEMBER_DAILY, Limit.GUILD_DAILY):
        return next_day(now)
    if limit in (Limit.USER_MONTHLY, Limit.MEMBER_MONTHLY):
        return next_month(now)
    return None


# A reservation in one statement: the ledger row is written only when every cap
# still has room (a missing total counts as 0), and the triggers of migration 0002
# (and 0004) add it to the totals. `available = cap + bonus - used`, so it fits when
# `used - bonus + amount <= cap`. A job id already reserved is left alone.
_RESERVE = """
INSERT INTO quota_ledger
    (job_id, entry, user_key, guild_key, amount_mc, day_start, month_start, created_at)
SELECT :job_id, 'reserve', :user_key, :guild_key, :amount, :day, :month, :now
WHERE (:global_cap IS NULL OR :global_cap >= 1 + COALESCE((SELECT used - bonus FROM quota_usage
        WHERE scope = 'global' AND scope_key = '*' AND period = 'open' AND period_start = ''), 0))
  AND (:concurrent_cap IS NULL OR :concurrent_cap >= 1 + COALESCE((SELECT used - bonus
        FROM quota_usage WHERE scope = 'user' AND scope_key = :user_key AND period = 'open'
        AND period_start = ''), 0))
  AND (:monthly_cap IS NULL OR :monthly_cap >= :amount + COALESCE((SELECT used - bonus
        FROM quota_usage WHERE scope = 'user' AND scope_key = :user_key AND period = 'month'
        AND period_start = :month), 0))
  AND (:daily_cap IS NULL OR :daily_cap >= :amount + COALESCE((SELECT used - bonus
        FROM quota_usage WHERE scope = 'user' AND scope_key = :user_key AND period = 'day'
        AND period_start = :day), 0))
  AND (:guild_key IS NULL OR :member_concurrent_cap IS NULL OR :member_concurrent_cap >= 1
        + COALESCE((SELECT used - bonus FROM quota_usage WHERE scope = 'member'
        AND scope_key = :member_key AND period = 'open' AND period_start = ''), 0))
  AND (:guild_key IS NULL OR :member_monthly_cap IS NULL OR :member_monthly_cap >= :amount
        + COALESCE((SELECT used - bonus FROM quota_usage WHERE scope = 'member'
        AND scope_key = :member_key AND period = 'month' AND period_start = :month), 0))
  AND (:guild_key IS NULL OR :member_daily_cap IS NULL OR :member_daily_cap >= :amount
        + COALESCE((SELECT used - bonus FROM quota_usage WHERE scope = 'member'
        AND scope_key = :member_key AND period = 'day' AND period_start = :day), 0))
  AND (:guild_key IS NULL OR :guild_cap IS NULL OR :guild_cap >= :amount + COALESCE((
        SELECT used - bonus FROM quota_usage WHERE scope = 'guild' AND scope_key = :guild_key
        AND period = 'day' AND period_start = :day), 0))
ON CONFLICT DO NOTHING
RETURNING job_id
"""

# Writes the settling entry only when the job holds a reservation that is not yet
# settled; the triggers of migrations 0002 and 0007 update the totals. Its amount is
# the reservation's, or less when given (a commit for a job that made less).
_SETTLE = """
INSERT INTO quota_ledger
    (job_id, entry, user_key, guild_key, amount_mc, day_start, month_start, reason, created_at)
SELECT job_id, :entry, user_key, guild_key,
    CASE WHEN :amount IS NOT NULL AND :amount < amount_mc THEN :amount ELSE amount_mc END,
    day_start, month_start, :reason, :now
FROM quota_ledger AS r
WHERE r.job_id = :job_id AND r.entry = 'reserve'
  AND NOT EXISTS (
      SELECT 1 FROM quota_ledger AS s
      WHERE s.job_id = r.job_id AND s.entry IN ('commit', 'refund'))
RETURNING job_id
"""

_ADD_BONUS = """
INSERT INTO quota_usage (scope, scope_key, period, period_start, bonus) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (scope, scope_key, period, period_start)
DO UPDATE SET bonus = quota_usage.bonus + excluded.bonus
"""


class QuotaLedger:
    """Write methods take an optional open transaction, to compose with other writes
    (a job row and its reservation commit together); without one they open their own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(
        self,
        job_id: str,
        *,
        user_key: str,
        guild_key: str | None,
        amount_mc: int,
        caps: Caps,
        now: datetime,
        tx: Connection | None = None,
    ) -> ReserveOutcome:
        if amount_mc < 0:
            raise ValueError("amount_mc must not be negative")
        params = {
            "job_id": job_id,
            "user_key": user_key,
            "guild_key": guild_key,
            "amount": amount_mc,
            "day": timestamp(day_start(now)),
            "month": timestamp(month_start(now)),
            "now": timestamp(now),
            "global_cap": caps.global_open,
            "concurrent_cap": caps.user_concurrent,
            "monthly_cap": caps.user_monthly_mc,
            "daily_cap": caps.user_daily_mc,
            "guild_cap": caps.guild_daily_mc,
            "member_key": member_key(guild_key, user_key) if guild_key is not None else None,
            "member_concurrent_cap": caps.member_concurrent,
            "member_monthly_cap": caps.member_monthly_mc,
            "member_daily_cap": caps.member_daily_mc,
        }
        if tx is None:
            if await self._db.write(_RESERVE, params):
                return ReserveOutcome(granted=True)
            # Refused or replayed: look again inside a transaction, where the totals
            # hold still, to say exactly which cap refused.
            return await self._db.run(lambda own: self._reserve_in(own, params, caps, now))
        return await self._reserve_in(tx, params, caps, now)

    async def _reserve_in(
        self, tx: Connection, params: dict, caps: Caps, now: datetime
    ) -> ReserveOutcome:
        if await tx.execute_fetchall(_RESERVE, params):
            return ReserveOutcome(granted=True)
        if await tx.execute_fetchall(
            "SELECT 1 FROM quota_ledger WHERE job_id = ? AND entry = 'reserve'",
            (params["job_id"],),
        ):
            return ReserveOutcome(granted=True, replayed=True)
        buckets = _reservation_buckets(
            params["user_key"], params["guild_key"], params["day"], params["month"]
        )
        usage = await _read_buckets(tx, [bucket for bucket, _ in buckets])
        for bucket, limit in buckets:
            cap = _cap_for(limit, caps)
            needed = 1 if bucket.period == "open" else params["amount"]
            current = usage[bucket.key()]
            if cap is not None and current.used - current.bonus + needed > cap:
                return ReserveOutcome(
                    granted=False,
                    refusal=Refusal(limit, cap, current.remaining(cap), _resets_at(limit, now)),
                )
        raise AssertionError("reservation refused by SQL but every cap has room")

    async def commit(
        self,
        job_id: str,
        *,
        now: datetime,
        tx: Connection | None = None,
        amount_mc: int | None = None,
    ) -> bool:
        """The job delivered: its credits stay spent — all it reserved, or `amount_mc`
        when less (the rest goes back to its windows). False if already settled or
        unknown."""
        if amount_mc is not None and amount_mc < 0:
            raise ValueError("amount_mc must not be negative")
        return await self._settle(job_id, "commit", None, now, tx, amount_mc)

    async def refund(
        self, job_id: str, *, reason: str, now: datetime, tx: Connection | None = None
    ) -> bool:
        """The job failed, was cancelled or blocked: its credits return to the windows
        they came from. False if already settled or unknown."""
        return await self._settle(job_id, "refund", reason, now, tx)

    async def _settle(
        self,
        job_id: str,
        entry: str,
        reason: str | None,
        now: datetime,
        tx: Connection | None,
        amount_mc: int | None = None,
    ) -> bool:
        params = {
            "entry": entry,
            "amount": amount_mc,
            "reason": reason,
            "now": timestamp(now),
            "job_id": job_id,
        }
        if tx is None:
            return bool(await self._db.write(_SETTLE, params))
        return bool(await tx.execute_fetchall(_SETTLE, params))

    async def grant(
        self,
        scope: str,
        scope_key: str,
        amount_mc: int,
        *,
        now: datetime,
        tx: Connection | None = None,
    ) -> None:
        """Add credits to the current windows of a user (day and month) or a guild (day)."""
        if amount_mc <= 0:
            raise ValueError("a grant must be positive")
        periods = _periods_for(scope, scope_key, now)
        async with _maybe_transaction(self._db, tx) as conn:
            await conn.executemany(_ADD_BONUS, [(*bucket.key(), amount_mc) for bucket in periods])

    async def reset(
        self,
        scope: str,
        scope_key: str,
        periods: Iterable[str],
        *,
        now: datetime,
        tx: Connection | None = None,
    ) -> None:
        """Back to the plain limit for the current windows: settled use and grants are
        forgotten, reservations still in flight keep counting."""
        wanted = set(periods)
        buckets = [b for b in _periods_for(scope, scope_key, now) if b.period in wanted]
        column = {
            "user": "r.user_key",
            "guild": "r.guild_key",
            "member": "r.guild_key || '|' || r.user_key",
        }[scope]
        start_column = {"day": "day_start", "month": "month_start"}
        async with _maybe_transaction(self._db, tx) as conn:
            for bucket in buckets:
                await conn.execute(_ADD_BONUS, (*bucket.key(), 0))
                # available = cap + bonus - used; bonus = used - in_flight => cap - in_flight
                await conn.execute(
                    f"""UPDATE quota_usage SET bonus = used - (
                        SELECT COALESCE(SUM(r.amount_mc), 0) FROM quota_ledger AS r
                        WHERE {column} = ? AND r.entry = 'reserve'
                          AND r.{start_column[bucket.period]} = ?
                          AND NOT EXISTS (SELECT 1 FROM quota_ledger AS s
                                          WHERE s.job_id = r.job_id
                                            AND s.entry IN ('commit', 'refund')))
                    WHERE scope = ? AND scope_key = ? AND period = ? AND period_start = ?""",
                    (scope_key, bucket.period_start, *bucket.key()),
                )

    async def usage(self, scope: str, scope_key: str, now: datetime) -> dict[str, BucketUsage]:
        """Current use of a user or member ('day', 'month', 'open') or guild ('day')."""
        buckets = _periods_for(scope, scope_key, now)
        if scope in ("user", "member"):
            buckets.append(Bucket(scope, scope_key, "open", ""))
        result = {}
        for bucket in buckets:
            row = await self._db.fetch_one(
                "SELECT used, bonus FROM quota_usage WHERE scope = ? AND scope_key = ?"
                " AND period = ? AND period_start = ?",
                bucket.key(),
            )
            result[bucket.period] = (
                BucketUsage(row["used"], row["bonus"]) if row else BucketUsage(0, 0)
            )
        return result

    async def global_open_jobs(self) -> int:
        row = await self._db.fetch_one(
            "SELECT used FROM quota_usage WHERE scope = 'global' AND period = 'open'"
        )
        return row["used"] if row else 0

    async def entries(self, job_id: str) -> dict[str, int]:
        """The ledger entries of one job: {'reserve': amount, 'commit': ..., ...}."""
        rows = await self._db.fetch_all(
            "SELECT entry, amount_mc FROM quota_ledger WHERE job_id = ?", (job_id,)
        )
        return {row["entry"]: row["amount_mc"] for row in rows}

    async def verify(self) -> list[str]:
        """Recompute every running total from the ledger; each mismatch is one line.
        An empty list means the ledger is consistent."""
        problems: list[str] = []
        both = await self._db.fetch_all(
            "SELECT job_id FROM quota_ledger WHERE entry IN ('commit', 'refund')"
            " GROUP BY job_id HAVING COUNT(*) > 1"
        )
        problems += [f"job {r['job_id']} is both committed and refunded" for r in both]
        orphans = await self._db.fetch_all(
            "SELECT job_id FROM quota_ledger AS s WHERE entry != 'reserve' AND NOT EXISTS"
            " (SELECT 1 FROM quota_ledger AS r WHERE r.job_id = s.job_id AND r.entry = 'reserve')"
        )
        problems += [f"job {r['job_id']} is settled without a reservation" for r in orphans]

        expected = await self._db.fetch_all(_EXPECTED_TOTALS)
        want = {
            (r["scope"], r["scope_key"], r["period"], r["period_start"]): r["total"]
            for r in expected
        }
        rows = await self._db.fetch_all(
            "SELECT scope, scope_key, period, period_start, used FROM quota_usage"
        )
        have = {
            (r["scope"], r["scope_key"], r["period"], r["period_start"]): r["used"] for r in rows
        }
        for key in sorted(set(want) | set(have)):
            if want.get(key, 0) != have.get(key, 0):
                problems.append(
                    f"{'/'.join(key).rstrip('/')}: total {have.get(key, 0)}, "
                    f"ledger says {want.get(key, 0)}"
                )
        return problems


# What every running total must be, recomputed from the ledger alone.
_EXPECTED_TOTALS = """
WITH live AS (
    SELECT r.*,
        EXISTS (SELECT 1 FROM quota_ledger s WHERE s.job_id = r.job_id AND s.entry = 'refund')
            AS refunded,
        EXISTS (SELECT 1 FROM quota_ledger s WHERE s.job_id = r.job_id
                AND s.entry IN ('commit', 'refund')) AS settled,
        -- What it costs: its commit's amount once committed (at most the reservation).
        COALESCE((SELECT s.amount_mc FROM quota_ledger s WHERE s.job_id = r.job_id
                  AND s.entry = 'commit'), r.amount_mc) AS charged
    FROM quota_ledger r WHERE r.entry = 'reserve'
)
SELECT 'user' AS scope, user_key AS scope_key, 'day' AS period, day_start AS period_start,
       SUM(charged) AS total FROM live WHERE NOT refunded GROUP BY user_key, day_start
UNION ALL
SELECT 'user', user_key, 'month', month_start, SUM(charged)
    FROM live WHERE NOT refunded GROUP BY user_key, month_start
UNION ALL
SELECT 'guild', guild_key, 'day', day_start, SUM(charged)
    FROM live WHERE NOT refunded AND guild_key IS NOT NULL GROUP BY guild_key, day_start
UNION ALL
SELECT 'user', user_key, 'open', '', COUNT(*) FROM live WHERE NOT settled GROUP BY user_key
UNION ALL
SELECT 'member', guild_key || '|' || user_key, 'day', day_start, SUM(charged)
    FROM live WHERE NOT refunded AND guild_key IS NOT NULL
    GROUP BY guild_key, user_key, day_start
UNION ALL
SELECT 'member', guild_key || '|' || user_key, 'month', month_start, SUM(charged)
    FROM live WHERE NOT refunded AND guild_key IS NOT NULL
    GROUP BY guild_key, user_key, month_start
UNION ALL
SELECT 'member', guild_key || '|' || user_key, 'open', '', COUNT(*)
    FROM live WHERE NOT settled AND guild_key IS NOT NULL GROUP BY guild_key, user_key
UNION ALL
SELECT 'global', '*', 'open', '', COUNT(*) FROM live WHERE NOT settled
"""


def _periods_for(scope: str, scope_key: str, now: datetime) -> list[Bucket]:
    """The credit windows (not the job counts) of a user, member or guild at `now`."""
    day, month = timestamp(day_start(now)), timestamp(month_start(now))
    if scope in ("user", "member"):
        return [Bucket(scope, scope_key, "day", day), Bucket(scope, scope_key, "month", month)]
    if scope == "guild":
        return [Bucket("guild", scope_key, "day", day)]
    raise ValueError(f"no credit windows for scope {scope!r}")


@asynccontextmanager
async def _maybe_transaction(db: Database, tx: Connection | None) -> AsyncIterator[Connection]:
    if tx is not None:
        yield tx
    else:
        async with db.transaction() as own:
            yield own


async def _read_buckets(tx: Connection, buckets: list[Bucket]) -> dict[tuple, BucketUsage]:
    """The totals of these buckets; a bucket with no row yet reads as zero."""
    found = {bucket.key(): BucketUsage(0, 0) for bucket in buckets}
    for bucket in buckets:
        rows = await tx.execute_fetchall(
            "SELECT used, bonus FROM quota_usage WHERE scope = ? AND scope_key = ?"
            " AND period = ? AND period_start = ?",
            bucket.key(),
        )
        for row in rows:
            found[bucket.key()] = BucketUsage(row["used"], row["bonus"])
    return found
