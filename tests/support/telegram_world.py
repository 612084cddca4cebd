"""The real Telegram adapter (python-telegram-bot) against a loopback Bot API, with the
real job service, store and a fake provider behind it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.service import JobService
from bot.telegram.app import TelegramAdapter
from storage import Store
from tests.support.fakes.telegram import FakeTelegram
from tests.support.provider_world import API_KEY, FAKES, FakeTime, make_provider
from tests.support.service_world import chat_service

GROUP = -100_500
ADMIN = 7100  # administrator of GROUP
MEMBER = 7001
OPERATOR = 7999


@dataclass
class TelegramWorld:
    telegram: FakeTelegram
    fal: Any
    adapter: TelegramAdapter
    service: JobService
    store: Store
    settings: Settings
    provider: Any
    time: FakeTime
    serving: asyncio.Task[None]

    async def restart(self) -> None:
        """What a new process does: a fresh service and adapter over the same database."""
        await _stop(self.service, self.adapter, self.serving)
        self.service, self.adapter, self.serving = await _start(
            self.settings, self.store, self.provider, self.time
        )

    async def wait_for(self, predicate: Callable[[], Any], within: float = 20.0) -> Any:
        async def poll() -> Any:
            while not (found := predicate()):  # noqa: ASYNC110 (polls a fake server's record)
                await asyncio.sleep(0.02)
            return found

        return await asyncio.wait_for(poll(), within)

    async def until_state(self, job_id: str, state: str, within: float = 20.0) -> Any:
        async def poll() -> Any:
            while (job := await self.store.jobs.require(job_id)).state.value != state:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            return job

        return await asyncio.wait_for(poll(), within)

    async def answer(self, chat_id: int, count: int = 1) -> str:
        """The bot's `count`-th text message to this chat."""
        texts = await self.wait_for(lambda: len(self.telegram.answers(chat_id)) >= count and 1)
        assert texts
        return self.telegram.answers(chat_id)[count - 1]

    def status_of(self, request: dict) -> dict | None:
        """The bot's status message (later the video) replying to `request`."""
        chat_id = request["chat"]["id"]
        for (chat, _), message in self.telegram.sent.items():
            replies = chat == chat_id and message.get("reply_to") == request["message_id"]
            if replies and any(kind in message for kind in ("photo", "video", "animation")):
                return message
        return None

    async def video_for(self, request: dict, within: float = 30.0) -> dict:
        """The status message once it shows the video (a loop's: an animation)."""

        def delivered() -> dict | None:
            status = self.status_of(request)
            shown = status is not None and ("video" in status or "animation" in status)
            return status if shown else None

        return await self.wait_for(delivered, within)

    async def caption_of(self, request: dict, predicate: Callable[[str], bool]) -> str:
        def matching() -> str | None:
            status = self.status_of(request)
            caption = status.get("caption", "") if status else ""
            return caption if status and predicate(caption) else None

        return await self.wait_for(matching)


@asynccontextmanager
async def telegram_world(
    tmp_path: Path,
    *,
    quotas: dict | None = None,
    admins: dict | None = None,
    telegram: dict | None = None,
    fake_polls: tuple[int, int] = (1, 1),
    backend: str = "fal",
    limits: dict | None = None,
    engine: Any = None,
) -> AsyncIterator[TelegramWorld]:
    time = FakeTime()
    async with (
        FakeTelegram() as fake,
        # `fal` names the fake provider whichever it is (fal unless `backend` says).
        FAKES[backend](API_KEY, queue_polls=fake_polls[0], running_polls=fake_polls[1]) as fal,
    ):
        fake.admins[GROUP] = {ADMIN}
        settings = Settings(
            data_dir=tmp_path / "data",
            providers={"default_provider": "local" if engine is not None else backend},
            quotas=quotas or {},
            limits=limits or {},
            admins={"telegram_user_ids": [OPERATOR], **(admins or {})},
            telegram={
                "token": fake.token,
                "base_url": fake.api_base,
                "base_file_url": fake.file_base,
                "album_window_s": 0.3,
                **(telegram or {}),
            },
        )
        store = await Store.open(settings.store_location)
        # Fake time runs fast: a job left waiting must not reach its deadline mid-test.
        provider = make_provider(backend, fal.base_url, time, deadline=10**7)
        if engine is not None:  # the local engine's provider instead (`fal` stays idle)
            await provider.aclose()
            provider = engine
        service, adapter, serving = await _start(settings, store, provider, time)
        world = TelegramWorld(fake, fal, adapter, service, store, settings, provider, time, serving)
        try:
            yield world
        finally:
            await _stop(world.service, world.adapter, world.serving)
            await provider.aclose()
            await store.close()


async def _start(
    settings: Settings, store: Store, provider: Any, time: FakeTime
) -> tuple[JobService, TelegramAdapter, asyncio.Task[None]]:
    service = chat_service(settings, store, provider, time)
    adapter = TelegramAdapter(service, settings)
    await adapter.start()
    await service.start()
    serving = asyncio.create_task(adapter.serve())
    return service, adapter, serving


async def _stop(service: JobService, adapter: TelegramAdapter, serving: asyncio.Task) -> None:
    await service.stop()
    await adapter.stop()
    with contextlib.suppress(Exception):
        await serving
