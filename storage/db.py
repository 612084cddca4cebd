"""What the store's repositories ask of a database, whichever backs it.

Two backends meet this interface: SQLite (`storage.sqlite`, the embedded default: one
file, nothing to start) and PostgreSQL (`storage.postgres`, for several bot processes
or machines on one store). Both apply the same numbered migrations, each in its own
dialect, and both serialise write transactions, so the repositories' SQL (written with
SQLite's `?` and `:name` placeholders, in the part of SQL the two share) means the same
on either: a check and the write it guards never race another writer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import SecretStr

T = TypeVar("T")

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StorageError(Exception):
    """The database cannot be used as it is (newer schema, unreadable file, no server...)."""


class Row(Protocol):
    """A result row, read by column name or position (sqlite3.Row, or its PostgreSQL
    counterpart)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Connection(Protocol):
    """What a write transaction's body awaits (`tx`)."""

    async def execute(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """Runs one statement; returns a cursor (its `rowcount` counts the rows changed)."""
        ...

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> Sequence[Row]: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Any: ...


class Database(Protocol):
    dialect: str  # "sqlite" | "postgresql"
    location: str  # what to show a person: a path, or a URL without its password

    async def close(self) -> None: ...

    async def __aenter__(self) -> Database: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def run(self, body: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        """`body(tx)` as one write transaction: committed if it returns, rolled back if
        it raises. The body awaits only `tx`'s methods (SQLite runs it whole on its
        writer's thread). Once started it runs to its end even if the caller is
        cancelled."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction whose body may await other things too."""
        ...

    async def write(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> Sequence[Row]:
        """One write statement in its own transaction; returns its RETURNING rows."""
        ...

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> Sequence[Row]: ...

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...

    async def schema_version(self) -> int: ...

    def is_unique_violation(self, exc: BaseException, table: str, column: str) -> bool:
        """Whether `exc` is this backend's refusal of a duplicate `table.column`."""
        ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(folder: str = "migrations") -> list[Migration]:
    """The numbered SQL files shipped in `storage/<folder>`, in order, gap-free."""
    found = []
    for entry in (resources.files("storage") / folder).iterdir():
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


def any_place(places: Sequence[tuple[str, str]]) -> tuple[str, list[str]]:
    """A WHERE clause matching any of these (scope, scope_key) pairs, and its
    parameters: several scoped rows in one read."""
    clause = " OR ".join("(scope = ? AND scope_key = ?)" for _ in places)
    return f"({clause})", [value for place in places for value in place]


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


StoreLocation = Path | SecretStr  # an SQLite file, or a PostgreSQL URL (it may hold a password)


def is_postgres_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def parse_location(text: str) -> StoreLocation:
    """`sqlite:<path>`, a bare path, or `postgresql://…`: what `migrate-store` is given."""
    if is_postgres_url(text):
        return SecretStr(text)
    return Path(text.removeprefix("sqlite:").removeprefix("//"))
