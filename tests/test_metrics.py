"""The bot's Prometheus metrics, kept from the real job service's updates (the GPU
worker's are in tests/test_pool_redis.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client import generate_latest

from bot.core.metrics import BotMetrics
from tests.support.redis_server import free_port
from tests.support.service_world import animate, service_world


def sample(text: str, name: str) -> float:
    """The value of one sample; 0 for a labelled one not seen yet."""
    found = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(found[0].split()[-1]) if found else 0.0


async def test_jobs_by_state_endings_durations_failures_and_deliveries(tmp_path: Path) -> None:
    metrics = BotMetrics()
    async with service_world(tmp_path) as world:
        world.service.subscribe(metrics)
        accepted = await world.service.submit(animate(num_frames=60))
        await world.service.join()
        delivered = await world.store.jobs.require(accepted.job_id)
        world.fake.faults.fail_job = "GPU fell over"
        await world.service.submit(animate(num_frames=60, user=2))
        await world.service.join()
        port = free_port()
        metrics.serve(port)
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    assert text == generate_latest(metrics.registry).decode()
    assert sample(text, 'fpbot_jobs_ended_total{provider="fal",state="delivered"}') == 1
    assert sample(text, 'fpbot_jobs_ended_total{provider="fal",state="failed"}') == 1
    assert sample(text, 'fpbot_provider_errors_total{provider="fal"}') == 1
    assert sample(text, 'fpbot_deliveries_total{platform="discord"}') == 1
    # What the delivered job was charged; the failed one was refunded: nothing.
    assert delivered.cost_mc > 0
    assert sample(text, 'fpbot_spent_credits_total{provider="fal"}') == delivered.cost_mc / 1000
    assert sample(text, 'fpbot_job_duration_seconds_count{state="delivered"}') == 1
    assert sample(text, "fpbot_queue_length") == 0
    assert sample(text, 'fpbot_jobs{state="running"}') == 0


async def test_unfinished_jobs_are_counted_by_state(tmp_path: Path) -> None:
    metrics = BotMetrics()
    async with service_world(tmp_path, fake_polls=(50, 50)) as world:
        world.service.subscribe(metrics)
        await world.service.submit(animate())

        def now(name: str) -> float:
            return sample(generate_latest(metrics.registry).decode(), name)

        async with asyncio.timeout(20):
            while now('fpbot_jobs{state="submitted"}') < 1:  # noqa: ASYNC110 (a registry)
                await asyncio.sleep(0.01)
        assert now("fpbot_queue_length") == 1 and now('fpbot_jobs{state="queued"}') == 0
