"""The per-user request rate every platform applies to its ways in, counted in the store
(on both backends), so that several bot processes on one store count the same requests."""

from __future__ import annotations

import asyncio

from bot.core import ratelimit
from bot.core.ratelimit import RequestRate
from storage import Store, StoreLocation


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_window_allows_the_rate_then_says_how_long_to_wait(store: Store) -> None:
    clock = Clock()
    rate = RequestRate(store.windows, "discord:animate", 3, 60, clock)
    assert [await rate.hit("a") for _ in range(3)] == [None, None, None]
    clock.now += 20
    assert await rate.hit("a") == 40  # the window began with the first request
    assert await rate.hit("b") is None  # others have their own
    other_platform = RequestRate(store.windows, "telegram:animate", 3, 60, clock)
    assert await other_platform.hit("a") is None  # and each rate its own counts
    clock.now += 40  # exactly a window later: not yet over
    assert await rate.hit("a") is not None
    clock.now += 0.5
    assert await rate.hit("a") is None  # a new window


async def test_two_processes_on_one_store_count_the_same_requests(
    store_location: StoreLocation,
) -> None:
    """Each process its own Store (its own connections): together they allow the rate,
    not the rate each — also when their requests come at the same moment."""
    clock = Clock()
    async with await Store.open(store_location) as one, await Store.open(store_location) as two:
        rates = [RequestRate(s.windows, "discord:animate", 5, 60, clock) for s in (one, two)]
        answers = await asyncio.gather(*(rates[n % 2].hit("user") for n in range(12)))
        assert sum(answer is None for answer in answers) == 5
        assert all(answer == 60 for answer in answers if answer is not None)


async def test_ended_windows_are_forgotten(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(ratelimit, "FORGET_EVERY", 10)
    clock = Clock()
    rate = RequestRate(store.windows, "discord:animate", 1, 10, clock)
    for user in range(9):
        await rate.hit(user)
    clock.now += 11
    await rate.hit("late")  # the tenth: the nine ended windows go
    rows = await store.db.fetch_all("SELECT user_key FROM request_windows")
    assert [row["user_key"] for row in rows] == ["late"]
