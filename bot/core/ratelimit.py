"""Per-user request rate, shared by every way in of a platform (a command, a menu, a
reply) so that switching between them gains nothing.

Written here rather than borrowed: the core imports no chat library (discord.py's
`Cooldown` is this rule, but Discord's), and aiolimiter, the rate limiter already
installed, makes callers wait where a bot must refuse at once and say for how long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

MAX_TRACKED = 10_000  # users; beyond that, buckets whose window has passed are dropped


@dataclass
class _Window:
    start: float
    left: int


class RequestRate:
    """At most `rate` requests per user in a window of `per_s` seconds that starts
    with their first request (the rule of discord.py's Cooldown)."""

    def __init__(
        self, rate: int, per_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.per_s = rate, per_s
        self._clock = clock
        self._windows: dict[Hashable, _Window] = {}

    def hit(self, user: Hashable) -> float | None:
        """Count one request; the seconds to wait if it is one too many, else None."""
        now = self._clock()
        if len(self._windows) > MAX_TRACKED:
            self._windows = {k: w for k, w in self._windows.items() if now - w.start <= self.per_s}
        window = self._windows.get(user)
        if window is None or now - window.start > self.per_s:
            window = self._windows[user] = _Window(now, self.rate)
        if window.left == 0:
            return self.per_s - (now - window.start)
        window.left -= 1
        return None
