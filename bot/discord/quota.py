"""/quota, /jobs and /language: a user's own balance, recent jobs and the language the
bot answers them in (also in DMs)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import messages
from bot.discord.replies import requester_of
from bot.discord.shared import parts_of
from bot.i18n import LANGUAGE_NAMES, N_

AUTO = "auto"
# Each language named in itself, so a user finds theirs whatever the client shows.
LANGUAGES = [
    app_commands.Choice(name=N_("My Discord's language"), value=AUTO),
    *(app_commands.Choice(name=name, value=locale) for locale, name in LANGUAGE_NAMES.items()),
]


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

    @app_commands.command(name="language", description=N_("The language I answer you in."))
    @app_commands.describe(language=N_("One of these, or your Discord's language"))
    @app_commands.choices(language=LANGUAGES)
    async def language(
        self, interaction: discord.Interaction, language: app_commands.Choice[str]
    ) -> None:
        who = requester_of(interaction)
        choice = None if language.value == AUTO else language.value
        said = await self.service.set_language(who, choice)
        await interaction.response.send_message(said, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(QuotaCog(bot))
