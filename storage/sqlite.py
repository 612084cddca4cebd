"""The SQLite backend: connections, pragmas, numbered migrations, transactions.

One writer connection, on a thread of its own: an asyncio lock serialises the
coroutines of this process and `BEGIN IMMEDIATE` takes SQLite's write lock up front,
so other processes (the CLI beside a running bot) wait on `busy_timeout` instead of
failing. A deferred `BEGIN` that later upgrades to a write fails with "database is
locked" under concurrency whatever the timeout, hence IMMEDIATE. Reads use a second
connection (aiosqlite): under WAL they never wait for the writer.

A write transaction is best run whole on the writer's thread, in one call: `run()`.
Under a burst every job waits its turn for the writer, and each trip between the
event loop and the writer's thread waits a turn of a busy loop (tens of ms), so a
transaction of five statements awaited one by one held the writer five times as
long. `transaction()` remains for bodies that must await something else.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.db import MIGRATIONS, SCHEMA_VERSION, Connection, StorageError

Row = sqlite3.Row
T = TypeVar("T")


class SqliteConnection:
    """What a write transaction's body awaits (`tx`): execute, execute_fetchall and
    executemany, as on aiosqlite's connection. Each call is a trip to the writer's
    thread; inside `SqliteDatabase.run()` the same calls run at once, on that thread."""

    def __init__(self, conn: sqlite3.Connection, call: _Call) -> None:
        self._conn = conn
        self._call = call

    async def execute(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> sqlite3.Cursor:
        return await self._call(self._conn.execute, sql, parameters)

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[Row]:
        return await self._call(_fetchall, self._conn, sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return await self._call(self._conn.executemany, sql, parameters)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction


_Call = Callable[..., Awaitable[Any]]


def _fetchall(
    conn: sqlite3.Connection, sql: str, parameters: Sequence[Any] | Mapping[str, Any]
) -> list[Row]:
    return conn.execute(sql, parameters).fetchall()


async def _at_once(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


class SqliteDatabase:
    """Open with `await SqliteDatabase.open(path)`; close with `await db.close()`."""

    dialect = "sqlite"

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        thread: ThreadPoolExecutor,
        reader: aiosqlite.Connection,
    ) -> None:
        self.path = path
        self.location = str(path)
        self._writer = writer
        self._thread = thread
        self._reader = reader
        self._tx = SqliteConnection(writer, partial(_on_thread, thread))
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: Path | str, *, busy_timeout_ms: int = 5000, migrate: bool = True
    ) -> SqliteDatabase:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # The writer's own thread: aiosqlite has no public way to run a function on its
        # connection's thread, which is what a transaction in one call needs.
        thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        writer = await _on_thread(thread, _connect_sync, path, busy_timeout_ms)
        tx = SqliteConnection(writer, partial(_on_thread, thread))
        reader = None
        try:
            await _enable_wal(tx, busy_timeout_ms)
            db_version = await _user_version(tx)
            if db_version > SCHEMA_VERSION:
                raise StorageError(
                    f"{path} has schema version {db_version}, newer than this release "
                    f"knows ({SCHEMA_VERSION}); upgrade framepack-bot"
                )
            if migrate:
                await apply_migrations(tx)
            reader = await _connect(path, busy_timeout_ms)
            await reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await _on_thread(thread, writer.close)
            thread.shutdown(wait=False)
            if reader is not None:
                await reader.close()
            raise
        return cls(path, writer, thread, reader)

    async def close(self) -> None:
        async with self._write_lock:
            await self._reader.close()
            await _on_thread(self._thread, self._writer.close)
            self._thread.shutdown(wait=True)

    async def __aenter__(self) -> SqliteDatabase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def run(self, body: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        """Run `body(tx)` as one write transaction, whole, in one call on the writer's
        thread: committed if it returns, rolled back if it raises. The body is written
        like any other (it awaits `tx`'s methods and storage functions that take `tx`)
        but must await nothing else: there, each of those awaits completes at once, so
        the body never suspends. (One that does is refused with a RuntimeError, rolled
        back.) Once the call has started it runs to its end even if the caller is
        cancelled; the writer's thread takes calls in order, so nothing else reaches the
        connection meanwhile."""
        return await self._in_turn(_transaction_whole, self._writer, body)

    async def _in_turn(self, fn: Callable[..., T], *args: Any) -> T:
        """Hand a self-contained call (a whole transaction, or one statement) to the
        writer's thread. Not under the lock: the thread runs calls in the order they
        were handed over, back to back, so calls of many jobs need no turns of the
        event loop between them. They need only stay out of an open `transaction()`,
        which holds the lock from before its BEGIN until after its COMMIT."""
        loop = asyncio.get_running_loop()
        if self._write_lock.locked():
            async with self._write_lock:
                call = loop.run_in_executor(self._thread, partial(fn, *args))
        else:
            call = loop.run_in_executor(self._thread, partial(fn, *args))
        # Retrieved even when the caller was cancelled and will never look.
        call.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(call)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteConnection]:
        """A write transaction whose body may await other things too (each statement a
        trip to the writer's thread; prefer `run()`): committed on normal exit, rolled
        back on any error.

        Safe under cancellation at any await: a cancelled BEGIN or COMMIT still runs on
        the writer's thread, so the rollback is queued behind it (the thread runs calls
        in order) rather than racing it."""
        async with self._write_lock:
            pending = asyncio.ensure_future(self._tx.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(pending)
                yield self._tx
                pending = asyncio.ensure_future(self._tx.execute("COMMIT"))
                await asyncio.shield(pending)
            except BaseException:
                await asyncio.shield(self._abandon(pending))
                raise

    async def _abandon(self, pending: asyncio.Future[Any]) -> None:
        with contextlib.suppress(Exception):
            await pending
        if self._writer.in_transaction:
            await self._tx.execute("ROLLBACK")

    async def write(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        """One write statement in its own transaction; returns its RETURNING rows.

        A single write statement is atomic and takes SQLite's write lock before it
        reads anything (it never upgrades from a read lock), so it is as safe as
        `BEGIN IMMEDIATE ... COMMIT` in one trip to the writer's thread.
        """
        return await self._in_turn(_fetchall, self._writer, sql, params)

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        rows = await self.fetch_all("PRAGMA user_version")
        return int(rows[0][0])

    def is_unique_violation(self, exc: BaseException, table: str, column: str) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and f"{table}.{column}" in str(exc)

    async def schema(self) -> list[tuple[str, str, str]]:
        """(type, name, sql) of every table and index: what migrations must agree on."""
        rows = await self.fetch_all(
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        )
        return [(r["type"], r["name"], r["sql"] or "") for r in rows]


async def _on_thread(thread: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(thread, partial(fn, *args))


def _transaction_whole(
    conn: sqlite3.Connection, body: Callable[[Connection], Coroutine[Any, Any, T]]
) -> T:
    """On the writer's thread: BEGIN IMMEDIATE, the body driven to its end without an
    event loop (every await in it is one of `tx`'s, which complete at once), COMMIT."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        steps = body(SqliteConnection(conn, _at_once))
        try:
            steps.send(None)
        except StopIteration as finished:
            result: T = finished.value
        else:
            steps.close()
            raise RuntimeError("a transaction run whole awaited something besides its tx")
        conn.execute("COMMIT")
        return result
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _connect_sync(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    # isolation_level=None: the sqlite3 module issues no implicit BEGIN; we do.
    # check_same_thread=False: statements run only on the writer's thread, but whether
    # a transaction is open is read from the event loop's.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    for pragma in _pragmas(busy_timeout_ms):
        conn.execute(pragma)
    return conn


def _pragmas(busy_timeout_ms: int) -> list[str]:
    return [
        f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
        # 64 MiB of page cache (the default is 2 MiB): once the ledger outgrows the
        # default, every reservation re-reads pages through the OS and bench/quota.py
        # drops from ~3.8k to ~2.3k reservations/s.
        "PRAGMA cache_size = -65536",
    ]


async def _connect(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    # isolation_level=None: the sqlite3 module issues no implicit BEGIN; we do.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    for pragma in _pragmas(busy_timeout_ms):
        await conn.execute(pragma)
    return conn


async def _enable_wal(conn: SqliteConnection, busy_timeout_ms: int) -> None:
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


async def _user_version(conn: Any) -> int:
    rows = await conn.execute_fetchall("PRAGMA user_version")
    return int(next(iter(rows))[0])


async def apply_migrations(conn: Any, *, up_to: int = SCHEMA_VERSION) -> int:
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
