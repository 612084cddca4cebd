"""The SQLite database: connections, pragmas, numbered migrations, transactions.

One writer connection, used only inside `transaction()`: an asyncio lock serialises
the coroutines of this process and `BEGIN IMMEDIATE` takes SQLite's write lock up
front, so other processes (the CLI beside a running bot) wait on `busy_timeout`
instead of failing. A deferred `BEGIN` that later upgrades to a write fails with
"database is locked" under concurrency whatever the timeout, hence IMMEDIATE.
Reads use a second connection: under WAL they never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

Connection = aiosqlite.Connection
Row = aiosqlite.Row

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StorageError(Exception):
    """The database cannot be used as it is (newer schema, unreadable file...)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The numbered SQL files shipped in `storage/migrations`, in order, gap-free."""
    found = []
    for entry in (resources.files("storage") / "migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise StorageError(f"migration {migration.name} breaks the numbering at {expected}")
    return found


MIGRATIONS = load_migrations()
SCHEMA_VERSION = MIGRATIONS[-1].version


def timestamp(moment: datetime) -> str:
    """Fixed-width UTC ISO text: sorts as it reads."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Database:
    """Open with `await Database.open(path)`; close with `await db.close()`."""

    def __init__(self, path: Path, writer: Connection, reader: Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: Path | str, *, busy_timeout_ms: int = 5000, migrate: bool = True
    ) -> Database:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, busy_timeout_ms)
        reader = None
        try:
            await _enable_wal(writer, busy_timeout_ms)
            db_version = await _user_version(writer)
            if db_version > SCHEMA_VERSION:
                raise StorageError(
                    f"{path} has schema version {db_version}, newer than this release "
                    f"knows ({SCHEMA_VERSION}); upgrade framepack-bot"
                )
            if migrate:
                await apply_migrations(writer)
            reader = await _connect(path, busy_timeout_ms)
            await reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await writer.close()
            if reader is not None:
                await reader.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        async with self._write_lock:
            await self._reader.close()
            await self._writer.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A write transaction: committed on normal exit, rolled back on any error.

        Safe under cancellation at any await: a cancelled BEGIN or COMMIT still runs on
        the connection's thread, so the rollback is queued behind it (the thread runs
        calls in order) rather than racing it."""
        async with self._write_lock:
            pending = asyncio.ensure_future(self._writer.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(pending)
                yield self._writer
                pending = asyncio.ensure_future(self._writer.execute("COMMIT"))
                await asyncio.shield(pending)
            except BaseException:
                await asyncio.shield(self._abandon(pending))
                raise

    async def _abandon(self, pending: asyncio.Future[Any]) -> None:
        with contextlib.suppress(Exception):
            await pending
        if self._writer.in_transaction:
            await self._writer.execute("ROLLBACK")

    async def write(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        """One write statement in its own transaction; returns its RETURNING rows.

        A single write statement is atomic and takes SQLite's write lock before it
        reads anything (it never upgrades from a read lock), so it is as safe as
        `BEGIN IMMEDIATE ... COMMIT` at a third of the round trips to the connection's
        thread. The lock keeps it out of another coroutine's open transaction.
        """
        async with self._write_lock:
            return list(await self._writer.execute_fetchall(sql, params))

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        return await _user_version(self._reader)

    async def schema(self) -> list[tuple[str, str, str]]:
        """(type, name, sql) of every table and index: what migrations must agree on."""
        rows = await self.fetch_all(
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        )
        return [(r["type"], r["name"], r["sql"] or "") for r in rows]


async def _connect(path: Path, busy_timeout_ms: int) -> Connection:
    # isolation_level=None: the sqlite3 module issues no implicit BEGIN; we do.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute("PRAGMA foreign_keys = ON")
    # 64 MiB of page cache (the default is 2 MiB): once the ledger outgrows the
    # default, every reservation re-reads pages through the OS and bench/quota.py
    # drops from ~3.8k to ~2.3k reservations/s.
    await conn.execute("PRAGMA cache_size = -65536")
    return conn


async def _enable_wal(conn: Connection, busy_timeout_ms: int) -> None:
    """Switch a new file to WAL (persistent, so later opens only read the mode). The
    switch takes an exclusive lock without consulting the busy handler, so two processes
    creating the database at the same moment retry here instead of failing."""
    deadline = asyncio.get_running_loop().time() + max(1.0, busy_timeout_ms / 1000)
    while True:
        rows = await conn.execute_fetchall("PRAGMA journal_mode")
        if str(next(iter(rows))[0]).lower() == "wal":
            return
        try:
            rows = await conn.execute_fetchall("PRAGMA journal_mode = WAL")
            if str(next(iter(rows))[0]).lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise StorageError("could not switch the database to WAL: it stays locked")
        await asyncio.sleep(0.02)


async def _user_version(conn: Connection) -> int:
    rows = await conn.execute_fetchall("PRAGMA user_version")
    return int(next(iter(rows))[0])


async def apply_migrations(conn: Connection, *, up_to: int = SCHEMA_VERSION) -> int:
    """Apply each migration newer than the file's `user_version`, each in its own
    `BEGIN IMMEDIATE` transaction together with the version bump, so a crash leaves
    the file at the old version or the new one. The version is read inside the
    transaction: two processes starting at once apply each migration once."""
    while True:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            version = await _user_version(conn)
            pending = [m for m in MIGRATIONS if version < m.version <= up_to]
            if pending:
                migration = pending[0]
                for statement in split_statements(migration.sql):
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {migration.version}")
            await conn.execute("COMMIT")
        except BaseException:
            await asyncio.shield(conn.execute("ROLLBACK"))
            raise
        if not pending:
            return version


def split_statements(script: str) -> list[str]:
    """A script's statements, one by one (sqlite3's own `complete_statement` decides
    where one ends, so a trigger's inner semicolons do not split it). Needed because
    `executescript` commits first and so cannot run inside our transaction."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip() and not _only_comments(current):
                statements.append(current.strip())
            current = ""
    if current.strip() and not _only_comments(current):
        raise StorageError(f"incomplete SQL statement at the end of a migration: {current!r}")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())
