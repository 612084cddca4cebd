"""The bot: one Bot subclass whose setup_hook loads a cog per feature and syncs the
command tree; REST and gateway endpoints come from configuration (proxies, tests)."""

from __future__ import annotations

import logging

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.core.service import JobService

log = logging.getLogger(__name__)


GENERIC_ERROR = "Something went wrong on my side. Please try again in a moment."


def configure_endpoints(settings: Settings) -> None:
    """discord.py reads these class attributes at call time; a REST proxy such as
    nirn-proxy, or the tests' loopback fake, takes Discord's place."""
    discord.http.Route.BASE = str(settings.discord.api_base_url).rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(settings.discord.gateway_url))


class FramepackBot(commands.Bot):
    def __init__(self, service: JobService, settings: Settings) -> None:
        intents = discord.Intents.default()
        intents.message_content = settings.discord.message_content_intent
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            application_id=settings.discord.application_id,
        )
        self.service = service
        self.settings = settings
        if not intents.message_content:
            log.warning(
                "the message content intent is off: replying to an image with a "
                "prompt works only in DMs and when the bot is mentioned"
            )

    async def setup_hook(self) -> None:
        from bot.discord.admin import AdminCog
        from bot.discord.animate import AnimateCog
        from bot.discord.buttons import JobButton
        from bot.discord.from_messages import MessageCog
        from bot.discord.quota import QuotaCog

        self.tree.on_error = self.on_app_command_error
        self.add_dynamic_items(JobButton)
        await self.add_cog(AnimateCog(self))
        await self.add_cog(QuotaCog(self))
        await self.add_cog(AdminCog(self))
        await self.add_cog(MessageCog(self))
        for guild_id in self.settings.discord.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        await self.tree.sync()

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """One handler for every command: checks already answered; anything else is
        logged in full and the user gets one short, private line."""
        if isinstance(error, app_commands.CheckFailure):
            return
        log.error(
            "command %s failed", interaction.command and interaction.command.name, exc_info=error
        )
        if interaction.response.is_done():
            await interaction.followup.send(GENERIC_ERROR, ephemeral=True)
        else:
            await interaction.response.send_message(GENERIC_ERROR, ephemeral=True)
