"""Exactness under concurrency: 10,000 reservations from 100 tasks over 100 users."""

from __future__ import annotations

import asyncio
import random

from storage import Caps, Store
from tests.conftest import FakeClock

USERS = 100
TASKS = 100
PER_TASK = 100
COST_MC = 1000


def daily_cap_mc(user: int) -> int:
    # From 0 to 149 credits: some users run dry, others never reach their cap.
    return (user * 37 % 150) * 1000


async def test_each_user_gets_exactly_min_of_limit_and_demand(store: Store, clock: FakeClock):
    rng = random.Random(20261121)
    requests = [(user, n) for user in range(USERS) for n in range(TASKS * PER_TASK // USERS)]
    rng.shuffle(requests)
    demand = {user: TASKS * PER_TASK // USERS for user in range(USERS)}

    async def worker(batch: list[tuple[int, int]]) -> list[tuple[int, bool]]:
        results = []
        for user, n in batch:
            caps = Caps(daily_cap_mc(user), None, None, None, None)
            outcome = await store.ledger.reserve(
                f"u{user}-{n}",
                user_key=f"discord:{user}",
                guild_key=None,
                amount_mc=COST_MC,
                caps=caps,
                now=clock(),
            )
            results.append((user, outcome.granted))
        return results

    batches = [requests[i::TASKS] for i in range(TASKS)]
    results = await asyncio.gather(*(worker(batch) for batch in batches))

    granted = dict.fromkeys(range(USERS), 0)
    for user, ok in (r for batch in results for r in batch):
        granted[user] += ok
    expected = {user: min(daily_cap_mc(user) // COST_MC, demand[user]) for user in range(USERS)}
    assert granted == expected
    assert sum(len(b) for b in results) == TASKS * PER_TASK
    for user in range(USERS):
        day = (await store.ledger.usage("user", f"discord:{user}", clock()))["day"]
        assert day.used == expected[user] * COST_MC
    assert await store.ledger.verify() == []
