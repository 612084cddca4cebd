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

from bot.cli.run import build_service
from bot.config import Settings
from bot.core.api import AnimateRequest, DeliveryError, JobUpdate, Requester, VideoPost
from bot.core.safety import DenyList, Detection, SafetyChecker
from bot.core.service import JobService
from storage import JobRecord, Store
from tests.support.images import image_bytes
from tests.support.provider_world import API_KEY, FAKES, FakeTime, make_provider


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
    # Posts that go through and then fail as a 500 or a dropped connection would.
    failures_after_posting: int = 0
    posts: list[tuple[str, Path, str]] = field(default_factory=list)  # every post, in order
    sent: list[VideoPost] = field(default_factory=list)  # what each post was given
    lookups: int = 0
    calls: int = 0

    @property
    def delivered(self) -> dict[str, tuple[Path, str]]:
        return {job_id: (video, caption) for job_id, video, caption in self.posts}

    def upload_limit(self, job: JobRecord) -> int:
        return self.limit

    async def deliver(self, job: JobRecord, post: VideoPost, *, maybe_posted: bool) -> dict:
        """Like a chat platform: every post is kept, duplicates included; like an adapter,
        it looks for its own earlier post when told one may exist."""
        self.calls += 1
        if maybe_posted:
            self.lookups += 1
            for index, (job_id, _, _) in enumerate(self.posts):
                if job_id == job.id:
                    return {"message_id": str(index)}
        if self.transient_failures:
            self.transient_failures -= 1
            raise DeliveryError("503 from the platform", transient=True)
        copy = self.folder / f"{job.id}-{len(self.posts)}.mp4"
        self.folder.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, post.video, copy)
        self.posts.append((job.id, copy, post.caption))
        self.sent.append(post)
        if self.failures_after_posting:
            self.failures_after_posting -= 1
            raise DeliveryError("500 after the message was created", transient=True)
        return {"message_id": str(len(self.posts) - 1)}


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
    provider_options: dict | None = None,
) -> AsyncIterator[World]:
    time = FakeTime()
    fields = {
        "data_dir": tmp_path / "data",
        "providers": {"default_provider": provider},
        **(settings_overrides or {}),
    }
    settings = Settings(**fields)
    async with FAKES[provider](
        API_KEY, queue_polls=fake_polls[0], running_polls=fake_polls[1]
    ) as fake:
        store = await Store.open(settings.store_location)
        backend = make_provider(provider, fake.base_url, time, **(provider_options or {}))
        delivery = RecordingDelivery(tmp_path / "posted")
        service = build_service(
            store,
            settings,
            {provider: backend},
            SafetyChecker(DenyList.load(), detector, 0.6),
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


def chat_service(settings: Settings, store: Store, provider, time: FakeTime) -> JobService:
    """The job service behind a chat world (tests/support/discord_world.py, telegram_world.py):
    one provider (fal unless the world says), the deny-list without NudeNet, the fake
    time's sleep; the adapter under test registers its own delivery."""
    return build_service(
        store,
        settings,
        {provider.name: provider},
        SafetyChecker(DenyList.load(), None, 0.6),
        sleep=time.sleep,
    )


def _utc(time: FakeTime):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(time.now, UTC)


def animate(prompt="the fox turns its head", image=None, last=None, user=1, **options):
    return AnimateRequest(
        requester(user), prompt, image or image_bytes(), last, options, {"interaction": "token-1"}
    )


@dataclass
class LocalWorld:
    """The job service over the local engine in this process (the tiny pipeline)."""

    service: JobService
    store: Store
    delivery: RecordingDelivery
    settings: Settings

    def folder(self, job_id: str) -> Path:
        return self.settings.data_dir / "jobs" / job_id


@asynccontextmanager
async def local_service(
    tmp_path: Path, engine, *, buckets: dict[str, int] | None = None, **local: object
) -> AsyncIterator[LocalWorld]:
    """`engine`: a FramePackEngine (tests/support/tiny_framepack.engine); `local`: what
    else LocalProvider takes (loras...). Started, and stopped with its provider."""
    from providers.local import LocalProvider

    provider = LocalProvider.in_process(
        lambda: engine,
        buckets=buckets or {"480p": 64, "720p": 96},
        workdir=tmp_path / "work",
        **local,
    )
    settings = Settings(data_dir=tmp_path / "data", providers={"default_provider": "local"})
    store = await Store.open(settings.store_location)
    delivery = RecordingDelivery(tmp_path / "posted")
    service = build_service(
        store,
        settings,
        {"local": provider},
        SafetyChecker(DenyList.load(), None, 0.6),
        delivery={"discord": delivery},
    )
    await service.start()
    try:
        yield LocalWorld(service, store, delivery, settings)
    finally:
        await service.stop()
        await provider.aclose()
        await store.close()
