"""The engine's job queue in the tests: jobs for it, and each queue over a renderer —
in this process, or behind a redis-server with a GPU worker."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

from PIL import Image

from providers.pool.contract import EngineJob, EngineQueue, QueueEvent
from providers.pool.inprocess import InProcessQueue
from tests.support.paced_renderer import PacedRenderer

SECRET = "a-test-secret-of-some-length"


def image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def job(name: str, user: str = "discord:1", *, steps: int = 4, priority: bool = False):
    return EngineJob(
        id=name,
        user=user,
        priority=priority,
        image=image(),
        prompt=name,
        num_frames=30,
        base=64,
        seed=7,
        steps=steps,
        guidance=10.0,
    )


@contextlib.asynccontextmanager
async def in_process(tmp_path: Path, renderer: PacedRenderer) -> AsyncIterator[EngineQueue]:
    queue = InProcessQueue(lambda: renderer, tmp_path / "engine")
    try:
        yield queue
    finally:
        await queue.aclose()


@contextlib.asynccontextmanager
async def redis_pool(
    tmp_path: Path, renderer: PacedRenderer, url: str
) -> AsyncIterator[EngineQueue]:
    from providers.pool.redis import RedisQueue
    from providers.pool.worker import GpuWorker, WorkerSettings

    worker = GpuWorker(
        WorkerSettings(url, SECRET, tmp_path / "worker", idle_timeout_s=2), [renderer]
    )
    serving = asyncio.create_task(worker.serve())
    queue = RedisQueue(url, secret=SECRET, poll_s=0.05)
    try:
        yield queue
    finally:
        renderer.gate.set()  # a test that failed mid-way may have left a job held
        await queue.aclose()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)


async def follow(queue: EngineQueue, job_id: str) -> list[QueueEvent]:
    async with asyncio.timeout(30):
        return [event async for event in queue.events(job_id)]
