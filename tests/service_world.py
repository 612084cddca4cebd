"""A job service wired to a fake provider, a recording delivery target and a real
store: what the adapters will see, without a chat platform."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bot.config import Settings
from bot.core.api import DeliveryError, JobUpdate, Requester
from bot.core.safety import DenyList, Detection, SafetyChecker
from bot.core.service import JobService
from storage import JobRecord, Store
from tests.provider_world import API_KEY, FAKES, FakeTime, make_provider


class FrameSizeDetector:
    """Stands in for NudeNet where a test needs a positive without shipping an explicit
    picture: flags images of one exact size (e.g. the fake's output frames), or images
    whose top-left pixel is pure magenta (an uploaded 'NSFW' image)."""

    def __init__(self, flag_size: tuple[int, int] | None = None) -> None:
        self.flag_size = flag_size

    def detect(self, image: Image.Image) -> list[Detection]:
        if image.size == self.flag_size or image.convert("RGB").getpixel((0, 0)) == (255, 0, 255):
            return [Detection("FEMALE_GENITALIA_EXPOSED", 0.93)]
        return []


@dataclass
class RecordingDelivery:
    """A DeliveryTarget that keeps what it was given; idempotent per job id."""

    folder: Path
    limit: int = 10 * 2**20
    transient_failures: int = 0
    delivered: dict[str, tuple[Path, str]] = field(default_factory=dict)
    calls: int = 0

    def upload_limit(self, job: JobRecord) -> int:
        return self.limit

    async def deliver(self, job: JobRecord, video: Path, caption: str) -> None:
        self.calls += 1
        if self.transient_failures:
            self.transient_failures -= 1
            raise DeliveryError("503 from the platform", transient=True)
        if job.id in self.delivered:
            return
        copy = self.folder / f"{job.id}.mp4"
        self.folder.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, video, copy)
        self.delivered[job.id] = (copy, caption)


@dataclass
class World:
    service: JobService
    store: Store
    fake: object
    delivery: RecordingDelivery
    updates: list[JobUpdate]
    time: FakeTime

    def states(self, job_id: str) -> list[str]:
        return [u.job.state.value for u in self.updates if u.job.id == job_id]


def requester(user: int = 1, guild: int | None = 500) -> Requester:
    return Requester(
        platform="discord",
        user_key=f"discord:{user}",
        guild_key=f"discord:{guild}" if guild else None,
        channel_key="discord:c900",
        channel_id="900",
    )


@asynccontextmanager
async def service_world(
    tmp_path: Path,
    provider: str = "fal",
    *,
    detector=None,
    settings_overrides: dict | None = None,
    fake_polls: tuple[int, int] = (1, 1),
) -> AsyncIterator[World]:
    time = FakeTime()
    fields = {"data_dir": tmp_path / "data", **(settings_overrides or {})}
    settings = Settings(**fields)
    async with FAKES[provider](
        API_KEY, queue_polls=fake_polls[0], running_polls=fake_polls[1]
    ) as fake:
        store = await Store.open(settings.database_path)
        backend = make_provider(provider, fake.base_url, time)
        delivery = RecordingDelivery(tmp_path / "posted")
        service = JobService(
            store=store,
            settings=settings,
            providers={provider: backend},
            safety=SafetyChecker(DenyList.load(), detector, 0.6),
            delivery={"discord": delivery},
            clock=lambda: _utc(time),
            sleep=time.sleep,
        )
        updates: list[JobUpdate] = []

        async def record(update: JobUpdate) -> None:
            updates.append(update)

        service.subscribe(record)
        await service.start()
        try:
            yield World(service, store, fake, delivery, updates, time)
        finally:
            await service.stop()
            await backend.aclose()
            await store.close()


def _utc(time: FakeTime):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(time.now, UTC)
