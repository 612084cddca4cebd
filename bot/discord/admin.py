"""/fpadmin: quotas, settings and jobs, for admins in a server.

Only parsing and rendering live here: every decision (who may do what, where) and
every change with its audit row is the core's admin API (`bot.core.admin`). The
`default_permissions` below only hides the group from members by default.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import ProviderName
from bot.core import messages
from bot.core.api import (
    AdminRefused,
    ChannelRef,
    Denied,
    QuotaTarget,
    credits_to_mc,
    subject_key,
)
from bot.discord.replies import age_restricted, only_mentioning, requester_of
from bot.discord.shared import offer_only, parts_of
from bot.i18n import LANGUAGE_NAMES, N_

Scope = Literal["server", "bot"]
SERVER_LANGUAGES = [
    app_commands.Choice(name=N_("None: each requester's"), value="none"),  # not "": Discord
    *(app_commands.Choice(name=name, value=locale) for locale, name in LANGUAGE_NAMES.items()),
]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AdminCog(commands.GroupCog, group_name="fpadmin", group_description=N_("Bot admin tools")):
    quota = app_commands.Group(name="quota", description=N_("Quotas of members, roles, the server"))
    job = app_commands.Group(name="job", description=N_("Look at or stop a job of this server"))

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.service = parts_of(bot).service
        self.admin = self.service.admin
        offer_only(self.provider, "name", self.service.provider_names())
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            await self._reply(interaction, messages.GUILD_ONLY)
            return False
        try:
            self.admin.require_admin(requester_of(interaction))
        except Denied as exc:
            await self._reply(interaction, exc.message)
            return False
        return True

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=only_mentioning()
        )

    async def _run(self, interaction: discord.Interaction, operation: Awaitable[str]) -> None:
        """Every subcommand: the core's answer, or its refusal, as one private line."""
        try:
            text = await operation
        except AdminRefused as exc:
            text = exc.message
        await self._reply(interaction, text)

    @staticmethod
    def _target(
        interaction: discord.Interaction,
        user: discord.abc.User | None,
        role: discord.Role | None,
        scope: Scope,
    ) -> QuotaTarget:
        bot_wide = scope == "bot"
        if user is not None:
            roles = tuple(subject_key("discord", r.id) for r in getattr(user, "roles", ()))
            return QuotaTarget("user", subject_key("discord", user.id), bot_wide, role_keys=roles)
        if role is not None:
            return QuotaTarget("role", subject_key("discord", role.id), bot_wide)
        return QuotaTarget("guild", bot_wide=bot_wide)

    @staticmethod
    def _channel(channel: discord.abc.GuildChannel | None) -> ChannelRef | None:
        if channel is None:
            return None
        return ChannelRef(
            subject_key("discord", channel.id),
            subject_key("discord", channel.guild.id),
            age_restricted(channel),
        )

    # --- quota ------------------------------------------------------------------------

    @quota.command(name="show", description=N_("Limits of a member or role here, or the budget"))
    @app_commands.describe(scope=N_("server: limits in this server; bot: bot-wide (operators)"))
    async def quota_show(
        self,
        interaction: discord.Interaction,
        user: discord.Member | None = None,
        role: discord.Role | None = None,
        scope: Scope = "server",
    ) -> None:
        target = self._target(interaction, user, role, scope)
        await self._run(interaction, self.admin.quota_show(requester_of(interaction), target))

    @quota.command(name="set", description=N_("Limit a member's or role's credits or jobs here"))
    @app_commands.describe(scope=N_("server: limits in this server; bot: bot-wide (operators)"))
    async def quota_set(
        self,
        interaction: discord.Interaction,
        daily: app_commands.Range[float, 0, 1_000_000] | None = None,
        monthly: app_commands.Range[float, 0, 10_000_000] | None = None,
        concurrent: app_commands.Range[int, 1, 100] | None = None,
        user: discord.Member | None = None,
        role: discord.Role | None = None,
        scope: Scope = "server",
        clear: bool = False,
    ) -> None:
        target = self._target(interaction, user, role, scope)
        await self._run(
            interaction,
            self.admin.quota_set(
                requester_of(interaction),
                target,
                daily_mc=credits_to_mc(round(daily, 3)) if daily is not None else None,
                monthly_mc=credits_to_mc(round(monthly, 3)) if monthly is not None else None,
                concurrent=concurrent,
                clear=clear,
            ),
        )

    @quota.command(name="grant", description=N_("Extra credits for today (and this month)"))
    @app_commands.describe(scope=N_("server: in this server; bot: bot-wide (operators)"))
    async def quota_grant(
        self,
        interaction: discord.Interaction,
        credits: app_commands.Range[float, 0.001, 1_000_000.0],
        user: discord.Member | None = None,
        scope: Scope = "server",
    ) -> None:
        target = self._target(interaction, user, None, scope)
        amount = credits_to_mc(round(credits, 3))
        await self._run(
            interaction, self.admin.quota_grant(requester_of(interaction), target, amount)
        )

    @quota.command(name="reset", description=N_("Forget what was used in the current window"))
    @app_commands.describe(scope=N_("server: in this server; bot: bot-wide (operators)"))
    async def quota_reset(
        self,
        interaction: discord.Interaction,
        user: discord.Member | None = None,
        period: Literal["day", "month", "all"] = "all",
        scope: Scope = "server",
    ) -> None:
        target = self._target(interaction, user, None, scope)
        periods = ["day", "month"] if period == "all" else [period]
        await self._run(
            interaction, self.admin.quota_reset(requester_of(interaction), target, periods)
        )

    # --- settings ----------------------------------------------------------------------

    @app_commands.command(
        name="safety", description=N_("Switch the safety checker for the server or one channel")
    )
    async def safety(
        self,
        interaction: discord.Interaction,
        enabled: bool,
        channel: discord.TextChannel | None = None,
    ) -> None:
        await self._setting(interaction, "safety", enabled, channel)

    @app_commands.command(
        name="replies", description=N_("Answer replies to images without a mention, in one channel")
    )
    async def replies(
        self,
        interaction: discord.Interaction,
        enabled: bool,
        channel: discord.TextChannel | None = None,
    ) -> None:
        here = interaction.channel
        await self._setting(
            interaction,
            "reply_without_mention",
            enabled,
            channel or (here if isinstance(here, discord.abc.GuildChannel) else None),
        )

    @app_commands.command(name="language", description=N_("The language of this server's captions"))
    @app_commands.describe(
        language=N_("For those who chose none with /language; none: each requester's")
    )
    @app_commands.choices(language=SERVER_LANGUAGES)
    async def language(
        self, interaction: discord.Interaction, language: app_commands.Choice[str]
    ) -> None:
        chosen = "" if language.value == "none" else language.value
        await self._setting(interaction, "language", chosen, None)

    @app_commands.command(name="provider", description=N_("The default provider here"))
    async def provider(
        self,
        interaction: discord.Interaction,
        name: ProviderName,
        channel: discord.TextChannel | None = None,
    ) -> None:
        await self._setting(interaction, "provider", name, channel)

    async def _setting(
        self,
        interaction: discord.Interaction,
        name: str,
        value: object,
        channel: discord.abc.GuildChannel | None,
    ) -> None:
        await self._run(
            interaction,
            self.admin.set_setting(requester_of(interaction), name, value, self._channel(channel)),
        )

    # --- jobs ---------------------------------------------------------------------------

    @job.command(name="info", description=N_("The full record of a job of this server"))
    async def job_info(self, interaction: discord.Interaction, job_id: str) -> None:
        await self._run(interaction, self.admin.job_info(requester_of(interaction), job_id))

    @job.command(name="cancel", description=N_("Stop a job of this server and refund it"))
    async def job_cancel(self, interaction: discord.Interaction, job_id: str) -> None:
        await self._run(interaction, self.admin.job_cancel(requester_of(interaction), job_id))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(AdminCog(bot))
