"""Opening the store's database: which backend a location names."""

from __future__ import annotations

from pydantic import SecretStr

from storage.db import Database, StorageError, StoreLocation


async def open_database(
    location: StoreLocation, *, busy_timeout_ms: int = 5000, migrate: bool = True
) -> Database:
    """Open the store's database at `location`, applying the migrations unless told not
    to. PostgreSQL needs the `postgresql` extra (psycopg 3), imported only here."""
    if isinstance(location, SecretStr):
        try:
            from storage.postgres import PostgresDatabase
        except ImportError as exc:
            raise StorageError(
                "a PostgreSQL store needs psycopg 3: pip install 'framepack-bot[postgresql]'"
            ) from exc
        return await PostgresDatabase.open(
            location, migrate=migrate, lock_timeout_ms=busy_timeout_ms
        )
    from storage.sqlite import SqliteDatabase

    return await SqliteDatabase.open(location, busy_timeout_ms=busy_timeout_ms, migrate=migrate)
