"""Request windows: how many requests a user made in the current window of a rate."""

from __future__ import annotations

from storage.db import Database

# A window that began before `expired` is over: the request starts a new one. One
# statement, so two processes counting the same user at once both count (the row is
# locked by the first; SET reads the row as it was, in both dialects).
_HIT = """
INSERT INTO request_windows (rate, user_key, started, used) VALUES (:rate, :user, :now, 1)
ON CONFLICT (rate, user_key) DO UPDATE SET
    started = CASE WHEN request_windows.started < :expired THEN excluded.started
                   ELSE request_windows.started END,
    used = CASE WHEN request_windows.started < :expired THEN 1
                ELSE request_windows.used + 1 END
RETURNING started, used
"""


class RequestWindows:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hit(self, rate: str, user_key: str, *, now: float, per_s: float) -> tuple[float, int]:
        """Count one request; returns its window's start and the requests in it (this
        one included)."""
        rows = await self._db.write(
            _HIT, {"rate": rate, "user": user_key, "now": now, "expired": now - per_s}
        )
        return float(rows[0]["started"]), int(rows[0]["used"])

    async def forget_before(self, rate: str, moment: float) -> None:
        """Drop the windows of `rate` that began before `moment` (over, and forgotten)."""
        await self._db.write(
            "DELETE FROM request_windows WHERE rate = ? AND started < ?", (rate, moment)
        )
