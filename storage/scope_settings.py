"""Per-guild/chat and per-channel settings: a JSON value per name.

The rows only: which names exist, their scopes and defaults, and that a channel's
value wins over its guild's are declared in bot.core.settings (Red-DiscordBot's
scoped Config is the model).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.db import Connection, Database, any_place, timestamp

SETTING_SCOPES = ("guild", "channel")


class ScopeSettings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, scope: str, scope_key: str, name: str) -> Any | None:
        found = await self.get_with_author(scope, scope_key, name)
        return found[0] if found else None

    async def get_with_author(
        self, scope: str, scope_key: str, name: str
    ) -> tuple[Any, str] | None:
        """The value and who set it last, or None. Which scope wins, and the defaults,
        are the caller's (bot.core.settings declares them)."""
        row = await self._db.fetch_one(
            "SELECT value, updated_by FROM scope_settings"
            " WHERE scope = ? AND scope_key = ? AND name = ?",
            (scope, scope_key, name),
        )
        return (json.loads(row["value"]), row["updated_by"]) if row else None

    async def get_many_with_author(
        self, name: str, places: list[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[Any, str]]:
        """`get_with_author` for several (scope, scope_key) places in one read: a
        setting resolved for a channel needs the channel's and the server's."""
        if not places:
            return {}
        where, params = any_place(places)
        rows = await self._db.fetch_all(
            "SELECT scope, scope_key, value, updated_by FROM scope_settings"
            f" WHERE name = ? AND {where}",
            [name, *params],
        )
        return {
            (row["scope"], row["scope_key"]): (json.loads(row["value"]), row["updated_by"])
            for row in rows
        }

    async def set(
        self,
        scope: str,
        scope_key: str,
        name: str,
        value: Any,
        *,
        actor: str,
        now: datetime,
        tx: Connection,
    ) -> None:
        if scope not in SETTING_SCOPES:
            raise ValueError(f"settings apply to {', '.join(SETTING_SCOPES)}, not {scope!r}")
        await tx.execute(
            "INSERT INTO scope_settings (scope, scope_key, name, value, updated_at, updated_by)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, scope_key, name) DO UPDATE SET"
            " value = excluded.value, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by",
            (scope, scope_key, name, json.dumps(value), timestamp(now), actor),
        )

    async def clear(self, scope: str, scope_key: str, name: str, *, tx: Connection) -> None:
        await tx.execute(
            "DELETE FROM scope_settings WHERE scope = ? AND scope_key = ? AND name = ?",
            (scope, scope_key, name),
        )
