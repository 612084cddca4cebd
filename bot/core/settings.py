"""Settings that admins change per server or per channel, each declared once with the
scopes it may be set in, its default and its type (Red-DiscordBot's
`Config.register_*` idea). A misspelt name raises instead of quietly reading a default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.config import Settings
from storage import Connection, ScopeSettings


class UnknownSetting(KeyError):
    """A setting name nobody declared: a bug in the caller, never a user's input."""


@dataclass(frozen=True)
class Declared:
    name: str
    kind: type
    default: Callable[[Settings], Any]
    scopes: tuple[str, ...] = ("guild", "channel")


DECLARED: dict[str, Declared] = {
    d.name: d
    for d in (
        Declared("provider", str, lambda cfg: cfg.providers.default_provider),
        Declared("safety", bool, lambda cfg: cfg.safety.enabled_by_default),
        Declared("reply_without_mention", bool, lambda cfg: False),
        # A server's language for what it shows everyone (captions): "" is none chosen.
        Declared("language", str, lambda cfg: "", scopes=("guild",)),
    )
}


@dataclass(frozen=True)
class Resolved:
    value: Any
    set_by: str | None  # None: the configured default
    scope: str | None


class ScopedSettings:
    def __init__(self, rows: ScopeSettings, config: Settings) -> None:
        self._rows = rows
        self._config = config

    @staticmethod
    def declared(name: str) -> Declared:
        try:
            return DECLARED[name]
        except KeyError:
            raise UnknownSetting(name) from None

    async def get(self, name: str, *, channel_key: str | None, guild_key: str | None) -> Any:
        return (await self.resolve(name, channel_key=channel_key, guild_key=guild_key)).value

    async def resolve(
        self, name: str, *, channel_key: str | None, guild_key: str | None
    ) -> Resolved:
        """The channel's value, else the server's, else the configured default."""
        declared = self.declared(name)
        places = [
            (scope, key)
            for scope, key in (("channel", channel_key), ("guild", guild_key))
            if key is not None and scope in declared.scopes
        ]
        found = await self._rows.get_many_with_author(name, places)
        for place in places:
            value = found.get(place)
            if value is not None and isinstance(value[0], declared.kind):
                return Resolved(value[0], value[1], place[0])
        return Resolved(declared.default(self._config), None, None)

    async def set(
        self,
        name: str,
        scope: str,
        key: str,
        value: Any,
        *,
        actor: str,
        now: datetime,
        tx: Connection,
    ) -> None:
        declared = self.declared(name)
        if scope not in declared.scopes:
            raise ValueError(f"{name} cannot be set per {scope}")
        if not isinstance(value, declared.kind):
            raise TypeError(f"{name} takes a {declared.kind.__name__}, not {value!r}")
        await self._rows.set(scope, key, name, value, actor=actor, now=now, tx=tx)
