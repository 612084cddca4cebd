"""The job service's own cost per job, and its throughput with many users at once.

    python bench/pipeline.py [--jobs 100] [--users 200] [--store both|sqlite|postgresql]

The fake provider runs in its own process and answers instantly (poll waits are zero),
so what is measured is the service: intake of a 1024x768 JPEG, the prompt check,
quota reservation with the job row, dispatch, status handling, download and MP4
checks, fitting (the small result fits as it is) and delivery to a null target. No
NudeNet (the `safety` extra adds ~20-60 ms per checked image).

1. CPU per job: jobs one after another; this process's CPU time per job (median, p90).
2. Throughput: `--users` users each submit one job at the same moment; jobs delivered
   per second and the time until the last one is delivered.

Both on the SQLite store and on PostgreSQL (a server of the bench's own, started as the
tests start theirs, on loopback; its CPU is counted apart, from /proc), one after the
other in one run, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image
from pydantic import SecretStr

from bot.cli.run import build_providers, build_safety, build_service
from bot.config import Settings
from bot.core.api import Accepted, AnimateRequest, Requester, VideoPost
from storage import JobRecord, JobState, Store
from tests.support.fakes.serve import fake_provider_process
from tests.support.postgres_server import PostgresServer
from tests.support.provider_world import API_KEY


class NullDelivery:
    def upload_limit(self, job: JobRecord) -> int:
        return 10 * 2**20

    async def deliver(self, job: JobRecord, post: VideoPost, *, maybe_posted: bool) -> dict:
        return {"message_id": job.id}


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


def photo() -> bytes:
    image = Image.radial_gradient("L").convert("RGB").resize((1024, 768))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class Figures:
    cpu_median_ms: float
    cpu_p90_ms: float
    server_cpu_ms: float | None  # the database server's, per job (PostgreSQL only)
    accepted_s: float
    delivered_s: float
    jobs_per_s: float


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and all its descendants, from /proc (PostgreSQL's
    backends are its postmaster's children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


async def run(
    base_url: str,
    data: Path,
    jobs: int,
    users: int,
    database: SecretStr | None = None,
    server_pid: int | None = None,
) -> Figures:
    os.environ["FAL_KEY"] = API_KEY
    settings = Settings(
        data_dir=data,
        providers={"fal": {"base_url": base_url}},
        quotas={"global_queue_length": 10_000, "guild_daily_credits": None},
        storage={"database": database} if database else {},
    )
    store = await Store.open(settings.store_location)
    providers = build_providers(settings, sleep=no_wait)
    service = build_service(
        store,
        settings,
        providers,
        build_safety(settings, with_detector=False),
        delivery={"discord": NullDelivery()},
        sleep=no_wait,
    )
    await service.start()
    image = photo()

    def request(user: int) -> AnimateRequest:
        who = Requester("discord", f"discord:{user}", "discord:1", "discord:2", "3")
        return AnimateRequest(
            who, "the lighthouse beam sweeps the fog", image, None, {"num_frames": 90, "seed": user}
        )

    for warmup in range(3):
        await service.submit(request(10_000 + warmup))
        await service.join()

    cpu_per_job = []
    server_start = tree_cpu_s(server_pid) if server_pid else 0.0
    for n in range(jobs):
        cpu = time.process_time()
        outcome = await service.submit(request(n))
        assert isinstance(outcome, Accepted), outcome
        await service.join()
        cpu_per_job.append(time.process_time() - cpu)
    server_ms = (tree_cpu_s(server_pid) - server_start) / jobs * 1e3 if server_pid else None

    start = time.perf_counter()
    outcomes = await asyncio.gather(*(service.submit(request(20_000 + u)) for u in range(users)))
    accepted_at = time.perf_counter() - start
    await service.join()
    elapsed = time.perf_counter() - start
    rows = await store.db.fetch_all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
    states = {row["state"]: row["n"] for row in rows}
    await service.stop()
    await store.close()
    for provider in providers.values():
        await provider.aclose()

    cpu_per_job.sort()
    assert states.get(JobState.DELIVERED.value) == jobs + users + 3, states
    assert all(isinstance(o, Accepted) for o in outcomes)
    return Figures(
        statistics.median(cpu_per_job) * 1e3,
        cpu_per_job[int(0.9 * len(cpu_per_job))] * 1e3,
        server_ms,
        accepted_at,
        elapsed,
        users / elapsed,
    )


def report(jobs: int, users: int, results: dict[str, Figures]) -> None:
    print(f"service CPU per job, {jobs} jobs one at a time (provider in another process);")
    print(f"{users} users submitting at once:")
    print(
        "| store | CPU/job median | p90 | DB server CPU/job | all accepted | delivered | jobs/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, f in results.items():
        server = f"{f.server_cpu_ms:.1f} ms" if f.server_cpu_ms is not None else "(in process)"
        print(
            f"| {name} | {f.cpu_median_ms:.1f} ms | {f.cpu_p90_ms:.1f} ms | {server} "
            f"| {f.accepted_s:.2f} s | {f.delivered_s:.2f} s | {f.jobs_per_s:.0f} |"
        )
    if {"sqlite", "postgresql"} <= results.keys():
        lite, pg = results["sqlite"], results["postgresql"]
        print(
            f"postgresql / sqlite: CPU per job {pg.cpu_median_ms / lite.cpu_median_ms:.2f}x, "
            f"burst accepted in {pg.accepted_s / lite.accepted_s:.2f}x the time, "
            f"jobs/s {pg.jobs_per_s / lite.jobs_per_s:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--store", choices=["both", "sqlite", "postgresql"], default="both")
    args = parser.parse_args()
    results: dict[str, Figures] = {}
    with fake_provider_process("fal") as base_url, tempfile.TemporaryDirectory() as tmp:
        if args.store in ("both", "sqlite"):
            results["sqlite"] = asyncio.run(
                run(base_url, Path(tmp) / "sqlite", args.jobs, args.users)
            )
        if args.store in ("both", "postgresql"):
            server = PostgresServer()
            server.start()
            try:
                assert server.process is not None
                results["postgresql"] = asyncio.run(
                    run(
                        base_url,
                        Path(tmp) / "postgresql",
                        args.jobs,
                        args.users,
                        server.new_database(),
                        server.process.pid,
                    )
                )
            finally:
                server.stop()
    report(args.jobs, args.users, results)


if __name__ == "__main__":
    main()
