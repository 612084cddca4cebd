"""The authority matrix, through the real discord.py against the loopback Discord:
six kinds of actor x every admin operation, aimed at their own server, at another
server and bot-wide. A refusal must change nothing (limits, usage, ledger, settings,
jobs, audit); an allowed change must land where it was aimed and nowhere else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.discord_world import DiscordWorld, discord_world
from tests.support.fakes.discord import (
    ADMIN_ROLE_ID,
    GUILD_ID,
    NSFW_CHANNEL_ID,
    OTHER_CHANNEL_ID,
    OTHER_GUILD_ID,
)
from tests.support.store_state import snapshot

MANAGE_GUILD = str(1 << 5)
OPERATOR = "700000000000000042"
VICTIM = "700000000000000077"  # the member whose limits the operations name
JOB_OWNER = "700000000000000001"

# Who acts, and from where (a channel of server A, or of server B).
ACTORS: dict[str, dict] = {
    "operator": {"user_id": OPERATOR},
    "admin here": {"user_id": "700000000000000010", "permissions": MANAGE_GUILD},
    "admin of another server": {
        "user_id": "700000000000000020",
        "permissions": MANAGE_GUILD,
        "channel_id": OTHER_CHANNEL_ID,
    },
    "admin-role member": {"user_id": "700000000000000030", "roles": [ADMIN_ROLE_ID]},
    "member": {"user_id": "700000000000000040"},
    "stranger": {"user_id": "700000000000000050", "channel_id": OTHER_CHANNEL_ID},
}


@dataclass(frozen=True)
class Op:
    name: str
    group: str | None  # "quota", "job" or None for a top-level subcommand
    sub: str
    options: Callable[[str, str], list[dict]]  # (actor's guild, job id) -> options
    resolved: Callable[[DiscordWorld, str], dict] = lambda world, guild: {}
    audited: bool = True


def _user(value: str = VICTIM) -> dict:
    return {"name": "user", "type": 6, "value": value}


def _member(world: DiscordWorld, guild: str) -> dict:
    return world.discord.resolved_member(VICTIM)


OPS = [
    Op(
        "member cap in own server",
        "quota",
        "set",
        lambda g, j: [{"name": "daily", "type": 10, "value": 1_000_000}, _user()],
        _member,
    ),
    Op(
        "@everyone cap in own server",
        "quota",
        "set",
        lambda g, j: [
            {"name": "daily", "type": 10, "value": 1_000_000},
            {"name": "role", "type": 8, "value": g},
        ],
        lambda world, g: world.discord.resolved_role(g),
    ),
    Op(
        "grant to a member in own server",
        "quota",
        "grant",
        lambda g, j: [{"name": "credits", "type": 10, "value": 5000}, _user()],
        _member,
    ),
    Op("reset a member in own server", "quota", "reset", lambda g, j: [_user()], _member),
    Op(
        "show a member in own server",
        "quota",
        "show",
        lambda g, j: [_user()],
        _member,
        audited=False,
    ),
    Op(
        "replies without a mention in own channel",
        None,
        "replies",
        lambda g, j: [{"name": "enabled", "type": 5, "value": True}],
    ),
    Op(
        "provider of own server",
        None,
        "provider",
        lambda g, j: [{"name": "name", "type": 3, "value": "fal"}],
    ),
    Op(
        "caption language of own server",
        None,
        "language",
        lambda g, j: [{"name": "language", "type": 3, "value": "ja"}],
    ),
    Op(
        "server budget",
        "quota",
        "set",
        lambda g, j: [{"name": "daily", "type": 10, "value": 100_000}],
    ),
    Op(
        "grant to the server budget",
        "quota",
        "grant",
        lambda g, j: [{"name": "credits", "type": 10, "value": 100}],
    ),
    Op(
        "bot-wide cap",
        "quota",
        "set",
        lambda g, j: [
            {"name": "daily", "type": 10, "value": 1_000_000},
            _user(),
            {"name": "scope", "type": 3, "value": "bot"},
        ],
        _member,
    ),
    Op(
        "bot-wide grant",
        "quota",
        "grant",
        lambda g, j: [
            {"name": "credits", "type": 10, "value": 5000},
            _user(),
            {"name": "scope", "type": 3, "value": "bot"},
        ],
        _member,
    ),
    Op(
        "show bot-wide limits",
        "quota",
        "show",
        lambda g, j: [_user(), {"name": "scope", "type": 3, "value": "bot"}],
        _member,
        audited=False,
    ),
    Op(
        "safety off for the server",
        None,
        "safety",
        lambda g, j: [{"name": "enabled", "type": 5, "value": False}],
    ),
    Op(
        "safety off in server A's NSFW channel",
        None,
        "safety",
        lambda g, j: [
            {"name": "enabled", "type": 5, "value": False},
            {"name": "channel", "type": 7, "value": NSFW_CHANNEL_ID},
        ],
        lambda world, g: world.discord.resolved_channel(NSFW_CHANNEL_ID),
    ),
    Op(
        "info on a job of server A",
        "job",
        "info",
        lambda g, j: [{"name": "job_id", "type": 3, "value": j}],
        audited=False,
    ),
    Op(
        "cancel a job of server A",
        "job",
        "cancel",
        lambda g, j: [{"name": "job_id", "type": 3, "value": j}],
    ),
]

OWN_SERVER = {
    "member cap in own server",
    "@everyone cap in own server",
    "grant to a member in own server",
    "reset a member in own server",
    "show a member in own server",
    "replies without a mention in own channel",
    "provider of own server",
    "caption language of own server",
}
SERVER_A_JOBS = {"info on a job of server A", "cancel a job of server A"}
ALLOWED = {
    "operator": {op.name for op in OPS},
    "admin here": OWN_SERVER | SERVER_A_JOBS,
    "admin-role member": OWN_SERVER | SERVER_A_JOBS,
    "admin of another server": OWN_SERVER,
    "member": set(),
    "stranger": set(),
}
REFUSALS = (
    "Only admins of this server or group, or the bot's operators, can do that.",
    "Only the bot's operators can",
    "Admins act only inside their own server.",
    "I do not know that job any more.",
    "I could not read the options of that command.",  # a channel of another server
)


def command_options(op: Op, guild: str, job_id: str) -> list[dict]:
    options = op.options(guild, job_id)
    sub = {"name": op.sub, "type": 1, "options": options}
    return [sub] if op.group is None else [{"name": op.group, "type": 2, "options": [sub]}]


@pytest.mark.parametrize("actor", list(ACTORS))
async def test_authority_matrix(tmp_path: Path, actor: str) -> None:
    who = ACTORS[actor]
    guild = OTHER_GUILD_ID if who.get("channel_id") == OTHER_CHANNEL_ID else GUILD_ID
    admins = {"discord_user_ids": [int(OPERATOR)], "discord_role_ids": [int(ADMIN_ROLE_ID)]}
    async with discord_world(tmp_path, fake_polls=(50, 50), admins=admins) as world:
        await world.animate(user_id=JOB_OWNER)  # a job of server A, running
        await world.wait_for(lambda s: s.kind == "edit" and "costs" in s.payload["content"])
        job_id = (await world.service.history(f"discord:{JOB_OWNER}"))[0].id
        # Keep it in flight for the whole matrix: no worker moves it on meanwhile (the
        # fake provider's virtual clock would otherwise run it into its deadline).
        await world.service.stop()

        for op in OPS:
            before = await snapshot(world.store)
            payload = await world.command(
                "fpadmin",
                command_options(op, guild, job_id),
                resolved=op.resolved(world, guild),
                **who,
            )
            reply = (await world.callback_for(payload)).payload["data"]["content"]
            after = await snapshot(world.store)
            if op.name in ALLOWED[actor]:
                assert not reply.startswith(REFUSALS), (op.name, reply)
                if op.audited:
                    assert len(after["audit"]) == len(before["audit"]) + 1, (op.name, reply)
                    assert after["audit"][-1][0] == f"discord:{who['user_id']}"
                elif op.group == "job":
                    assert job_id in reply
                else:
                    assert after == before, op.name
            else:
                assert reply.startswith(REFUSALS), (op.name, reply)
                assert after == before, op.name

        # Whatever an admin of one server did, the victim's caps in server A are the
        # operators' bot-wide ones unless an admin *of A* (or an operator) set them.
        caps = await world.service.quotas.caps_for(f"discord:{VICTIM}", f"discord:{GUILD_ID}")
        lifted = actor in ("operator",)
        assert (caps.user_daily_mc == 1_000_000_000) is lifted
        if guild == OTHER_GUILD_ID:
            assert caps.member_daily_mc is None


def test_the_matrix_covers_every_admin_subcommand() -> None:
    from bot.discord.admin import AdminCog

    subcommands = set()
    for command in AdminCog.__cog_app_commands__:
        inner = command.walk_commands() if hasattr(command, "walk_commands") else [command]
        subcommands |= {c.qualified_name for c in inner}
    covered = {f"{op.group} {op.sub}" if op.group else op.sub for op in OPS}
    assert subcommands == covered
