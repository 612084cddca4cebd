"""The baseline for bench/discord.py: the least a discord.py bot can do for /animate —
defer, read the attachment, post a small MP4 — and nothing else.

    python bench/minimal_bot.py API_BASE_URL GATEWAY_URL TOKEN
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import discord  # noqa: E402
import yarl  # noqa: E402
from discord import app_commands  # noqa: E402

from tests.support.fakes.media import make_mp4  # noqa: E402

VIDEO = make_mp4(30, 64, 36)


class MinimalBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        await self.tree.sync()


def main() -> None:
    api, gateway, token = sys.argv[1:4]
    discord.http.Route.BASE = api
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    bot = MinimalBot()

    @bot.tree.command(name="animate", description="Turn an image into a short video.")
    async def animate(
        interaction: discord.Interaction, image: discord.Attachment, prompt: str
    ) -> None:
        await interaction.response.defer(thinking=True)
        await image.read()
        await interaction.followup.send(
            content=prompt, file=discord.File(io.BytesIO(VIDEO), "video.mp4")
        )

    bot.run(token, log_handler=None)


if __name__ == "__main__":
    main()
