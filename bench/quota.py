"""Quota reservations per second on a real SQLite file (WAL, synchronous=NORMAL).

    python bench/quota.py [--reservations 20000] [--tasks 100] [--users 1000]

Prints reservations/s for one task in a loop and for many concurrent tasks, and the
settle (commit/refund) rate. Every reservation here is granted (roomy caps), the
worst case: a refusal writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import system_clock
from storage import Caps, Store

CAPS = Caps(
    user_daily_mc=10**12,
    user_monthly_mc=10**12,
    user_concurrent=10**6,
    guild_daily_mc=10**12,
    global_open=10**9,
)


async def reserve_many(store: Store, prefix: str, count: int, tasks: int, users: int) -> float:
    now = system_clock()

    async def worker(w: int) -> None:
        for i in range(w, count, tasks):
            await store.ledger.reserve(
                f"{prefix}-{i}",
                user_key=f"discord:{i % users}",
                guild_key=f"discord:g{i % 7}",
                amount_mc=1500,
                caps=CAPS,
                now=now,
            )

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(tasks)))
    return count / (time.perf_counter() - start)


async def settle_many(store: Store, prefix: str, count: int) -> float:
    now = system_clock()
    start = time.perf_counter()
    for i in range(count):
        if i % 2:
            await store.ledger.commit(f"{prefix}-{i}", now=now)
        else:
            await store.ledger.refund(f"{prefix}-{i}", reason="bench", now=now)
    return count / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reservations", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        async with await Store.open(Path(tmp) / "bench.sqlite3") as store:
            single, concurrent, settle = [], [], []
            for r in range(args.rounds):
                single.append(
                    await reserve_many(store, f"s{r}", args.reservations // 4, 1, args.users)
                )
                concurrent.append(
                    await reserve_many(store, f"c{r}", args.reservations, args.tasks, args.users)
                )
                settle.append(await settle_many(store, f"c{r}", args.reservations // 4))
            problems = await store.ledger.verify()

    print(f"quota reservations, {args.rounds} rounds, median (min-max):")
    for label, rates in (
        ("1 task", single),
        (f"{args.tasks} concurrent tasks", concurrent),
        ("commit/refund, 1 task", settle),
    ):
        print(
            f"  {label:<24} {statistics.median(rates):8.0f}/s ({min(rates):.0f}-{max(rates):.0f})"
        )
    print(f"  ledger after the run: {'consistent' if not problems else problems[:3]}")


if __name__ == "__main__":
    asyncio.run(main())
