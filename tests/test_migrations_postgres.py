"""PostgreSQL's migrations: numbered and named as SQLite's, every path to the latest
version gives the same schema, and that schema has the tables, columns, indexes and
triggers SQLite's has, on a real server."""

from __future__ import annotations

import psycopg
import pytest

from storage import SCHEMA_VERSION, StorageError, Store
from storage import postgres as pg
from storage.db import MIGRATIONS
from storage.sqlite import SqliteDatabase
from tests.support.postgres_server import PostgresServer


def test_both_dialects_have_the_same_numbered_migrations() -> None:
    assert [(m.version, m.name) for m in pg.MIGRATIONS] == [(m.version, m.name) for m in MIGRATIONS]


async def columns_of_sqlite(tmp_path) -> dict[str, set[str]]:
    async with await SqliteDatabase.open(tmp_path / "db.sqlite3") as db:
        tables = [name for kind, name, _ in await db.schema() if kind == "table"]
        return {
            table: {row["name"] for row in await db.fetch_all(f"PRAGMA table_info({table})")}
            for table in tables
        }


async def columns_of_postgres(url) -> dict[str, set[str]]:
    async with await pg.PostgresDatabase.open(url) as db:
        rows = await db.fetch_all(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name <> 'framepack_schema'"
        )
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], set()).add(row["column_name"])
    return found


async def test_the_postgres_schema_has_what_the_sqlite_one_has(
    tmp_path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.new_database()
    assert await columns_of_postgres(url) == await columns_of_sqlite(tmp_path)
    async with await SqliteDatabase.open(tmp_path / "db.sqlite3") as lite:
        lite_names = {(k, n) for k, n, _ in await lite.schema() if k in ("index", "trigger")}
    async with await pg.PostgresDatabase.open(url) as db:
        assert await db.schema_version() == SCHEMA_VERSION
        names = {(k, n) for k, n, _ in await db.schema() if k in ("index", "trigger")}
    # PostgreSQL names each primary key's index too; SQLite's are implicit.
    assert {(k, n) for k, n in names if not n.endswith("_pkey")} == lite_names


@pytest.mark.parametrize("start_version", [0, 1, 3, 4, 6, SCHEMA_VERSION - 1])
async def test_every_earlier_version_migrates_to_the_same_schema(
    postgres_server: PostgresServer, start_version: int
) -> None:
    fresh_url = postgres_server.new_database()
    async with await pg.PostgresDatabase.open(fresh_url) as db:
        fresh = await db.schema()

    old_url = postgres_server.new_database()
    async with await psycopg.AsyncConnection.connect(old_url.get_secret_value()) as conn:
        await conn.set_autocommit(True)
        assert await pg.apply_migrations(conn, up_to=start_version) == start_version
        if start_version >= 1:
            # A job and a reservation of long ago, carried through the later migrations.
            await conn.execute(
                "INSERT INTO jobs (id, platform, user_key, guild_key, request, provider,"
                " state, cost_mc, created_at, updated_at) VALUES ('old', 'discord',"
                " 'discord:1', NULL, '{}', 'fal', 'queued', 1000,"
                " '2026-01-01T00:00:00.000000+00:00', '2026-01-01T00:00:00.000000+00:00')"
            )
    async with await Store.open(old_url) as store:
        assert await store.db.schema_version() == SCHEMA_VERSION
        assert await store.db.schema() == fresh  # type: ignore[attr-defined]
        if start_version >= 1:
            job = await store.jobs.get("old")
            assert job is not None and job.cost_mc == 1000


async def test_a_newer_postgres_database_is_refused_with_a_clear_error(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    async with await psycopg.AsyncConnection.connect(url.get_secret_value()) as conn:
        await conn.execute("CREATE TABLE framepack_schema (version INTEGER NOT NULL)")
        await conn.execute(f"INSERT INTO framepack_schema VALUES ({SCHEMA_VERSION + 1})")
        await conn.commit()
    with pytest.raises(StorageError, match="newer than this release"):
        await Store.open(url)


async def test_an_unreachable_server_is_one_clear_line(postgres_server: PostgresServer) -> None:
    from pydantic import SecretStr

    from tests.support.redis_server import free_port

    url = SecretStr(f"postgresql://fpbot:hunter2@127.0.0.1:{free_port()}/nowhere")
    with pytest.raises(StorageError) as refused:
        await Store.open(url)
    message = str(refused.value)
    assert message.startswith("cannot connect to PostgreSQL at postgresql://fpbot@127.0.0.1:")
    assert "hunter2" not in message and "\n" not in message


async def test_two_processes_migrating_at_once_apply_each_migration_once(
    postgres_server: PostgresServer,
) -> None:
    import asyncio

    url = postgres_server.new_database()
    stores = await asyncio.gather(*(Store.open(url) for _ in range(4)))
    for store in stores:
        assert await store.db.schema_version() == SCHEMA_VERSION
        await store.close()
