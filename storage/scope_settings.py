"""Per-guild/chat and per-channel settings: a JSON value per name.

Modelled on Red-DiscordBot's scoped Config: a channel's value wins over its guild's,
and a name set nowhere falls back to the caller's configured default.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.db import Connection, Database, timestamp

SETTING_SCOPES = ("guild", "channel")


class ScopeSettings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, scope: str, scope_key: str, name: str) -> Any | None:
        row = await self._db.fetch_one(
            "SELECT value FROM scope_settings WHERE scope = ? AND scope_key = ? AND name = ?",
            (scope, scope_key, name),
        )
        return json.loads(row["value"]) if row else None

    async def get_with_author(
        self, scope: str, scope_key: str, name: str
    ) -> tuple[Any, str] | None:
        """The value and who set it last, or None."""
        row = await self._db.fetch_one(
            "SELECT value, updated_by FROM scope_settings"
            " WHERE scope = ? AND scope_key = ? AND name = ?",
            (scope, scope_key, name),
        )
        return (json.loads(row["value"]), row["updated_by"]) if row else None

    async def resolve(
        self, name: str, *, channel_key: str | None, guild_key: str | None, default: Any
    ) -> Any:
        """The channel's value, else the guild's, else `default`."""
        for scope, key in (("channel", channel_key), ("guild", guild_key)):
            if key is not None:
                value = await self.get(scope, key, name)
                if value is not None:
                    return value
        return default

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
