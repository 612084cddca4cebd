"""The GPU pool's queue: latency, throughput and scaling with 1, 2 and 4 workers, and
its own overhead per job against the in-process queue, in one run.

    python bench/gpu_pool.py [--jobs 16] [--step-ms 100] [--steps 10] [--tiny-jobs 8]

A real redis-server on a free loopback port (as the tests start it). Two kinds of work:

- a GPU stand-in (tests/support/paced_renderer.py): each step sleeps `--step-ms` (a GPU step
  leaves the CPU free), so the work dominates and the figures are the queue's: `--jobs`
  jobs submitted at once to 1, 2 and 4 workers (asyncio tasks of this process, each a full streaq
  worker with its own Redis connections), throughput and the scaling ratio;
  enqueue-to-start latency with an idle worker (one job at a time); and the per-job
  overhead of the Redis queue over the in-process one on the same jobs, one at a time;
- the tiny FramePack pipeline (`--tiny-jobs` jobs) in 1, 2 and 4 `framepack-bot
  worker` processes: real engine work, CPU-bound here, so it scales only as far as
  this machine's cores go.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from PIL import Image  # noqa: E402

from providers.pool.contract import Done, EngineJob, EngineQueue, Working  # noqa: E402
from providers.pool.inprocess import InProcessQueue  # noqa: E402
from providers.pool.redis import RedisQueue  # noqa: E402
from providers.pool.worker import GpuWorker, WorkerSettings  # noqa: E402
from tests.support.paced_renderer import PacedRenderer  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.subprocess_env import ROOT, isolated_env  # noqa: E402

SECRET = "bench-secret-bench-secret"


def image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (128, 72), (40, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def job(name: str, steps: int, user: int) -> EngineJob:
    return EngineJob(
        id=name, user=f"discord:{user}", priority=False, image=image(), prompt="waves",
        num_frames=30, base=64, seed=1, steps=steps, guidance=10.0,
    )  # fmt: skip


async def run_jobs(queue: EngineQueue, jobs: list[EngineJob], out: Path) -> dict[str, float]:
    """All at once; per job: submitted, started, done (monotonic seconds)."""
    times: dict[str, dict[str, float]] = {}

    async def one(j: EngineJob) -> None:
        times[j.id] = {"submitted": time.monotonic()}
        await queue.submit(j)
        async for event in queue.events(j.id):
            if isinstance(event, Working) and "started" not in times[j.id]:
                times[j.id]["started"] = time.monotonic()
            if isinstance(event, Done):
                await queue.result(j.id, out / f"{j.id}.mp4")
                times[j.id]["done"] = time.monotonic()
                return
        raise RuntimeError(f"{j.id} did not finish")

    began = time.monotonic()
    await asyncio.gather(*(one(j) for j in jobs))
    wall = time.monotonic() - began
    return {
        "wall": wall,
        "throughput": len(jobs) / wall,
        "start_p50": statistics.median(t["started"] - t["submitted"] for t in times.values()),
    }


async def one_at_a_time(queue: EngineQueue, jobs: list[EngineJob], out: Path) -> list[dict]:
    return [await run_jobs(queue, [j], out) for j in jobs]


async def stand_in(server: RedisServer, args: argparse.Namespace, tmp: Path) -> None:
    step_s = args.step_ms / 1000
    work = args.steps * step_s
    print(f"GPU stand-in: {args.steps} steps x {args.step_ms} ms = {work:.1f} s of work a job")
    throughput = {}
    for count in (1, 2, 4):
        workers = [
            GpuWorker(
                WorkerSettings(
                    server.url, SECRET, tmp / f"w{count}-{n}", queue=f"q{count}",
                    worker_id=f"w{count}-{n}",
                ),
                [PacedRenderer(step_s)],
            )
            for n in range(count)
        ]  # fmt: skip
        serving = [asyncio.create_task(w.serve()) for w in workers]
        queue = RedisQueue(server.url, secret=SECRET, queue=f"q{count}", poll_s=0.05)
        try:
            jobs = [job(f"s{count}-{n}", args.steps, n) for n in range(args.jobs)]
            result = await run_jobs(queue, jobs, tmp)
            latency = await one_at_a_time(
                queue, [job(f"l{count}-{n}", 1, n) for n in range(5)], tmp
            )
        finally:
            await queue.aclose()
            for task in serving:
                task.cancel()
            await asyncio.gather(*serving, return_exceptions=True)
        throughput[count] = result["throughput"]
        ideal = count / work
        print(
            f"  {count} worker(s): {args.jobs} jobs in {result['wall']:.2f} s, "
            f"{result['throughput']:.2f} jobs/s (ideal {ideal:.2f}), scaling "
            f"{result['throughput'] / throughput[1]:.2f}x; enqueue-to-start with an idle "
            f"worker p50 {statistics.median(r['start_p50'] for r in latency) * 1e3:.0f} ms"
        )

    # The queue's own cost: the same jobs one at a time, in-process against Redis.
    rounds = 10
    jobs = [job(f"o-{n}", args.steps, n) for n in range(rounds)]
    inprocess = InProcessQueue(lambda: PacedRenderer(step_s), tmp / "inprocess")
    ours = await one_at_a_time(inprocess, jobs, tmp)
    await inprocess.aclose()
    worker = GpuWorker(
        WorkerSettings(server.url, SECRET, tmp / "o", queue="o"), [PacedRenderer(step_s)]
    )
    serving = asyncio.create_task(worker.serve())
    queue = RedisQueue(server.url, secret=SECRET, queue="o", poll_s=0.05)
    theirs = await one_at_a_time(queue, [job(f"r-{n}", args.steps, n) for n in range(rounds)], tmp)
    await queue.aclose()
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)
    a = statistics.median(r["wall"] for r in ours)
    b = statistics.median(r["wall"] for r in theirs)
    print(
        f"  one job at a time (median of {rounds}): in-process {a:.3f} s, Redis pool "
        f"{b:.3f} s: the pool's own overhead {(b - a) * 1e3:.0f} ms a job "
        f"({b / a:.2f}x on {work:.1f} s of work)"
    )


async def tiny(server: RedisServer, args: argparse.Namespace, tmp: Path) -> None:
    from tests.support import tiny_framepack
    from tests.support.tiny_framepack import engine_env

    folders = tiny_framepack.save_weights(tiny_framepack.pipeline(tmp / "scratch"), tmp / "wts")
    print(f"tiny FramePack pipeline on the CPU ({os.cpu_count()} cores), worker processes:")
    throughput = {}
    for count in (1, 2, 4):
        env = isolated_env(
            tmp / f"tiny{count}",
            FPBOT_PROVIDERS__LOCAL__REDIS_URL=server.url,
            FPBOT_PROVIDERS__LOCAL__SECRET=SECRET,
            FPBOT_PROVIDERS__LOCAL__QUEUE=f"t{count}",
            OMP_NUM_THREADS="1",
            **engine_env(folders),
        )
        env["FPBOT_ENGINE__BUCKETS"] = json.dumps({"480p": 64, "720p": 96})
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "worker", "--worker-id", f"t{count}-{n}",
                cwd=ROOT, env=env, stderr=asyncio.subprocess.DEVNULL,
            )
            for n in range(count)
        ]  # fmt: skip
        queue = RedisQueue(server.url, secret=SECRET, queue=f"t{count}", poll_s=0.05)
        try:
            # Until every worker has loaded its engine and says it is alive.
            while await queue.live_workers() < count:  # noqa: ASYNC110 (other processes)
                await asyncio.sleep(0.2)
            jobs = [job(f"t{count}-{n}", 4, n) for n in range(args.tiny_jobs)]
            result = await run_jobs(queue, jobs, tmp)
        finally:
            await queue.aclose()
            for process in processes:
                process.terminate()
            await asyncio.gather(*(p.wait() for p in processes))
        throughput[count] = result["throughput"]
        print(
            f"  {count} worker(s): {args.tiny_jobs} jobs in {result['wall']:.2f} s, "
            f"{result['throughput']:.2f} jobs/s, scaling "
            f"{result['throughput'] / throughput[1]:.2f}x"
        )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        server = RedisServer(tmp / "redis")
        server.start()
        try:
            await stand_in(server, args, tmp)
            if args.tiny_jobs:
                await tiny(server, args, tmp)
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--step-ms", type=float, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tiny-jobs", type=int, default=8)
    asyncio.run(main(parser.parse_args()))
