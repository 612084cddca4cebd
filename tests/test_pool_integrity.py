"""The GPU pool against someone who can write to its Redis, and against an operator's
mistake: a video replaced in Redis, a result whose signature does not verify, a worker
started with another secret, Redis down when a job is sent. Real redis-server, real
streaq; the engine is tests/support/paced_renderer.py (these are about the queue)."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path

import pytest
from coredis import Redis

from providers.pool.contract import Broke, Done, QueueError
from providers.pool.redis import Keys, RedisQueue, SecretMismatch
from providers.pool.worker import GpuWorker, WorkerSettings
from tests.support.paced_renderer import PacedRenderer
from tests.support.pool import SECRET, follow, job, redis_pool
from tests.support.redis_server import RedisServer, free_port


async def test_a_video_replaced_in_redis_is_not_delivered(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        redis_pool(tmp_path, PacedRenderer(), redis_server.url) as queue,
        Redis.from_url(redis_server.url, decode_responses=False) as raw,
    ):
        await queue.submit(job("forged"))
        assert isinstance((await follow(queue, "forged"))[-1], Done)
        genuine = await raw.get(Keys("framepack").video("forged"))
        await raw.set(Keys("framepack").video("forged"), b"\x00\x00\x00\x18ftypisomsomeone else")
        with pytest.raises(QueueError, match="does not match what its worker signed"):
            await queue.result("forged", tmp_path / "out.mp4")
        assert not (tmp_path / "out.mp4").exists()
        await raw.set(Keys("framepack").video("forged"), genuine)  # the real one passes
        assert await queue.result("forged", tmp_path / "out.mp4") == len(genuine)


async def test_a_result_whose_signature_does_not_verify_ends_the_job_in_one_line(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        redis_pool(tmp_path, PacedRenderer(), redis_server.url) as queue,
        Redis.from_url(redis_server.url, decode_responses=False) as raw,
    ):
        await queue.submit(job("tampered"))
        assert isinstance((await follow(queue, "tampered"))[-1], Done)
        keys = [k for k in await raw.keys("*") if b"tampered" in k and b"result" in k]
        assert keys, await raw.keys("*")
        for key in keys:  # a result signed with some other secret
            await raw.set(key, pickle.dumps({"forged": True}) + b"\x00" * 32)
        events = await follow(queue, "tampered")
    assert events[-1] == Broke("the GPU pool's answer for this job could not be verified", "failed")


async def test_a_worker_with_another_secret_refuses_to_start_and_the_queue_is_intact(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    renderer = PacedRenderer()
    queue = RedisQueue(redis_server.url, secret=SECRET, poll_s=0.05)
    try:
        await queue.submit(job("waiting"))  # the bot met Redis first, with its secret
        rotated = GpuWorker(
            WorkerSettings(redis_server.url, "another-secret-of-length", tmp_path / "w1"),
            [renderer],
        )
        with pytest.raises(SecretMismatch, match="another signing secret"):
            await asyncio.wait_for(rotated.serve(), 30)
        assert (await queue.events("waiting").__anext__()).position == 1  # still waiting
        good = GpuWorker(
            WorkerSettings(redis_server.url, SECRET, tmp_path / "w2", idle_timeout_s=2),
            [renderer],
        )
        serving = asyncio.create_task(good.serve())
        try:
            assert isinstance((await follow(queue, "waiting"))[-1], Done)
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
    finally:
        await queue.aclose()


async def test_redis_down_at_submit_is_one_clear_error(tmp_path: Path) -> None:
    queue = RedisQueue(f"redis://127.0.0.1:{free_port()}/0", secret=SECRET)
    try:
        with pytest.raises(QueueError) as caught:
            await queue.submit(job("nowhere"))
    finally:
        await queue.aclose()
    assert "the GPU queue cannot be reached" in str(caught.value)
    assert "\n" not in str(caught.value) and not isinstance(caught.value, BaseExceptionGroup)


async def test_framepack_bot_worker_with_another_secret_exits_2_with_one_line(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    import sys

    from tests.support import tiny_framepack as tiny
    from tests.support.subprocess_env import ROOT, isolated_env
    from tests.support.tiny_framepack import engine_env

    queue = RedisQueue(redis_server.url, secret=SECRET, poll_s=0.05)
    try:
        await queue.submit(job("kept"))
    finally:
        await queue.aclose()
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    env = isolated_env(
        tmp_path / "worker",
        **engine_env(folders),
        FPBOT_PROVIDERS__LOCAL__REDIS_URL=redis_server.url,
        FPBOT_PROVIDERS__LOCAL__SECRET="a-rotated-secret-here",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert process.returncode == 2, lines
    assert "another signing secret" in lines[-1] and "Traceback" not in err.decode()
    async with Redis.from_url(redis_server.url, decode_responses=True) as redis:
        assert await redis.zrank(Keys("framepack").waiting, "kept") == 0  # still queued
