"""What the side-by-side benchmarks (bench/discord.py, bench/telegram.py) share: the
percentile they report and stopping the two bot processes they compare."""

from __future__ import annotations

import asyncio
import contextlib
import signal


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def stop(*processes: asyncio.subprocess.Process) -> None:
    """SIGTERM each (a clean stop is part of what is measured), then wait for it."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
