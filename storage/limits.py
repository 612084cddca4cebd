"""Admin overrides of the configured quota limits, per user, role or guild."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, Database, any_place, timestamp

# user, role: bot-wide (operators); guild: a server's daily budget (operators);
# member, guild_role: caps inside one server ("<guild_key>|<user or role key>").
LIMIT_SCOPES = ("user", "role", "guild", "member", "guild_role")


@dataclass(frozen=True)
class LimitOverride:
    """None in a field means: inherit (role, then the configured default)."""

    daily_mc: int | None = None
    monthly_mc: int | None = None
    concurrent_jobs: int | None = None

    def is_empty(self) -> bool:
        return self.daily_mc is None and self.monthly_mc is None and self.concurrent_jobs is None


class LimitStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, scope: str, scope_key: str) -> LimitOverride | None:
        row = await self._db.fetch_one(
            "SELECT daily_mc, monthly_mc, concurrent_jobs FROM quota_limits"
            " WHERE scope = ? AND scope_key = ?",
            (scope, scope_key),
        )
        return LimitOverride(row[0], row[1], row[2]) if row else None

    async def get_keyed(
        self, wanted: list[tuple[str, str]]
    ) -> dict[tuple[str, str], LimitOverride]:
        """The overrides of several (scope, scope_key) pairs in one read: a job's caps
        need up to five, and each read is a trip to the reader's thread."""
        if not wanted:
            return {}
        where, params = any_place(wanted)
        rows = await self._db.fetch_all(
            "SELECT scope, scope_key, daily_mc, monthly_mc, concurrent_jobs FROM quota_limits"
            f" WHERE {where}",
            params,
        )
        return {(r[0], r[1]): LimitOverride(r[2], r[3], r[4]) for r in rows}

    async def put(
        self,
        scope: str,
        scope_key: str,
        override: LimitOverride,
        *,
        actor: str,
        now: datetime,
        tx: Connection,
    ) -> None:
        """Replace the override; an empty one removes the row (back to inheriting)."""
        _check_scope(scope)
        if override.is_empty():
            await tx.execute(
                "DELETE FROM quota_limits WHERE scope = ? AND scope_key = ?", (scope, scope_key)
            )
            return
        await tx.execute(
            "INSERT INTO quota_limits (scope, scope_key, daily_mc, monthly_mc, concurrent_jobs,"
            " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (scope, scope_key) DO UPDATE SET daily_mc = excluded.daily_mc,"
            " monthly_mc = excluded.monthly_mc, concurrent_jobs = excluded.concurrent_jobs,"
            " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (
                scope,
                scope_key,
                override.daily_mc,
                override.monthly_mc,
                override.concurrent_jobs,
                timestamp(now),
                actor,
            ),
        )


def _check_scope(scope: str) -> None:
    if scope not in LIMIT_SCOPES:
        raise ValueError(f"limits apply to {', '.join(LIMIT_SCOPES)}, not {scope!r}")
