"""A burst of reservations, commits and refunds against one database file, for the
crash test: `python -m tests.support.helpers.reservation_burst DB SEED OPS`. Prints a line
every 25 operations so the parent knows how far it got before it kills us."""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import UTC, datetime, timedelta

from storage import Caps, Store

CAPS = Caps(
    user_daily_mc=50_000,
    user_monthly_mc=400_000,
    user_concurrent=4,
    guild_daily_mc=200_000,
    global_open=60,
)


async def main(path: str, seed: int, ops: int) -> None:
    rng = random.Random(seed)
    now = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    open_jobs: list[str] = []
    async with await Store.open(path) as store:
        for n in range(ops):
            now += timedelta(seconds=rng.randint(0, 30))  # crosses midnight on the way
            if open_jobs and rng.random() < 0.45:
                job = open_jobs.pop(rng.randrange(len(open_jobs)))
                if rng.random() < 0.5:
                    await store.ledger.commit(job, now=now)
                else:
                    await store.ledger.refund(job, reason="crash-test", now=now)
            else:
                job = f"p{seed}-{n}"
                outcome = await store.ledger.reserve(
                    job,
                    user_key=f"discord:{rng.randrange(20)}",
                    guild_key=rng.choice([None, "discord:500", "discord:501"]),
                    amount_mc=rng.choice([1000, 1500, 4000, 9000]),
                    caps=CAPS,
                    now=now,
                )
                if outcome.granted:
                    open_jobs.append(job)
            if n % 25 == 0:
                print(n, flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
