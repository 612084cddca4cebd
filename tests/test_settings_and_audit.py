"""Scoped settings (channel over guild over default) and the audit log."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.core.settings import ScopedSettings
from storage import Store
from tests.conftest import FakeClock


async def test_channel_setting_wins_over_guild_over_default(store: Store, clock) -> None:
    settings = store.settings
    declared = ScopedSettings(settings, Settings(_env_file=None))  # safety: on by default

    async def resolve(channel: str | None = "discord:c1") -> object:
        return await declared.get("safety", channel_key=channel, guild_key="discord:g1")

    assert await resolve() is True
    async with store.db.transaction() as tx:
        await settings.set("guild", "discord:g1", "safety", False, actor="a", now=clock(), tx=tx)
    assert await resolve() is False
    async with store.db.transaction() as tx:
        await settings.set("channel", "discord:c1", "safety", True, actor="a", now=clock(), tx=tx)
    assert await resolve() is True
    assert await resolve(channel="discord:c2") is False  # another channel: the guild's
    async with store.db.transaction() as tx:
        await settings.clear("channel", "discord:c1", "safety", tx=tx)
    assert await resolve() is False


async def test_settings_hold_json_values_and_overwrite(store: Store, clock) -> None:
    async with store.db.transaction() as tx:
        await store.settings.set(
            "guild", "telegram:-100", "provider", {"name": "fal"}, actor="a", now=clock(), tx=tx
        )
        await store.settings.set(
            "guild", "telegram:-100", "provider", {"name": "piapi"}, actor="b", now=clock(), tx=tx
        )
    assert await store.settings.get("guild", "telegram:-100", "provider") == {"name": "piapi"}


async def test_audit_log_newest_first_and_by_target(store: Store, clock: FakeClock) -> None:
    for n, target in enumerate(["user:discord:1", "job:abc", "user:discord:1"]):
        async with store.db.transaction() as tx:
            await store.audit.record(
                "safety.block" if target.startswith("job") else "quota.set",
                actor=f"discord:{n}",
                target=target,
                detail={"n": n},
                now=clock(),
                tx=tx,
            )
        clock.advance(minutes=1)
    entries = await store.audit.recent(target="user:discord:1")
    assert [e.detail["n"] for e in entries] == [2, 0]
    assert [e.action for e in await store.audit.recent(limit=1)] == ["quota.set"]


async def test_an_error_rolls_the_whole_transaction_back(store: Store, clock) -> None:
    async def add(action: str, tx) -> None:
        await store.audit.record(action, actor="a", target=None, detail={}, now=clock(), tx=tx)

    with pytest.raises(Exception, match=r"(?i)check constraint"):  # either backend's words
        async with store.db.transaction() as tx:
            await add("lost", tx)
            await tx.execute(
                "INSERT INTO quota_usage (scope, scope_key, period, period_start, used)"
                " VALUES ('user', 'u', 'day', 'd', -5)"
            )
    assert await store.audit.recent() == []
    async with store.db.transaction() as tx:  # the writer is free and usable again
        await add("kept", tx)
    assert [e.action for e in await store.audit.recent()] == ["kept"]
