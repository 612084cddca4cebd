"""The per-user request rate every platform applies to its ways in."""

from __future__ import annotations

from bot.core.ratelimit import MAX_TRACKED, RequestRate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_allows_the_rate_then_says_how_long_to_wait() -> None:
    clock = Clock()
    rate = RequestRate(3, 60, clock)
    assert [rate.hit("a") for _ in range(3)] == [None, None, None]
    clock.now += 20
    assert rate.hit("a") == 40  # the window began with the first request
    assert rate.hit("b") is None  # others have their own
    clock.now += 40.5
    assert rate.hit("a") is None  # a new window


def test_forgotten_users_free_their_memory() -> None:
    clock = Clock()
    rate = RequestRate(1, 10, clock)
    for user in range(MAX_TRACKED + 1):
        rate.hit(user)
    clock.now += 11
    rate.hit("late")
    assert len(rate._windows) == 1
