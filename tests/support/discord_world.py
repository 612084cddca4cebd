"""The real bot (discord.py) against a loopback Discord, with the real job service,
store and a fake provider behind it."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bot.config import Settings
from bot.core.service import JobService
from bot.discord.client import FramepackBot, configure_endpoints
from storage import Store
from tests.support.fakes.discord import FakeDiscord, Sent
from tests.support.provider_world import API_KEY, FAKES, FakeTime, make_provider
from tests.support.service_world import chat_service


@dataclass
class DiscordWorld:
    discord: FakeDiscord
    fal: object
    bot: FramepackBot
    service: JobService
    store: Store
    settings: Settings
    provider: object
    time: FakeTime
    runner: asyncio.Task | None = None

    async def restart(self) -> None:
        """What a new process does: a fresh service and bot over the same database."""
        await self.service.stop()
        await self.bot.close()
        with contextlib.suppress(Exception):
            await self.runner
        self.service, self.bot, self.runner = await _start(
            self.settings, self.store, self.provider, self.time, self.discord.token
        )

    async def press(self, custom_id: str, **who) -> dict:
        payload = self.discord.component(custom_id, **who)
        await self.discord.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def command(self, name: str, options: list[dict], **who) -> dict:
        payload = self.discord.slash_command(name, options, **who)
        await self.discord.dispatch("INTERACTION_CREATE", payload)
        return payload

    def image(self, size=(128, 72), color=(200, 60, 40)) -> dict:
        return png_attachment(self.discord, size, color)

    async def animate(
        self,
        prompt: str = "the fox turns its head",
        *,
        image: dict | None = None,
        extra_options: list[dict] = (),
        **interaction,
    ) -> dict:
        image = image or self.image()
        payload = self.discord.slash_command(
            "animate",
            [
                {"name": "image", "type": 11, "value": image["id"]},
                {"name": "prompt", "type": 3, "value": prompt},
                *extra_options,
            ],
            attachments=[image],
            **interaction,
        )
        await self.discord.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def callback_for(self, payload: dict) -> Sent:
        """The bot's interaction callback (its first answer) to this interaction."""
        found = await self.wait_for(
            lambda s: s.kind == "callback" and s.payload["_token"] == payload["token"]
        )
        return found[0]

    async def animate_form(
        self, prompt: str = "blue takes over", *, last_frame: str = "", **who
    ) -> dict:
        """Right-click a message with an image > Animate, then submit the form (the
        optional last-frame message link in `last_frame`); returns the submit."""
        target = self.discord.user_message("first", attachments=[self.image()])
        menu = self.discord.message_command("Animate", target, **who)
        await self.discord.dispatch("INTERACTION_CREATE", menu)
        modal = await self.callback_for(menu)
        submit = self.discord.modal_submit(
            modal.payload["data"]["custom_id"],
            {"prompt": prompt, "duration": "", "last_frame": last_frame},
            **who,
        )
        await self.discord.dispatch("INTERACTION_CREATE", submit)
        return submit

    async def answer_to(self, payload: dict) -> str:
        """The bot's first words to this interaction: its reply, or its first edit of
        the deferred response."""
        token = payload["token"]
        found = await self.wait_for(
            lambda s: (
                s.payload.get("_token") == token
                and (
                    (s.kind == "callback" and s.payload["type"] == 4)
                    or (s.kind == "edit" and s.payload.get("content"))
                )
            )
        )
        sent = found[0]
        return (
            sent.payload["data"]["content"] if sent.kind == "callback" else sent.payload["content"]
        )

    async def wait_for(self, predicate, within: float = 20.0) -> list[Sent]:
        async def poll() -> list[Sent]:
            while True:
                found = [s for s in self.discord.sent if predicate(s)]
                if found:
                    return found
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(poll(), within)


def png_attachment(fake: FakeDiscord, size=(128, 72), color=(200, 60, 40)) -> dict:
    """A PNG uploaded to the loopback Discord's CDN, as an attachment payload."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return fake.add_attachment("photo.png", buffer.getvalue(), "image/png")


@asynccontextmanager
async def discord_world(
    tmp_path: Path,
    *,
    quotas: dict | None = None,
    fake_polls=(1, 1),
    backend: str = "fal",
    admins: dict | None = None,
    safety: dict | None = None,
    discord: dict | None = None,
    limits: dict | None = None,
    engine: Any = None,
) -> AsyncIterator[DiscordWorld]:
    time = FakeTime()
    async with (
        FakeDiscord() as discord_fake,
        # `fal` names the fake provider whichever it is (fal unless `backend` says).
        FAKES[backend](API_KEY, queue_polls=fake_polls[0], running_polls=fake_polls[1]) as fal,
    ):
        settings = Settings(
            data_dir=tmp_path / "data",
            providers={"default_provider": "local" if engine is not None else backend},
            quotas=quotas or {},
            limits=limits or {},
            admins=admins or {},
            safety=safety or {},
            discord={
                "token": discord_fake.token,
                "api_base_url": discord_fake.api_url,
                "gateway_url": discord_fake.gateway_url,
                **(discord or {}),
            },
        )
        configure_endpoints(settings)
        store = await Store.open(settings.store_location)
        # Fake time runs fast: a job left waiting must not reach its deadline mid-test.
        provider = make_provider(backend, fal.base_url, time, deadline=10**7)
        if engine is not None:  # the local engine's provider instead (`fal` stays idle)
            await provider.aclose()
            provider = engine
        service, bot, runner = await _start(settings, store, provider, time, discord_fake.token)
        world = DiscordWorld(
            discord_fake, fal, bot, service, store, settings, provider, time, runner
        )
        try:
            yield world
        finally:
            await world.service.stop()
            await world.bot.close()
            with contextlib.suppress(Exception):
                await world.runner
            await provider.aclose()
            await store.close()


async def _start(settings, store, provider, time, token):
    service = chat_service(settings, store, provider, time)
    bot = FramepackBot(service, settings)
    await bot.login(token)
    runner = asyncio.create_task(bot.connect())
    await asyncio.wait_for(bot.wait_until_ready(), 15)
    await service.start()
    return service, bot, runner
