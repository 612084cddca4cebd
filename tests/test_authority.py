"""The core's authority model and admin API, without a chat platform: standings,
member caps on top of the bot-wide ones, declared settings, follow-ups."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.admin import AdminRefused, ChannelRef, QuotaTarget
from bot.core.api import Accepted, AnimateRequest, FollowUp, Refused, Requester
from bot.core.authority import Authority, Standing
from bot.core.settings import UnknownSetting
from tests.support.images import image_bytes
from tests.support.service_world import animate, requester, service_world

OPERATOR = Requester("discord", "discord:42")


def test_standings() -> None:
    authority = Authority(
        Settings(admins={"discord_user_ids": [42], "discord_role_ids": [7]}, _env_file=None)
    )
    member = requester(1)
    assert authority.standing(member) is Standing.USER
    assert authority.standing(replace(member, platform_admin=True)) is Standing.GUILD_ADMIN
    assert authority.standing(replace(member, role_keys=("discord:7",))) is Standing.GUILD_ADMIN
    # Platform admin rights mean nothing outside a server (a DM has none).
    dm = replace(member, guild_key=None, platform_admin=True)
    assert authority.standing(dm) is Standing.USER
    assert authority.standing(OPERATOR) is Standing.OPERATOR
    assert authority.standing(Requester("cli", "cli:alice")) is Standing.OPERATOR


async def test_member_caps_hold_in_their_server_only(tmp_path: Path) -> None:
    overrides = {"admins": {"discord_user_ids": [42]}}
    async with service_world(tmp_path, settings_overrides=overrides) as world:
        admin = replace(requester(9), platform_admin=True)
        member = QuotaTarget("user", "discord:1")
        await world.service.admin.quota_set(admin, member, daily_mc=5000)
        refused = await world.service.submit(animate(num_frames=180))  # 6 credits
        assert isinstance(refused, Refused)
        assert refused.message.startswith(
            "Your daily allowance in this server has 5 credits left; this job costs 6."
        )
        elsewhere = AnimateRequest(requester(1, guild=501), "a fox", image_bytes(), None, {})
        assert isinstance(await world.service.submit(elsewhere), Accepted)
        # A grant from the server's admin raises the member's room there...
        await world.service.admin.quota_grant(admin, member, 1000)
        assert isinstance(await world.service.submit(animate(num_frames=180)), Accepted)
        # ...but never above the operators' bot-wide cap (60 credits a day by default).
        await world.service.join()
        await world.service.admin.quota_set(admin, member, daily_mc=10**9)
        too_much = await world.service.submit(animate(num_frames=1800, resolution="720p"))
        assert too_much.message.startswith("Your daily quota has")


async def test_a_misspelt_setting_fails_loudly(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        with pytest.raises(UnknownSetting):
            await world.service.scoped.get("safty", channel_key=None, guild_key=None)
        with pytest.raises(UnknownSetting):
            await world.service.admin.set_setting(Requester("cli", "cli:op"), "provder", "fal")


async def test_only_enabled_providers_can_be_chosen(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        admin = replace(requester(9), platform_admin=True)
        with pytest.raises(AdminRefused, match="not available"):
            await world.service.admin.set_setting(admin, "provider", "wavespeed")
        text = await world.service.admin.set_setting(admin, "provider", "fal")
        assert text == "Default provider for this server set to fal."


async def test_a_channel_of_another_server_is_not_an_admins_to_set(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        admin = replace(requester(9), platform_admin=True)
        foreign = ChannelRef("discord:c777", "discord:501", nsfw=False)
        with pytest.raises(AdminRefused, match="own server"):
            await world.service.admin.set_setting(admin, "provider", "fal", foreign)
        assert await world.store.audit.recent() == []


async def test_retry_is_for_the_owner_or_the_channel_it_was_posted_in(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        accepted = await world.service.submit(animate())
        await world.service.join()
        in_another_channel = replace(requester(2), channel_key="discord:c901", channel_id="901")
        refused = await world.service.follow_up(
            accepted.job_id, in_another_channel, kind=FollowUp.RETRY, reply_ref={}
        )
        assert isinstance(refused, Refused) and refused.reason == "unknown_job"
        same_channel = await world.service.follow_up(
            accepted.job_id, requester(2), kind=FollowUp.RETRY, reply_ref={}
        )
        assert isinstance(same_channel, Accepted)
        job = await world.store.jobs.get(same_channel.job_id)
        assert job.user_key == "discord:2"  # charged to the clicker
