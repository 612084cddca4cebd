"""The Discord bot as one of the platforms `framepack-bot run` drives."""

from __future__ import annotations

from bot.config import Settings
from bot.core.api import JobAPI
from bot.discord.client import FramepackBot, configure_endpoints


class DiscordAdapter:
    name = "discord"

    def __init__(self, service: JobAPI, settings: Settings) -> None:
        assert settings.discord.token is not None
        configure_endpoints(settings)
        self._token = settings.discord.token
        self.bot = FramepackBot(service, settings)

    async def start(self) -> None:
        # Login runs setup_hook: the cogs (and the delivery target) and command sync.
        await self.bot.login(self._token.get_secret_value())

    async def serve(self) -> None:
        await self.bot.connect()

    async def stop(self) -> None:
        await self.bot.close()
