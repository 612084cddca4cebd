"""SQLite's migrations: every path to the latest version gives the same schema.
(PostgreSQL's: tests/test_migrations_postgres.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from storage import SCHEMA_VERSION, StorageError, Store
from storage.db import MIGRATIONS, Migration
from storage.sqlite import SqliteDatabase as Database
from storage.sqlite import apply_migrations, split_statements


async def schema_of(path: Path) -> list[tuple[str, str, str]]:
    async with await Database.open(path) as db:
        assert await db.schema_version() == SCHEMA_VERSION
        return await db.schema()


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 3


@pytest.mark.parametrize("start_version", range(SCHEMA_VERSION))
async def test_every_earlier_version_migrates_to_the_same_schema(
    tmp_path: Path, start_version: int
) -> None:
    fresh = await schema_of(tmp_path / "fresh.sqlite3")

    old = tmp_path / f"at-v{start_version}.sqlite3"
    async with aiosqlite.connect(old, isolation_level=None) as conn:
        assert await apply_migrations(conn, up_to=start_version) == start_version
        version = (await (await conn.execute("PRAGMA user_version")).fetchone())[0]
        assert version == start_version
    assert await schema_of(old) == fresh
    assert {kind for kind, _, _ in fresh} == {"table", "index", "trigger"}


async def test_data_written_at_version_one_survives_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await apply_migrations(conn, up_to=1)
        await conn.execute(
            "INSERT INTO jobs (id, platform, user_key, request, provider, state, cost_mc,"
            " created_at, updated_at) VALUES ('old', 'discord', 'discord:1', '{}', 'fal',"
            " 'queued', 1000, '2026-01-01T00:00:00.000000+00:00',"
            " '2026-01-01T00:00:00.000000+00:00')"
        )
    async with await Store.open(path) as store:
        job = await store.jobs.get("old")
        assert job is not None and job.cost_mc == 1000
        assert job.created_at == datetime(2026, 1, 1, tzinfo=UTC)


async def test_reopening_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = await schema_of(path)
    assert await schema_of(path) == first


async def test_a_newer_database_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    async with aiosqlite.connect(path) as conn:
        await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="newer than this release"):
        await Database.open(path)


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch) -> None:
    from storage import sqlite as db_module

    broken = Migration(
        SCHEMA_VERSION + 1, "9999_broken.sql", "CREATE TABLE half (a);\nTHIS IS NOT SQL;\n"
    )
    monkeypatch.setattr(db_module, "MIGRATIONS", [*MIGRATIONS, broken])
    path = tmp_path / "db.sqlite3"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        with pytest.raises(aiosqlite.OperationalError):
            await apply_migrations(conn, up_to=SCHEMA_VERSION + 1)
        version = (await (await conn.execute("PRAGMA user_version")).fetchone())[0]
        tables = await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE name = 'half'")
    assert version == SCHEMA_VERSION and list(tables) == []


def test_trigger_bodies_stay_whole_when_split() -> None:
    statements = split_statements(MIGRATIONS[1].sql)
    triggers = [s for s in statements if "CREATE TRIGGER" in s]
    assert len(triggers) == 3 and all(t.rstrip().endswith("END;") for t in triggers)
