"""Run one fake provider as its own process (for benchmarks and manual trials):

    python -m tests.support.fakes.serve fal [--key KEY] [--queue-polls 2] [--running-polls 2]

Prints the base URL on the first line, then serves until stdin closes or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.provider_world import API_KEY, FAKES


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(FAKES))
    parser.add_argument("--key", default=API_KEY)
    parser.add_argument("--queue-polls", type=int, default=2)
    parser.add_argument("--running-polls", type=int, default=2)
    args = parser.parse_args()
    fake = FAKES[args.name](
        args.key, queue_polls=args.queue_polls, running_polls=args.running_polls
    )
    print(await fake.start(), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or stop.set())
    await stop.wait()
    await fake.stop()


@contextmanager
def fake_provider_process(name: str) -> Iterator[str]:
    """Run a fake provider as its own process (so its CPU is not the caller's) and yield
    its base URL; closing its stdin stops it."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fakes.serve", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
