"""/quota and /jobs: a user's own balance and recent jobs (also in DMs)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import messages
from bot.discord.replies import requester_of
from bot.discord.shared import parts_of
from bot.i18n import N_


class QuotaCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.service = parts_of(bot).service

    @app_commands.command(name="quota", description=N_("Your credits left and when they reset."))
    async def quota(self, interaction: discord.Interaction) -> None:
        who = requester_of(interaction)
        summary = await self.service.quota_summary(who)
        await interaction.response.send_message(summary, ephemeral=True)

    @app_commands.command(name="jobs", description=N_("Your recent videos."))
    async def jobs(self, interaction: discord.Interaction) -> None:
        who = requester_of(interaction)
        history = await self.service.history(who.user_key, limit=10)
        await interaction.response.send_message(messages.job_history(history), ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(QuotaCog(bot))
