"""The GPU pool in real processes around a real redis-server: `framepack-bot worker`s
running the tiny FramePack pipeline from weight folders, and `framepack-bot run` (on the
loopback Telegram) as the bot. A worker killed mid-job, a worker stopped with SIGTERM,
Redis killed and started again, a busy worker beside an idle one, and the metrics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from coredis import Redis
from streaq import TaskStatus

from local_engine.folders import Folders
from providers.contract import GenerationRequest, ImageInput, LoraChoice
from providers.errors import InvalidInputError
from providers.local import LocalProvider
from providers.pool.contract import Done, EngineJob, NoEngineFor
from providers.pool.metrics import WorkerMetrics
from providers.pool.redis import Keys, RedisQueue
from providers.pool.worker import GpuWorker, WorkerSettings
from tests.support import tiny_framepack as tiny
from tests.support.fakes.telegram import FakeTelegram
from tests.support.paced_renderer import PacedRenderer
from tests.support.pool import SECRET, follow, job
from tests.support.provider_world import png_bytes
from tests.support.redis_server import RedisServer, free_port
from tests.support.store_state import job_row
from tests.support.subprocess_env import framepack_bot, isolated_env, telegram_env
from tests.support.tiny_framepack import engine_env

IDLE_TIMEOUT_S = 2


def pool_env(server: RedisServer) -> dict[str, str]:
    return {
        "FPBOT_PROVIDERS__LOCAL__REDIS_URL": server.url,
        "FPBOT_PROVIDERS__LOCAL__SECRET": SECRET,
        "FPBOT_PROVIDERS__LOCAL__IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
    }


def pool_bot_env(data: Path, fake: FakeTelegram, server: RedisServer, **settings: str):
    """`framepack-bot run` on the loopback Telegram, the pool its default provider."""
    return isolated_env(
        data,
        **{
            "FPBOT_PROVIDERS__DEFAULT_PROVIDER": "local",
            "FPBOT_PROVIDERS__LOCAL__ENABLED": "true",
            **telegram_env(fake),
            **pool_env(server),
            **settings,
        },
    )


@contextlib.asynccontextmanager
async def workers(
    tmp_path: Path, server: RedisServer, folders: Folders, *names: str, **settings: str
) -> AsyncIterator[dict[str, asyncio.subprocess.Process]]:
    started = {}
    for name in names:
        env = isolated_env(
            tmp_path / name, **engine_env(folders), **{**pool_env(server), **settings}
        )
        started[name] = await framepack_bot("worker", "--worker-id", name, env=env)
    try:
        yield started
    finally:
        for process in started.values():
            if process.returncode is None:
                process.kill()
                await process.wait()


async def progress_entries(redis: Redis[str], job_id: str) -> list[dict[str, str]]:
    entries = await redis.xrange(Keys("framepack").progress(job_id))
    return [dict(entry.field_values) for entry in entries]


async def wait_until(check, within: float = 120.0):
    async with asyncio.timeout(within):
        while not (found := await check()):  # noqa: ASYNC110 (other processes' state)
            await asyncio.sleep(0.05)
        return found


async def test_a_worker_killed_mid_job_the_job_completes_on_another_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    data = tmp_path / "bot"
    database = data / "framepack-bot.sqlite3"
    async with (
        FakeTelegram() as fake,
        Redis.from_url(redis_server.url, decode_responses=True) as redis,
        workers(tmp_path, redis_server, folders, "gpu-a", "gpu-b") as pool,
    ):
        env = pool_bot_env(data, fake, redis_server, **engine_env(folders))
        bot = await framepack_bot("run", env=env)
        try:
            fake.push_update(
                message=fake.photo_message(
                    png_bytes(128, 72), "/animate slow waves duration=4 steps=8"
                )
            )

            async def running_somewhere():
                row = job_row(database)
                if row is None:
                    return None
                steps = [e for e in await progress_entries(redis, row[0]) if e["kind"] == "step"]
                return row[0] if steps else None

            job_id = await wait_until(running_somewhere)
            first = (await progress_entries(redis, job_id))[0]
            assert first["kind"] == "started"
            victim = pool[first["worker"]]
            victim.kill()  # SIGKILL mid-job: its lease runs out, the other takes the job
            await victim.wait()

            async def delivered():
                row = job_row(database)
                return row is not None and row[1] == "delivered"

            await wait_until(delivered, within=240)
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 60)
        entries = await progress_entries(redis, job_id)
    started = [e["worker"] for e in entries if e["kind"] == "started"]
    survivor = "gpu-b" if first["worker"] == "gpu-a" else "gpu-a"
    assert started == [first["worker"], survivor]
    assert [e["kind"] for e in entries].count("end") == 1  # completed once
    assert len(fake.videos) == 1 and len([m for m in fake.sent.values() if "video" in m]) == 1
    with contextlib.closing(sqlite3.connect(database)) as db:
        ledger = db.execute(
            "SELECT entry FROM quota_ledger WHERE job_id = ? ORDER BY entry", (job_id,)
        ).fetchall()
    assert ledger == [("commit",), ("reserve",)]  # charged once, never refunded


async def test_sigterm_hands_the_running_job_back_and_the_worker_exits(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    queue = RedisQueue(redis_server.url, secret=SECRET, poll_s=0.05)
    long = EngineJob(
        id="long", user="discord:1", priority=False, image=png_bytes(128, 72),
        prompt="slow waves", num_frames=120, base=64, seed=3, steps=8, guidance=10.0,
    )  # fmt: skip
    async with (
        Redis.from_url(redis_server.url, decode_responses=True) as redis,
        workers(tmp_path, redis_server, folders, "gpu-a", "gpu-b") as pool,
    ):
        await queue.submit(long)

        async def stepping():
            entries = await progress_entries(redis, "long")
            return entries[0]["worker"] if any(e["kind"] == "step" for e in entries) else None

        first = await wait_until(stepping)
        pool[first].send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(pool[first].wait(), 30) == 0
        events = await asyncio.wait_for(follow_all(queue, "long"), 240)
        assert isinstance(events[-1], Done) and events[-1].worker != first
        entries = await progress_entries(redis, "long")
    await queue.aclose()
    assert [e["kind"] for e in entries].count("end") == 1


async def follow_all(queue: RedisQueue, job_id: str) -> list:
    return [event async for event in queue.events(job_id)]


async def test_redis_killed_and_restarted_queued_jobs_survive_and_users_are_told(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    data = tmp_path / "bot"
    database = data / "framepack-bot.sqlite3"
    async with FakeTelegram() as fake:
        env = pool_bot_env(data, fake, redis_server, **engine_env(folders))
        bot = await framepack_bot("run", env=env)
        try:
            for chat in (5001, 5002):
                photo = fake.photo_message(
                    png_bytes(128, 72), "/animate waves duration=1 steps=4", chat_id=chat,
                    user_id=chat,
                )  # fmt: skip
                fake.push_update(message=photo)

            async def both_waiting_in_the_pool():
                return job_states(database) == ["submitted", "submitted"]

            await wait_until(both_waiting_in_the_pool)
            redis_server.kill()  # no worker has started: both jobs are only in Redis

            def told(chat: int) -> bool:
                return any(
                    "cannot be reached" in str(m.get("caption", ""))
                    for (chat_id, _), m in fake.sent.items()
                    if chat_id == chat
                )

            async def everyone_told():
                return told(5001) and told(5002)

            await wait_until(everyone_told, within=60)
            redis_server.start()  # the same port and append-only file
            async with workers(tmp_path, redis_server, folders, "gpu-a"):

                async def both_delivered():
                    return job_states(database) == ["delivered", "delivered"]

                await wait_until(both_delivered, within=240)
        finally:
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), 60) == 0  # never restarted, stops clean
    assert len(fake.videos) == 2


async def test_a_healthy_job_longer_than_the_lease_runs_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The engine runs in a thread, so the worker renews its lease (every 0.9 idle
    timeouts) all through a job several idle timeouts long, and the idle worker beside
    it never takes the job over. Worker processes: in one event loop, a blocked loop
    would stall the other worker too and hide exactly this."""
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    queue = RedisQueue(redis_server.url, secret=SECRET, poll_s=0.05)
    # 16 steps: ~6 s here, well over three idle timeouts even on a faster machine
    # (8 steps once took 2.97 s of the 3 this asserts).
    long = EngineJob(
        id="long", user="discord:1", priority=False, image=png_bytes(128, 72),
        prompt="slow waves", num_frames=120, base=64, seed=3, steps=16, guidance=10.0,
    )  # fmt: skip
    env = {"FPBOT_PROVIDERS__LOCAL__IDLE_TIMEOUT_S": "1"}
    async with (
        Redis.from_url(redis_server.url, decode_responses=True) as redis,
        workers(tmp_path, redis_server, folders, "gpu-a", "gpu-b", **env),
    ):
        await queue.submit(long)
        events = await asyncio.wait_for(follow_all(queue, "long"), 240)
        kinds = [e["kind"] for e in await progress_entries(redis, "long")]
    await queue.aclose()
    assert isinstance(events[-1], Done)
    assert events[-1].seconds > 3  # three idle timeouts and more
    assert kinds.count("started") == 1 and kinds.count("end") == 1


def job_states(database: Path) -> list[str]:
    with (
        contextlib.suppress(sqlite3.OperationalError),
        contextlib.closing(sqlite3.connect(database, timeout=0.2)) as db,
    ):
        return [state for (state,) in db.execute("SELECT state FROM jobs ORDER BY id")]
    return []


async def test_the_bot_stops_cleanly_while_redis_is_down(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    data = tmp_path / "bot"
    async with FakeTelegram() as fake:
        env = pool_bot_env(data, fake, redis_server)
        bot = await framepack_bot("run", env=env)
        try:
            photo = fake.photo_message(png_bytes(128, 72), "/animate waves duration=1")
            fake.push_update(message=photo)

            async def waiting_in_the_pool():
                return job_states(data / "framepack-bot.sqlite3") == ["submitted"]

            await wait_until(waiting_in_the_pool)
            redis_server.kill()
            await asyncio.sleep(3)  # the bot notices
        finally:
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), 30) == 0


def in_process_worker(
    tmp_path: Path,
    server: RedisServer,
    name: str,
    renderer: PacedRenderer,
    loras: tuple[str, ...] = (),
) -> asyncio.Task[None]:
    """A GpuWorker serving in this process, until its task is cancelled."""
    settings = WorkerSettings(
        server.url, SECRET, tmp_path / name, idle_timeout_s=30, worker_id=name, loras=loras
    )
    return asyncio.create_task(GpuWorker(settings, [renderer]).serve())


async def _stop_all(queue: RedisQueue, serving: list[asyncio.Task[None]]) -> None:
    await queue.aclose()
    for task in serving:
        task.cancel()
    await asyncio.gather(*serving, return_exceptions=True)


async def test_a_busy_worker_leaves_waiting_jobs_to_an_idle_one(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    busy, idle = PacedRenderer(), PacedRenderer()
    busy.gate.clear()
    queue = RedisQueue(redis_server.url, secret=SECRET, poll_s=0.05)

    def worker(name: str, renderer: PacedRenderer) -> asyncio.Task[None]:
        return in_process_worker(tmp_path, redis_server, name, renderer)

    serving = [worker("a", busy)]
    try:
        await queue.submit(job("first"))
        await wait_until(lambda: _true(busy.runs == ["first"]), within=30)
        await asyncio.sleep(0.3)  # "a" is blocked on its next read, if it reads ahead
        serving.append(worker("b", idle))
        await asyncio.sleep(0.3)
        await queue.submit(job("second"))
        # Taken by the idle worker at once, not held by the busy one (streaq's default
        # prefetch would hand it to "a", first in line at Redis, until the idle timeout).
        assert isinstance((await asyncio.wait_for(follow(queue, "second"), 10))[-1], Done)
        assert idle.runs == ["second"] and busy.runs == ["first"]
    finally:
        busy.gate.set()
        await _stop_all(queue, serving)


async def test_a_job_with_a_lora_goes_only_to_a_worker_that_has_it(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    plain, styled = PacedRenderer(), PacedRenderer()
    styled.gate.clear()
    queue = RedisQueue(redis_server.url, secret=SECRET, poll_s=0.05)

    def worker(name: str, renderer: PacedRenderer, loras: tuple[str, ...]) -> asyncio.Task[None]:
        return in_process_worker(tmp_path, redis_server, name, renderer, loras=loras)

    def with_loras(name: str, *loras: str) -> EngineJob:
        return dataclasses.replace(job(name), loras=tuple((lora, 0.8) for lora in loras))

    serving = [worker("plain", plain, ()), worker("styled", styled, ("wave", "ink"))]
    try:
        await wait_until(lambda: _live(queue, 2), within=30)
        await queue.submit(with_loras("first-wave", "wave"))
        await wait_until(lambda: _true(styled.runs == ["first-wave"]), within=30)
        # "styled" is busy and "plain" idle: the next LoRA job waits for "styled",
        # and a plain job is taken by "plain" meanwhile.
        await queue.submit(with_loras("second-wave", "wave", "ink"))
        await queue.submit(job("no-lora"))
        assert isinstance((await asyncio.wait_for(follow(queue, "no-lora"), 10))[-1], Done)
        assert plain.runs == ["no-lora"]
        styled.gate.set()
        for name in ("first-wave", "second-wave"):
            end = (await asyncio.wait_for(follow(queue, name), 10))[-1]
            assert isinstance(end, Done) and end.worker == "styled"
        assert styled.runs == ["first-wave", "second-wave"] and plain.runs == ["no-lora"]

        # A LoRA that no live worker has is refused at once, not left waiting.
        with pytest.raises(NoEngineFor, match="wave, zebra"):
            await queue.submit(with_loras("never", "wave", "zebra"))
        assert await _status(queue, "never") is TaskStatus.NOT_FOUND
    finally:
        styled.gate.set()
        await _stop_all(queue, serving)


async def test_the_local_provider_tells_the_user_when_no_worker_has_the_lora(
    redis_server: RedisServer,
) -> None:
    provider = LocalProvider(
        RedisQueue(redis_server.url, secret=SECRET, poll_s=0.05),
        buckets={"480p": 64},
        loras={"wave": 0.8},
    )
    try:
        with pytest.raises(InvalidInputError, match="no GPU worker with the LoRA wave"):
            await provider.submit(
                GenerationRequest(
                    prompt="the waves roll in",
                    image=ImageInput(data=png_bytes(), mime_type="image/png"),
                    loras=(LoraChoice(name="wave"),),
                )
            )
    finally:
        await provider.aclose()


async def _live(queue: RedisQueue, workers: int) -> bool:
    return await queue.live_workers() == workers


async def _status(queue: RedisQueue, job_id: str) -> TaskStatus:
    await queue._redis()
    return await queue._client.status_by_id(job_id)


async def _true(value: bool) -> bool:
    return value


async def test_a_worker_serves_prometheus_metrics(tmp_path: Path, redis_server: RedisServer):
    metrics = WorkerMetrics()
    port = free_port()
    metrics.serve(port)
    settings = WorkerSettings(redis_server.url, SECRET, tmp_path / "w", idle_timeout_s=5)
    serving = asyncio.create_task(GpuWorker(settings, [PacedRenderer()], metrics).serve())
    queue = RedisQueue(redis_server.url, secret=SECRET, poll_s=0.05)
    try:
        await queue.submit(job("one"))
        await queue.submit(job("crash-two"))
        await follow(queue, "one")
        await follow(queue, "crash-two")
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        await queue.aclose()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    assert 'fpbot_worker_jobs_total{outcome="done"} 1.0' in text
    assert 'fpbot_worker_jobs_total{outcome="failed"} 1.0' in text
    seconds = next(
        line for line in text.splitlines() if line.startswith("fpbot_worker_gpu_seconds_total")
    )
    assert float(seconds.split()[-1]) > 0
    assert "fpbot_worker_busy_engines 0.0" in text
