from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import Store, StoreLocation
from tests.support.postgres_server import PostgresServer


class FakeClock:
    """An injectable clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "framepack-bot.sqlite3"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; `new_database()` per test."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, db_path: Path) -> StoreLocation:
    """The store suite runs on both backends: an SQLite file, and a database of its own
    on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return db_path
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
async def store(store_location: StoreLocation) -> AsyncIterator[Store]:
    async with await Store.open(store_location) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[Store]:
    """For what only SQLite has (its writer's thread, its file)."""
    async with await Store.open(db_path) as opened:
        yield opened


@pytest.fixture
def redis_server(tmp_path: Path):
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
