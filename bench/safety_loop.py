"""The event loop's longest stall while images are safety-checked in worker threads.

    python bench/safety_loop.py [--images 20] [--rounds 3]

A ticker task sleeps 1 ms at a time and records how late each wake-up is, while
`--images` checks run through `asyncio.to_thread` (up to one per core at a time, as
the job service runs them): first with NudeNet's own `detect` (its post-processing is
a Python loop over ~2,100 boxes that holds the GIL), then with the bot's detector
(the same model, the post-processing vectorised). Rounds alternate; the figures are
the loop's lag: the longest stall and the 99th percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bot.core.safety import NudeNetDetector  # noqa: E402


async def lag_while(
    check: Callable[[Image.Image], object], images: list[Image.Image]
) -> list[float]:
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)

    slots = asyncio.Semaphore(os.cpu_count() or 2)

    async def one(image: Image.Image) -> None:
        async with slots:
            await asyncio.to_thread(check, image)

    tick = asyncio.create_task(ticker())
    await asyncio.gather(*(one(image) for image in images))
    done.set()
    await tick
    return lags


async def run(count: int, rounds: int) -> None:
    from nudenet import NudeDetector

    theirs, ours = NudeDetector(), NudeNetDetector()
    images = [Image.effect_noise((640, 480), 30 + n % 50).convert("RGB") for n in range(count)]

    def nudenet_detect(image: Image.Image) -> object:
        return theirs.detect(np.asarray(image)[:, :, ::-1].copy())

    results: dict[str, list[float]] = {"NudeNet's detect": [], "ours (vectorised)": []}
    walls: dict[str, list[float]] = {name: [] for name in results}
    for _ in range(rounds):
        for name, check in (
            ("NudeNet's detect", nudenet_detect),
            ("ours (vectorised)", ours.detect),
        ):
            started = time.perf_counter()
            results[name] += await lag_while(check, images)
            walls[name].append(time.perf_counter() - started)
    print(f"event-loop lag while {count} images are checked, {rounds} alternating rounds:")
    for name, lags in results.items():
        lags.sort()
        p99 = lags[int(0.99 * (len(lags) - 1))]
        print(
            f"  {name:18} longest stall {max(lags) * 1e3:6.1f} ms, p99 {p99 * 1e3:5.1f} ms,"
            f" checks took {statistics.median(walls[name]):.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.images, args.rounds))


if __name__ == "__main__":
    main()
