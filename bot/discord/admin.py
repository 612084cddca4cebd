"""/fpadmin: quotas, safety, provider and jobs, for bot admins in a guild.

The admin check runs in code for every subcommand (interaction_check); the
`default_permissions` below only hides the group from members by default.
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import messages
from bot.core.quotas import LimitOverride, credits_to_mc, format_credits, subject_key
from bot.discord.checks import is_admin
from bot.discord.replies import requester_of


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AdminCog(commands.GroupCog, group_name="fpadmin", group_description="Bot admin tools"):
    quota = app_commands.Group(name="quota", description="Quotas of users, roles, the server")
    job = app_commands.Group(name="job", description="Look at or stop any job")

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.service = bot.service
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            await interaction.response.send_message(messages.GUILD_ONLY, ephemeral=True)
            return False
        if not is_admin(interaction, self.bot.settings):
            await interaction.response.send_message(messages.ADMIN_ONLY, ephemeral=True)
            return False
        return True

    def _actor(self, interaction: discord.Interaction) -> str:
        return subject_key("discord", interaction.user.id)

    @staticmethod
    def _target(
        interaction: discord.Interaction, user: discord.abc.User | None, role: discord.Role | None
    ) -> tuple[str, str]:
        if user is not None:
            return "user", subject_key("discord", user.id)
        if role is not None:
            return "role", subject_key("discord", role.id)
        return "guild", subject_key("discord", interaction.guild_id)

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True)

    # --- quota ------------------------------------------------------------------------

    @quota.command(
        name="show", description="Balance of a member, a role's limits, or the server's budget"
    )
    async def quota_show(
        self,
        interaction: discord.Interaction,
        user: discord.Member | None = None,
        role: discord.Role | None = None,
    ) -> None:
        scope, key = self._target(interaction, user, role)
        now = self.service.clock()
        if scope == "user":
            guild_key = subject_key("discord", interaction.guild_id)
            roles = tuple(subject_key("discord", r.id) for r in getattr(user, "roles", ()))
            quota = await self.service.quotas.user_quota(key, guild_key, roles)
            await self._reply(interaction, messages.user_quota_summary(quota, now))
            return
        override = await self.service.store.limits.get(scope, key)
        if scope == "role":
            text = messages.limits_text(override) if override else messages.NO_OVERRIDES
        else:
            window = (await self.service.quotas.guild_quota(key)).daily
            text = messages.guild_budget(window, now)
        await self._reply(interaction, text)

    @quota.command(name="set", description="Override daily/monthly credits or jobs at once")
    async def quota_set(
        self,
        interaction: discord.Interaction,
        daily: app_commands.Range[float, 0, 1_000_000] | None = None,
        monthly: app_commands.Range[float, 0, 10_000_000] | None = None,
        concurrent: app_commands.Range[int, 1, 100] | None = None,
        user: discord.Member | None = None,
        role: discord.Role | None = None,
    ) -> None:
        scope, key = self._target(interaction, user, role)
        old = await self.service.store.limits.get(scope, key) or LimitOverride()
        override = LimitOverride(
            credits_to_mc(daily) if daily is not None else old.daily_mc,
            credits_to_mc(monthly) if monthly is not None else old.monthly_mc,
            concurrent if concurrent is not None else old.concurrent_jobs,
        )
        try:
            await self.service.quotas.set_limits(
                scope, key, override, actor=self._actor(interaction)
            )
        except ValueError as exc:
            await self._reply(interaction, f"{exc}.")
            return
        await self._reply(interaction, messages.limits_updated(scope, override))

    @quota.command(name="grant", description="Extra credits for today (and this month)")
    async def quota_grant(
        self,
        interaction: discord.Interaction,
        credits: app_commands.Range[float, 0.001, 1_000_000.0],
        user: discord.Member | None = None,
    ) -> None:
        scope, key = self._target(interaction, user, None)
        amount = credits_to_mc(round(credits, 3))
        await self.service.quotas.grant(scope, key, amount, actor=self._actor(interaction))
        await self._reply(interaction, f"Granted {format_credits(amount)} credits.")

    @quota.command(name="reset", description="Forget what was used in the current window")
    async def quota_reset(
        self,
        interaction: discord.Interaction,
        user: discord.Member | None = None,
        period: Literal["day", "month", "all"] = "all",
    ) -> None:
        scope, key = self._target(interaction, user, None)
        periods = ["day", "month"] if period == "all" else [period]
        await self.service.quotas.reset(scope, key, periods, actor=self._actor(interaction))
        await self._reply(interaction, f"Usage reset ({period}).")

    # --- settings ----------------------------------------------------------------------

    @app_commands.command(
        name="safety", description="Switch the safety checker for the server or one channel"
    )
    async def safety(
        self,
        interaction: discord.Interaction,
        enabled: bool,
        channel: discord.TextChannel | None = None,
    ) -> None:
        scope, key = self._scope_of(interaction, channel)
        await self._set(interaction, scope, key, "safety", enabled)
        await self._reply(interaction, messages.safety_set(enabled, channel is not None))

    @app_commands.command(
        name="replies", description="Answer replies to images without a mention, in one channel"
    )
    async def replies(
        self,
        interaction: discord.Interaction,
        enabled: bool,
        channel: discord.TextChannel | None = None,
    ) -> None:
        key = subject_key("discord", channel.id if channel else interaction.channel_id)
        await self._set(interaction, "channel", key, "reply_without_mention", enabled)
        await self._reply(interaction, messages.replies_set(enabled))

    @app_commands.command(name="provider", description="The default provider here")
    async def provider(
        self,
        interaction: discord.Interaction,
        name: Literal["fal", "wavespeed", "piapi", "lannetech"],
        channel: discord.TextChannel | None = None,
    ) -> None:
        scope, key = self._scope_of(interaction, channel)
        await self._set(interaction, scope, key, "provider", name)
        await self._reply(interaction, f"Default provider set to {name}.")

    def _scope_of(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None
    ) -> tuple[str, str]:
        if channel is not None:
            return "channel", subject_key("discord", channel.id)
        return "guild", subject_key("discord", interaction.guild_id)

    async def _set(
        self, interaction: discord.Interaction, scope: str, key: str, name: str, value: object
    ) -> None:
        store, actor, now = self.service.store, self._actor(interaction), self.service.clock()
        async with store.db.transaction() as tx:
            await store.settings.set(scope, key, name, value, actor=actor, now=now, tx=tx)
            await store.audit.record(
                f"setting.{name}",
                actor=actor,
                target=f"{scope}:{key}",
                detail={"value": value},
                now=now,
                tx=tx,
            )

    # --- jobs ---------------------------------------------------------------------------

    @job.command(name="info", description="The full record of a job")
    async def job_info(self, interaction: discord.Interaction, job_id: str) -> None:
        found = await self.service.record(job_id.strip())
        if found is None:
            await self._reply(interaction, messages.UNKNOWN_JOB)
            return
        await self._reply(interaction, messages.job_record(*found))

    @job.command(name="cancel", description="Stop any job and refund it")
    async def job_cancel(self, interaction: discord.Interaction, job_id: str) -> None:
        cancelled = await self.service.cancel(
            job_id.strip(), by=requester_of(interaction).user_key, is_admin=True
        )
        await self._reply(interaction, messages.CANCELLED if cancelled else messages.CANNOT_CANCEL)
