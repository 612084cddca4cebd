"""One contract, two queues: the engine in the bot's process, and GPU workers behind a
real redis-server (streaq). Each test runs against both.

The engine here is tests/support/paced_renderer.py (fixed-length steps that honour the cancel
flag): these tests are about the queue. The real engine runs through both queues in
tests/test_local_provider.py and tests/test_pool_redis.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import pytest

from providers.pool.contract import (
    Broke,
    Done,
    EngineQueue,
    Waiting,
    Working,
)
from tests.support.paced_renderer import PacedRenderer
from tests.support.pool import follow, in_process, job, redis_pool


@pytest.fixture(params=["in-process", "redis"])
def backend(request, tmp_path: Path):
    """(renderer, an async context manager giving the queue)."""

    def open_queue(renderer: PacedRenderer):
        if request.param == "in-process":
            return in_process(tmp_path, renderer)
        server = request.getfixturevalue("redis_server")
        return redis_pool(tmp_path, renderer, server.url)

    return open_queue


async def until_running(queue: EngineQueue, job_id: str) -> None:
    async with asyncio.timeout(30):
        async for event in queue.events(job_id):
            if isinstance(event, Working):
                return
            assert not isinstance(event, Done | Broke), event
    raise AssertionError(f"{job_id} ended before it ran")


async def test_a_job_runs_reports_progress_and_its_video_comes_back(backend, tmp_path) -> None:
    renderer = PacedRenderer()
    async with backend(renderer) as queue:
        await queue.submit(job("first"))
        events = await follow(queue, "first")
        assert isinstance(events[-1], Done) and events[-1].seed == 7
        steps = [e.step for e in events if isinstance(e, Working)]
        assert steps[-1] == 4 and steps == sorted(steps)
        size = await queue.result("first", tmp_path / "out" / "first.mp4")
        assert size == (tmp_path / "out" / "first.mp4").stat().st_size > 0
        with av.open(str(tmp_path / "out" / "first.mp4")) as video:
            assert video.streams.video[0].frames == 8


async def test_the_same_job_submitted_twice_runs_once(backend) -> None:
    renderer = PacedRenderer()
    renderer.gate.clear()
    async with backend(renderer) as queue:
        await queue.submit(job("blocker"))
        await until_running(queue, "blocker")
        await queue.submit(job("twice"))
        await queue.submit(job("twice"))  # e.g. resubmitted after a restart
        renderer.gate.set()
        assert isinstance((await follow(queue, "twice"))[-1], Done)
        await asyncio.sleep(0.3)  # a duplicate would be taken by now
        assert renderer.runs.count("twice") == 1


async def test_a_job_cancelled_while_waiting_never_runs(backend) -> None:
    renderer = PacedRenderer()
    renderer.gate.clear()
    async with backend(renderer) as queue:
        await queue.submit(job("blocker"))
        await until_running(queue, "blocker")
        await queue.submit(job("doomed"))
        await queue.submit(job("after"))
        assert await queue.cancel("doomed")
        renderer.gate.set()
        assert (await follow(queue, "doomed"))[-1] == Broke("cancelled", "cancelled")
        assert isinstance((await follow(queue, "after"))[-1], Done)
        assert renderer.runs == ["blocker", "after"]


async def test_a_running_job_cancelled_stops_within_a_step_and_frees_the_engine(backend) -> None:
    renderer = PacedRenderer(step_s=0.1)
    async with backend(renderer) as queue:
        await queue.submit(job("long", steps=200))
        await queue.submit(job("next"))
        async with asyncio.timeout(30):
            async for event in queue.events("long"):
                if isinstance(event, Working) and event.step >= 2:
                    at_cancel = renderer.last_step["long"]
                    assert await queue.cancel("long")
                    break
        assert (await follow(queue, "long"))[-1] == Broke("cancelled", "cancelled")
        # In-process the flag is set at once; a worker hears of it within its abort
        # check (every 0.5 s), then the engine stops at the next step.
        assert renderer.last_step["long"] - at_cancel <= 8
        assert renderer.last_step["long"] < 50
        assert isinstance((await follow(queue, "next"))[-1], Done)


async def test_a_running_job_kept_ends_done_with_what_it_finished(backend) -> None:
    renderer = PacedRenderer(step_s=0.1)
    async with backend(renderer) as queue:
        await queue.submit(job("long", steps=200))
        async with asyncio.timeout(30):
            async for event in queue.events("long"):
                if isinstance(event, Working) and event.keepable_frames >= 8:
                    assert await queue.keep("long")
                    break
        end = (await follow(queue, "long"))[-1]
        assert isinstance(end, Done) and end.kept_frames is not None
        assert 8 <= end.kept_frames < 100  # a worker hears of it within 0.25 s
        assert renderer.last_step["long"] < 50
        assert not await queue.keep("long")  # over: nothing left to stop


async def test_a_job_with_nothing_finished_cannot_be_kept(backend) -> None:
    renderer = PacedRenderer(step_s=0.1)
    renderer.gate.clear()  # running, no step made yet
    async with backend(renderer) as queue:
        await queue.submit(job("started"))
        await queue.submit(job("queued"))
        await until_running(queue, "started")
        assert not await queue.keep("started")  # its first section is not finished
        assert not await queue.keep("queued")  # waiting its turn
        assert await queue.cancel("started") and await queue.cancel("queued")


async def test_users_are_served_round_robin_and_see_their_real_place(backend) -> None:
    renderer = PacedRenderer(step_s=0.005)
    renderer.gate.clear()
    async with backend(renderer) as queue:
        await queue.submit(job("blocker", "discord:9"))
        await until_running(queue, "blocker")
        for n in range(10):
            await queue.submit(job(f"heavy-{n}", "discord:1"))
        await queue.submit(job("light", "discord:2"))
        await queue.submit(job("vip", "discord:3", priority=True))
        places = {}
        for name in ("vip", "heavy-0", "light", "heavy-1", "heavy-9"):
            async for event in queue.events(name):
                assert isinstance(event, Waiting), event
                places[name] = event.position
                break
        assert places == {"vip": 1, "heavy-0": 2, "light": 3, "heavy-1": 4, "heavy-9": 12}
        renderer.gate.set()
        assert isinstance((await follow(queue, "heavy-9"))[-1], Done)
        order = renderer.runs[1:]
        assert order[:3] == ["vip", "heavy-0", "light"]  # not last: third
        assert order[3:] == [f"heavy-{n}" for n in range(1, 10)]


async def test_failures_are_the_jobs_and_the_next_job_runs(backend) -> None:
    renderer = PacedRenderer()
    async with backend(renderer) as queue:
        await queue.submit(job("refuse-this"))
        await queue.submit(job("crash-this"))
        await queue.submit(job("fine"))
        refused = (await follow(queue, "refuse-this"))[-1]
        crashed = (await follow(queue, "crash-this"))[-1]
        assert refused == Broke("this engine does not do that", "refused")
        assert isinstance(crashed, Broke) and crashed.kind == "failed"
        assert "illegal memory access" in crashed.reason
        assert isinstance((await follow(queue, "fine"))[-1], Done)


async def test_the_wait_is_estimated_from_the_measured_speed(backend) -> None:
    renderer = PacedRenderer(step_s=0.05)
    async with backend(renderer) as queue:
        await queue.submit(job("measured"))
        assert isinstance((await follow(queue, "measured"))[-1], Done)
        renderer.gate.clear()
        await queue.submit(job("blocker"))
        await until_running(queue, "blocker")
        await queue.submit(job("waiting"))
        async for event in queue.events("waiting"):
            assert isinstance(event, Waiting)
            assert event.position == 1
            assert event.eta_s is not None and 0.1 < event.eta_s < 5
            break
        renderer.gate.set()
        assert isinstance((await follow(queue, "waiting"))[-1], Done)
