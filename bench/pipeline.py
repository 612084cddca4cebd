"""The job service's own cost per job, and its throughput with many users at once.

    python bench/pipeline.py [--jobs 100] [--users 200]

The fake provider runs in its own process and answers instantly (poll waits are zero),
so what is measured is the service: intake of a 1024x768 JPEG, the prompt check,
quota reservation with the job row, dispatch, status handling, download and MP4
checks, fitting (the small result fits as it is) and delivery to a null target. No
NudeNet (the `safety` extra adds ~20-60 ms per checked image).

1. CPU per job: jobs one after another; this process's CPU time per job (median, p90).
2. Throughput: `--users` users each submit one job at the same moment; jobs delivered
   per second and the time until the last one is delivered.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from bot.cli.run import build_providers, build_safety, build_service
from bot.config import Settings
from bot.core.api import Accepted, AnimateRequest, Requester, VideoPost
from storage import JobRecord, JobState, Store
from tests.support.fakes.serve import fake_provider_process
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


async def run(base_url: str, data: Path, jobs: int, users: int) -> None:
    os.environ["FAL_KEY"] = API_KEY
    settings = Settings(
        data_dir=data,
        providers={"fal": {"base_url": base_url}},
        quotas={"global_queue_length": 10_000, "guild_daily_credits": None},
    )
    store = await Store.open(settings.store_location)
    service = build_service(
        store,
        settings,
        build_providers(settings, sleep=no_wait),
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
    for n in range(jobs):
        cpu = time.process_time()
        outcome = await service.submit(request(n))
        assert isinstance(outcome, Accepted), outcome
        await service.join()
        cpu_per_job.append(time.process_time() - cpu)

    start = time.perf_counter()
    outcomes = await asyncio.gather(*(service.submit(request(20_000 + u)) for u in range(users)))
    accepted_at = time.perf_counter() - start
    await service.join()
    elapsed = time.perf_counter() - start
    rows = await store.db.fetch_all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
    states = {row["state"]: row["n"] for row in rows}
    await service.stop()
    await store.close()

    cpu_per_job.sort()
    print(f"service CPU per job, {jobs} jobs one at a time (provider in another process):")
    print(
        f"  median {statistics.median(cpu_per_job) * 1e3:.1f} ms, "
        f"p90 {cpu_per_job[int(0.9 * len(cpu_per_job))] * 1e3:.1f} ms, "
        f"max {cpu_per_job[-1] * 1e3:.1f} ms"
    )
    print(f"{users} users submitting at once:")
    print(
        f"  all {sum(isinstance(o, Accepted) for o in outcomes)} accepted in "
        f"{accepted_at:.2f} s; delivered in {elapsed:.2f} s "
        f"({users / elapsed:.0f} jobs/s); states {states}"
    )
    assert states.get(JobState.DELIVERED.value) == jobs + users + 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    with fake_provider_process("fal") as base_url, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(base_url, Path(tmp) / "data", args.jobs, args.users))


if __name__ == "__main__":
    main()
