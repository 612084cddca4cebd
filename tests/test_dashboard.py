"""The Grafana dashboard (deploy/grafana/dashboards/framepack-bot.json) asks a real
Prometheus — Debian's, started here on a loopback port, scraping the bot's and a
worker's real /metrics endpoints — and every one of its queries parses and answers
with data once jobs have run. (Grafana itself is not run here: only its queries.)"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bot.core.metrics import BotMetrics
from providers.pool.metrics import WorkerMetrics
from tests.support.redis_server import free_port
from tests.support.service_world import animate, service_world

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "framepack-bot.json"


def queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of the dashboard."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


def test_the_dashboard_names_only_metrics_the_bot_and_workers_export() -> None:
    bot, worker = BotMetrics(), WorkerMetrics()
    exported = {
        sample
        for registry in (bot.registry, worker.registry)
        for family in registry.collect()
        for sample in (family.name, f"{family.name}_total", f"{family.name}_bucket")
    }
    named = {name for _, expr in queries() for name in re.findall(r"\bfpbot_[a-z_]+", expr)}
    assert named and named <= exported, named - exported


def test_compose_serves_the_dashboard_and_prometheus_scrapes_the_metrics_ports() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in scrape["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    assert services["bot"]["environment"]["FPBOT_METRICS__PORT"] == "9108"
    workers = [name for name in services if name.startswith("worker-")]
    assert targets == {"bot:9108", *(f"{name}:9109" for name in workers)}
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    """A Prometheus scraping two loopback ports every second: (its URL, the bot's
    metrics port, the worker's)."""
    binary = shutil.which("prometheus")
    if binary is None:  # .ci/run installs it; a developer machine may lack it
        pytest.fail("prometheus is not installed (apt-get install prometheus)")
    bot_port, worker_port, port = free_port(), free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "bot", "static_configs": [{"targets": [f"127.0.0.1:{bot_port}"]}]},
                    {
                        "job_name": "worker",
                        "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
                    },
                ],
            }
        )
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", bot_port, worker_port
    finally:
        process.terminate()
        process.wait(30)


async def test_every_dashboard_query_answers_from_a_real_prometheus(
    tmp_path: Path, prometheus: tuple[str, int, int]
) -> None:
    url, bot_port, worker_port = prometheus
    bot, worker = BotMetrics(), WorkerMetrics()
    bot.serve(bot_port)
    worker.serve(worker_port)

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def value(expr: str) -> list:
            answer = (await client.get("/api/v1/query", params={"query": expr})).json()
            assert answer["status"] == "success", (expr, answer)
            return answer["data"]["result"]

        async def scraped(expr: str) -> None:
            """Until Prometheus has a sample that makes `expr` true."""
            async with asyncio.timeout(30):
                while True:
                    try:
                        if await value(expr):
                            return
                    except httpx.TransportError:  # still starting
                        pass
                    await asyncio.sleep(0.2)

        await scraped('up{job="bot"} == 1 and on() up{job="worker"} == 1')
        async with service_world(tmp_path) as world:
            world.service.subscribe(bot)
            for round_ in (1, 2):  # a rate needs the counters seen before they grew
                await world.service.submit(animate(num_frames=60, user=round_))
                await world.service.join()
                world.fake.faults.fail_job = "GPU fell over"
                await world.service.submit(animate(num_frames=60, user=10 + round_))
                await world.service.join()
                world.fake.faults.fail_job = None
                worker.jobs.labels("done").inc()
                worker.gpu_seconds.inc(30)
                worker.busy.set(1)
                worker.queue_length.set(3)
                await scraped(f"fpbot_deliveries_total >= {round_}")
                await asyncio.sleep(1.2)  # one scrape more: the next round's baseline
        answers = {(title, expr): await value(expr) for title, expr in queries()}
    empty = [key for key, result in answers.items() if not result]
    assert not empty, empty
    numbers = {
        key: float(series["value"][1]) for key, result in answers.items() for series in result
    }
    assert all(n == n for n in numbers.values()), numbers  # no NaN: every panel has data
