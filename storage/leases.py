"""Leases: a named thing one process does at a time, held while renewed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Database, parse_timestamp, timestamp


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    until: datetime


class Leases:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def take(
        self,
        name: str,
        owner: str,
        *,
        now: datetime,
        for_s: float,
        replacing: str | None = None,
    ) -> Lease:
        """Take or renew `name` for `owner` until now + for_s — unless another owner
        holds it still (`replacing`: an owner known dead, whose lease is taken at
        once). Returns the lease as it stands: `owner`'s when taken."""
        until = timestamp(now + timedelta(seconds=for_s))
        taken = await self._db.write(
            "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until"
            " WHERE leases.owner = excluded.owner OR leases.until <= ? OR leases.owner = ?"
            " RETURNING owner, until",
            (name, owner, until, timestamp(now), replacing),
        )
        if taken:
            return Lease(name, owner, parse_timestamp(str(taken[0]["until"])))
        held = await self._db.fetch_one("SELECT owner, until FROM leases WHERE name = ?", (name,))
        assert held is not None  # it was there, or the insert would have returned it
        return Lease(name, str(held["owner"]), parse_timestamp(str(held["until"])))

    async def live(self, prefix: str, *, now: datetime) -> dict[str, Lease]:
        """Every lease whose name starts with `prefix` and whose time has not run out."""
        rows = await self._db.fetch_all(
            "SELECT name, owner, until FROM leases WHERE substr(name, 1, ?) = ? AND until > ?",
            (len(prefix), prefix, timestamp(now)),
        )
        return {
            str(r["name"]): Lease(str(r["name"]), str(r["owner"]), parse_timestamp(str(r["until"])))
            for r in rows
        }

    async def release(self, name: str, owner: str) -> None:
        """Let go of `name` if `owner` holds it (a clean stop: the next may take it now)."""
        await self._db.write("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
