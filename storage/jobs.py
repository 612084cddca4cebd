"""Job rows: every state change is one row update, so a restart can pick any job up."""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from storage.db import Connection, Database, Row, parse_timestamp, timestamp


class JobState(StrEnum):
    QUEUED = "queued"  # accepted and charged, waiting for a backend slot
    SUBMITTING = "submitting"  # the submit is on its way: after a crash, never resend
    SUBMITTED = "submitted"  # handed to a backend; provider_handle is saved
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # result downloaded, not yet posted
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"  # stopped by a safety check

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.BLOCKED}
)
# Every other state: a job in flight, which a restart resumes.
ACTIVE_STATES = frozenset(set(JobState) - FINAL_STATES)

# Which state may follow which; anything else is a bug in the caller.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset(
        {JobState.SUBMITTING, JobState.FAILED, JobState.CANCELLED, JobState.BLOCKED}
    ),
    JobState.SUBMITTING: frozenset({JobState.SUBMITTED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUBMITTED: frozenset(
        {
            JobState.RUNNING,
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.BLOCKED,
        }
    ),
    JobState.RUNNING: frozenset(
        {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.BLOCKED}
    ),
    JobState.SUCCEEDED: frozenset({JobState.DELIVERED, JobState.FAILED, JobState.BLOCKED}),
    JobState.DELIVERED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.BLOCKED: frozenset(),
}


class InvalidTransition(Exception):
    pass


class DuplicateSource(Exception):
    """A job was already made from this platform event (see NewJob.source)."""


def new_job_id() -> str:
    """Short, URL- and custom_id-safe, hard to guess: 12 hex characters."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class NewJob:
    platform: str
    user_key: str
    guild_key: str | None
    channel_id: str | None
    request: dict[str, Any]
    provider: str
    cost_mc: int
    reply_ref: dict[str, Any] = field(default_factory=dict)
    # The platform event the job is made from ("telegram:<chat>:<message>", ...): at
    # most one job per event, however often the platform delivers it.
    source: str | None = None
    # The process that accepted it runs it, while it renews the lease (see claim).
    owner: str | None = None
    lease_until: datetime | None = None
    id: str = field(default_factory=new_job_id)


@dataclass(frozen=True)
class JobRecord:
    id: str
    platform: str
    user_key: str
    guild_key: str | None
    channel_id: str | None
    reply_ref: dict[str, Any]
    request: dict[str, Any]
    provider: str
    provider_handle: dict[str, Any] | None
    state: JobState
    progress: float
    status_detail: dict[str, Any]
    error: str | None
    cost_mc: int
    seed: int | None
    result_path: str | None
    delivered: bool
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    delivered_at: datetime | None
    # Posts begun (and maybe done) for this job, and the message that carries the video.
    delivery_attempts: int = 0
    posted_ref: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Row) -> JobRecord:
        def when(value: str | None) -> datetime | None:
            return parse_timestamp(value) if value else None

        return cls(
            id=row["id"],
            platform=row["platform"],
            user_key=row["user_key"],
            guild_key=row["guild_key"],
            channel_id=row["channel_id"],
            reply_ref=json.loads(row["reply_ref"]),
            request=json.loads(row["request"]),
            provider=row["provider"],
            provider_handle=json.loads(row["provider_handle"]) if row["provider_handle"] else None,
            state=JobState(row["state"]),
            progress=row["progress"],
            status_detail=json.loads(row["status_detail"]),
            error=row["error"],
            cost_mc=row["cost_mc"],
            seed=row["seed"],
            result_path=row["result_path"],
            delivered=bool(row["delivered"]),
            created_at=parse_timestamp(row["created_at"]),
            updated_at=parse_timestamp(row["updated_at"]),
            finished_at=when(row["finished_at"]),
            delivered_at=when(row["delivered_at"]),
            delivery_attempts=row["delivery_attempts"],
            posted_ref=json.loads(row["posted_ref"]) if row["posted_ref"] else None,
        )


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, job: NewJob, *, now: datetime, tx: Connection) -> None:
        """Raises DuplicateSource when a job was already made from `job.source` (the
        transaction is then to be rolled back: nothing of it may stand)."""
        at = timestamp(now)
        try:
            await tx.execute(
                "INSERT INTO jobs (id, platform, user_key, guild_key, channel_id, reply_ref,"
                " request, provider, state, cost_mc, created_at, updated_at, source, owner,"
                " lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.platform,
                    job.user_key,
                    job.guild_key,
                    job.channel_id,
                    json.dumps(job.reply_ref),
                    json.dumps(job.request),
                    job.provider,
                    JobState.QUEUED.value,
                    job.cost_mc,
                    at,
                    at,
                    job.source,
                    job.owner,
                    timestamp(job.lease_until) if job.lease_until is not None else None,
                ),
            )
        except Exception as exc:
            if job.source is not None and self._db.is_unique_violation(exc, "jobs", "source"):
                raise DuplicateSource(job.source) from exc
            raise

    async def from_source(self, source: str) -> JobRecord | None:
        """The job made from this platform event, if one was."""
        row = await self._db.fetch_one("SELECT * FROM jobs WHERE source = ?", (source,))
        return JobRecord.from_row(row) if row else None

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self._db.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return JobRecord.from_row(row) if row else None

    async def require(self, job_id: str) -> JobRecord:
        """A job that must exist (its id came from our own rows); KeyError if not."""
        job = await self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    async def transition(
        self,
        job_id: str,
        to: JobState,
        *,
        now: datetime,
        tx: Connection,
        error: str | None = None,
        **fields: Any,
    ) -> JobRecord:
        """Move a job to `to`, checking the transition; extra `fields` (provider_handle,
        seed, result_path, progress, status_detail) are written in the same update."""
        sql, params = _transition(job_id, to, now, error, fields)
        rows = await tx.execute_fetchall(sql, params)
        if rows:
            return JobRecord.from_row(next(iter(rows)))
        found = await tx.execute_fetchall("SELECT state FROM jobs WHERE id = ?", (job_id,))
        raise _refused(job_id, to, next(iter(found), None))

    async def move(
        self, job_id: str, to: JobState, *, now: datetime, error: str | None = None, **fields: Any
    ) -> JobRecord:
        """`transition` as a write of its own, for a change that needs nothing else in
        its transaction: one round trip to the writer instead of three."""
        sql, params = _transition(job_id, to, now, error, fields)
        rows = await self._db.write(sql, params)
        if rows:
            return JobRecord.from_row(rows[0])
        found = await self._db.fetch_one("SELECT state FROM jobs WHERE id = ?", (job_id,))
        raise _refused(job_id, to, found)

    async def replace_handle(
        self,
        job_id: str,
        handle: dict[str, Any],
        seed: int | None,
        *,
        now: datetime,
        tx: Connection,
    ) -> None:
        """A new handle for a job already sent (a local job run again after a restart)."""
        await _update(
            tx,
            job_id,
            {"provider_handle": json.dumps(handle), "seed": seed, "updated_at": timestamp(now)},
        )

    async def unsubmit(self, job_id: str, *, now: datetime) -> bool:
        """Back to 'queued' from 'submitting', for a job whose send never started (the
        bot stopped in between); True if it was moved back."""
        rows = await self._db.write(
            "UPDATE jobs SET state = 'queued', updated_at = ?"
            " WHERE id = ? AND state = 'submitting' RETURNING id",
            (timestamp(now), job_id),
        )
        return bool(rows)

    async def progress(
        self,
        job_id: str,
        progress: float,
        detail: dict[str, Any],
        *,
        running: bool,
        now: datetime,
    ) -> JobRecord | None:
        """Record a watched job's progress (and, when `running`, that it has started) in
        one statement; None when the job is no longer being watched (cancelled, ended)."""
        rows = await self._db.write(
            "UPDATE jobs SET progress = ?, status_detail = ?, updated_at = ?,"
            " state = CASE WHEN ? THEN 'running' ELSE state END"
            " WHERE id = ? AND state IN ('submitted', 'running') RETURNING *",
            (
                min(1.0, max(0.0, progress)),
                json.dumps(detail),
                timestamp(now),
                running,
                job_id,
            ),
        )
        return JobRecord.from_row(rows[0]) if rows else None

    async def begin_delivery_attempt(self, job_id: str, *, now: datetime) -> int:
        """Count a post about to start, durably, before it starts; returns the count. A
        count above one means an earlier post may have gone through."""
        rows = await self._db.write(
            "UPDATE jobs SET delivery_attempts = delivery_attempts + 1, updated_at = ?"
            " WHERE id = ? RETURNING delivery_attempts",
            (timestamp(now), job_id),
        )
        if not rows:
            raise KeyError(job_id)
        return rows[0][0]

    async def recent_for_user(self, user_key: str, limit: int = 10) -> list[JobRecord]:
        rows = await self._db.fetch_all(
            "SELECT * FROM jobs WHERE user_key = ? ORDER BY created_at DESC, id LIMIT ?",
            (user_key, limit),
        )
        return [JobRecord.from_row(r) for r in rows]

    # --- ownership: several processes on one store ---------------------------------------------

    async def claim(
        self, owner: str, *, now: datetime, until: datetime, gone: Collection[str] = ()
    ) -> list[str]:
        """Take every unfinished job nobody holds — its owner's lease ran out, or the
        owner is in `gone`, or it has none — and renew `owner`'s own; returns the ids
        now `owner`'s, oldest first. One statement: two processes claiming at once
        never both get a job."""
        active = [s.value for s in ACTIVE_STATES]
        marks = ", ".join("?" for _ in active)
        gone_marks = ", ".join("?" for _ in gone) or "NULL"
        rows = await self._db.write(
            f"UPDATE jobs SET owner = ?, lease_until = ? WHERE state IN ({marks}) AND ("
            f" owner IS NULL OR owner = ? OR lease_until <= ? OR owner IN ({gone_marks}))"
            " RETURNING id, created_at",
            [owner, timestamp(until), *active, owner, timestamp(now), *gone],
        )
        return [str(r["id"]) for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]

    async def renew(self, owner: str, *, until: datetime) -> int:
        """Move `owner`'s leases on; how many unfinished jobs it holds."""
        active = [s.value for s in ACTIVE_STATES]
        marks = ", ".join("?" for _ in active)
        rows = await self._db.write(
            f"UPDATE jobs SET lease_until = ? WHERE owner = ? AND state IN ({marks}) RETURNING id",
            [timestamp(until), owner, *active],
        )
        return len(rows)

    async def other_owners(self, owner: str) -> set[str]:
        """The other processes holding unfinished jobs."""
        active = [s.value for s in ACTIVE_STATES]
        marks = ", ".join("?" for _ in active)
        rows = await self._db.fetch_all(
            f"SELECT DISTINCT owner FROM jobs WHERE state IN ({marks})"
            " AND owner IS NOT NULL AND owner != ?",
            [*active, owner],
        )
        return {str(r["owner"]) for r in rows}

    async def in_states(self, states: Collection[JobState]) -> list[JobRecord]:
        """Oldest first: the order in which a restart re-queues them."""
        marks = ", ".join("?" for _ in states)
        rows = await self._db.fetch_all(
            f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_at, id",
            [s.value for s in states],
        )
        return [JobRecord.from_row(r) for r in rows]


_WRITABLE_FIELDS = {
    "provider_handle",
    "seed",
    "result_path",
    "progress",
    "status_detail",
    "provider",
    "posted_ref",
    "request",  # a job stopped and kept: its length is what it made
    "cost_mc",  # ... and so is its charge
}


def _encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - _WRITABLE_FIELDS
    if unknown:
        raise TypeError(f"not a writable job field: {', '.join(sorted(unknown))}")
    encoded = dict(fields)
    for name in ("provider_handle", "status_detail", "posted_ref", "request"):
        if name in encoded and encoded[name] is not None:
            encoded[name] = json.dumps(encoded[name])
    return encoded


def _transition(
    job_id: str, to: JobState, now: datetime, error: str | None, fields: dict[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    """One UPDATE that makes the move only from a state allowed to precede `to` (its
    WHERE is the check) and returns the row."""
    values: dict[str, Any] = {"state": to.value, "updated_at": timestamp(now)}
    if error is not None:
        values["error"] = error
    if to.is_final:
        values["finished_at"] = timestamp(now)
    if to is JobState.DELIVERED:
        values["delivered"] = 1
        values["delivered_at"] = timestamp(now)
    values.update(_encode_fields(fields))
    sources = [state.value for state in JobState if to in TRANSITIONS[state]]
    # Column names come from the fixed sets above, never from user input.
    assignments = ", ".join(f"{column} = ?" for column in values)
    marks = ", ".join("?" for _ in sources)
    return (
        f"UPDATE jobs SET {assignments} WHERE id = ? AND state IN ({marks}) RETURNING *",
        (*values.values(), job_id, *sources),
    )


def _refused(job_id: str, to: JobState, found: Row | None) -> Exception:
    if found is None:
        return KeyError(job_id)
    return InvalidTransition(f"job {job_id}: {JobState(found['state'])} -> {to}")


async def _update(tx: Connection, job_id: str, values: dict[str, Any]) -> None:
    # Column names come from the fixed sets above, never from user input.
    assignments = ", ".join(f"{column} = ?" for column in values)
    cursor = await tx.execute(
        f"UPDATE jobs SET {assignments} WHERE id = ?", (*values.values(), job_id)
    )
    if cursor.rowcount == 0:
        raise KeyError(job_id)
