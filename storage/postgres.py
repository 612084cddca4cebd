"""The PostgreSQL backend (psycopg 3 and its connection pool): the store for several bot
processes, or machines, on one database.

The repositories' SQL is written once, in the part of SQL that SQLite and PostgreSQL
share, with SQLite's `?` and `:name` placeholders; `pg_sql()` turns those into
psycopg's. Parameters are bound on the client (psycopg's ClientCursor): a NULL compared
with `IS NULL` carries no type the server could infer from a bound parameter, and the
store's statements are small and short-lived, so server-side binding buys nothing here.

Every write transaction first takes one transaction-scoped advisory lock: writes are
serialised across every process on the database, exactly as SQLite's `BEGIN IMMEDIATE`
serialises them on a file. That is what the quota reservation relies on (it checks the
running totals and writes the ledger row in one statement: two writers at once under
READ COMMITTED could both see room for the last slot). Reads take no lock.

The schema's version is the one row of `framepack_schema` (SQLite keeps it in
`PRAGMA user_version`); the migrations are `migrations/postgresql/`, numbered and named
as SQLite's are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import SecretStr

from storage.db import SCHEMA_VERSION, Connection, StorageError, load_migrations

T = TypeVar("T")
log = logging.getLogger(__name__)

MIGRATIONS = load_migrations("migrations/postgresql")

# pg_advisory_xact_lock's key for "a write to the store" (any 64-bit number will do;
# this one is "fpbotdb" in ASCII).
WRITE_LOCK = 0x66_70_62_6F_74_64_62
_LOCK = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"
_BEGIN_WRITE = f"BEGIN; {_LOCK}"


class PgRow(tuple[Any, ...]):
    """A row read by column name or position, as sqlite3.Row is."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    # From the result's field names: `cursor.description` builds a Column object per
    # column each time it is read (a fifth of the backend's CPU in bench/pipeline.py).
    result = cursor.pgresult
    fields = result.nfields if result is not None else 0
    index = {result.fname(i).decode(): i for i in range(fields)}
    return lambda values: PgRow(values, index)


def _has_rows(cursor: Any) -> bool:
    """Whether the statement returned a result set (SELECT, or RETURNING)."""
    return cursor.pgresult is not None and cursor.pgresult.nfields > 0


class _WholeNumbers(Loader):
    """`numeric` as SQLite gives it: an int when whole (SUM of integer columns is
    numeric in PostgreSQL), a float otherwise. The store keeps no fractions that need
    Decimal's exactness (money is integer milli-credits)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|::|\?|:([A-Za-z_]\w*)|%")


@lru_cache(maxsize=2048)
def pg_sql(sql: str) -> str:
    """SQLite's placeholders as psycopg's: `?` → `%s`, `:name` → `%(name)s`, and a
    literal `%` doubled. String literals, quoted names, comments and `::` casts are left
    as they are."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if match.group(1) is not None:
            return f"%({match.group(1)})s"
        return token

    return _PLACEHOLDER.sub(swap, sql)


class PgConnection:
    """A transaction's connection, with the same methods as SQLite's (`tx`)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> psycopg.AsyncCursor[Any]:
        cursor = self._conn.cursor()
        await cursor.execute(pg_sql(sql), parameters)
        return cursor

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[PgRow]:
        cursor = await self.execute(sql, parameters)
        return await cursor.fetchall() if _has_rows(cursor) else []

    async def executemany(
        self, sql: str, parameters: Iterable[Sequence[Any]]
    ) -> psycopg.AsyncCursor[Any]:
        cursor = self._conn.cursor()
        await cursor.executemany(pg_sql(sql), list(parameters))
        return cursor


def describe(url: SecretStr) -> str:
    """The URL as a person may see it: no password, no other secret parameters."""
    try:
        parts = conninfo_to_dict(url.get_secret_value())
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_loader("numeric", _WholeNumbers)


class PostgresDatabase:
    """Open with `await PostgresDatabase.open(url)`; close with `await db.close()`."""

    dialect = "postgresql"

    def __init__(self, location: str, pool: AsyncConnectionPool[Any]) -> None:
        self.location = location
        self._pool = pool
        # Shielded transactions still running: close() waits for them.
        self._running: set[asyncio.Task[Any]] = set()

    @classmethod
    async def open(
        cls,
        url: SecretStr,
        *,
        migrate: bool = True,
        pool_size: int = 8,
        lock_timeout_ms: int = 5000,
    ) -> PostgresDatabase:
        location = describe(url)
        options: dict[str, Any] = {
            "autocommit": True,
            "cursor_factory": psycopg.AsyncClientCursor,
            "row_factory": _row_factory,
            # A writer waits this long for the write lock, as SQLite's busy_timeout.
            "options": f"-c lock_timeout={int(lock_timeout_ms)}",
        }
        # One plain connection first: its failure says why (the pool would only time out).
        try:
            first = await psycopg.AsyncConnection.connect(
                url.get_secret_value(), connect_timeout=10, **options
            )
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc)
            raise StorageError(f"cannot connect to PostgreSQL at {location}: {reason}") from None
        try:
            await _configure(first)
            version = await _version(first)
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{location} has schema version {version}, newer than this release "
                    f"knows ({SCHEMA_VERSION}); upgrade framepack-bot"
                )
            if migrate:
                await apply_migrations(first)
        finally:
            await first.close()
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url.get_secret_value(),
            min_size=1,
            max_size=pool_size,
            kwargs=options,
            configure=_configure,
            open=False,
            name="framepack-bot-store",
        )
        try:
            await pool.open(wait=True, timeout=10)
        except PoolTimeout as exc:
            await pool.close()
            raise StorageError(f"cannot connect to PostgreSQL at {location}: {exc}") from None
        return cls(location, pool)

    async def close(self) -> None:
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        await self._pool.close()

    async def __aenter__(self) -> PostgresDatabase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def run(self, body: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        return await self._to_the_end(self._run(body))

    async def _run(self, body: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        async with self.transaction() as tx:
            return await body(tx)

    async def _to_the_end(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` in a task of its own that the caller's cancellation does not reach:
        a transaction, once begun, commits or rolls back whole, as SQLite's writer does."""
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(task)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        async with self._pool.connection() as conn:
            # BEGIN and the lock in one trip to the server (no parameters: one simple query).
            await conn.execute(_BEGIN_WRITE)
            try:
                yield PgConnection(conn)
            except BaseException:
                # A connection left broken by the error is the pool's to replace.
                with contextlib.suppress(psycopg.Error):
                    await asyncio.shield(conn.execute("ROLLBACK"))
                raise
            await conn.execute("COMMIT")

    async def write(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[PgRow]:
        return await self._to_the_end(self._write(sql, params))

    async def _write(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[PgRow]:
        """BEGIN, the lock, the statement and COMMIT in one trip (psycopg's pipeline mode):
        most of the store's writes are one statement, and each trip costs a turn of the
        event loop."""
        async with self._pool.connection() as conn:
            async with conn.pipeline(), conn.transaction():
                await conn.execute(_LOCK)
                cursor = conn.cursor()
                await cursor.execute(pg_sql(sql), params)
            return await cursor.fetchall() if _has_rows(cursor) else []

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[PgRow]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(pg_sql(sql), tuple(params))
            return await cursor.fetchall() if _has_rows(cursor) else []

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> PgRow | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        async with self._pool.connection() as conn:
            return await _version(conn)

    def is_unique_violation(self, exc: BaseException, table: str, column: str) -> bool:
        if not isinstance(exc, psycopg.errors.UniqueViolation):
            return False
        return exc.diag.table_name == table and f"({column})" in (exc.diag.message_detail or "")

    async def schema(self) -> list[tuple[str, str, str]]:
        """(type, name, definition) of every table, index and trigger of the store."""
        rows = await self.fetch_all(
            "SELECT 'table' AS type, table_name AS name, '' AS sql"
            " FROM information_schema.tables WHERE table_schema = current_schema()"
            " UNION ALL SELECT 'index', indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema()"
            " UNION ALL SELECT DISTINCT 'trigger', trigger_name, '' FROM"
            " information_schema.triggers WHERE trigger_schema = current_schema()"
            " ORDER BY 1, 2"
        )
        return [(r["type"], r["name"], r["sql"] or "") for r in rows]


async def _version(conn: psycopg.AsyncConnection[Any]) -> int:
    cursor = await conn.execute("SELECT to_regclass('framepack_schema') IS NOT NULL")
    exists = await cursor.fetchone()
    if not exists or not exists[0]:
        return 0
    cursor = await conn.execute("SELECT version FROM framepack_schema")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def apply_migrations(
    conn: psycopg.AsyncConnection[Any], *, up_to: int = SCHEMA_VERSION
) -> int:
    """Apply each migration newer than the database's version, each in its own
    transaction together with the version bump (PostgreSQL's DDL is transactional), under
    the write lock: two processes starting at once apply each migration once."""
    while True:
        async with conn.transaction():
            await conn.execute(_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS framepack_schema (version INTEGER NOT NULL)"
            )
            version = await _version(conn)
            if version == 0:
                await conn.execute("DELETE FROM framepack_schema")
                await conn.execute("INSERT INTO framepack_schema (version) VALUES (0)")
            pending = [m for m in MIGRATIONS if version < m.version <= up_to]
            if pending:
                migration = pending[0]
                log.info("store: applying migration %s", migration.name)
                # No parameters: psycopg sends the whole file at once, dollar-quoted
                # function bodies and all.
                await conn.execute(migration.sql.encode())
                await conn.execute("UPDATE framepack_schema SET version = %s", (migration.version,))
        if not pending:
            return version
