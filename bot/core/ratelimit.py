"""Per-user request rate, shared by every way in of a platform (a command, a menu, a
reply) so that switching between them gains nothing — and by every bot process on the
store, so that a user whose requests land on several processes (Discord shards, Telegram
webhooks behind a load balancer) gets the same rate as on one.

Written here rather than borrowed: the core imports no chat library (discord.py's
`Cooldown` is this rule, but Discord's and per process), and aiolimiter, the rate
limiter already installed, makes callers wait where a bot must refuse at once and say
for how long. The count itself is one statement in the store (`storage.request_windows`).
"""

from __future__ import annotations

from collections.abc import Callable

from storage import RequestWindows

FORGET_EVERY = 1000  # requests counted by this process between sweeps of ended windows


class RequestRate:
    """At most `rate` requests per user in a window of `per_s` seconds that starts
    with their first request (the rule of discord.py's Cooldown). `clock`: Unix seconds."""

    def __init__(
        self,
        windows: RequestWindows,
        name: str,
        rate: int,
        per_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.name, self.rate, self.per_s = name, rate, per_s
        self._windows = windows
        self._clock = clock
        self._hits = 0

    async def hit(self, user: object) -> float | None:
        """Count one request; the seconds to wait if it is one too many, else None."""
        now = self._clock()
        started, used = await self._windows.hit(self.name, str(user), now=now, per_s=self.per_s)
        self._hits += 1
        if self._hits % FORGET_EVERY == 0:
            await self._windows.forget_before(self.name, now - self.per_s)
        if used > self.rate:
            return max(self.per_s - (now - started), 0.001)
        return None
