"""What an admin command may change, read straight from the tables: a refusal must
leave all of it byte-for-byte as it was."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from storage import Store

TABLES = {
    "limits": "SELECT * FROM quota_limits ORDER BY scope, scope_key",
    "usage": "SELECT * FROM quota_usage ORDER BY scope, scope_key, period, period_start",
    "ledger": "SELECT * FROM quota_ledger ORDER BY job_id, entry",
    "settings": "SELECT scope, scope_key, name, value FROM scope_settings ORDER BY 1, 2, 3",
    "jobs": "SELECT id, state, error FROM jobs ORDER BY id",
    "audit": "SELECT actor, action, target FROM audit_log ORDER BY id",
}


async def snapshot(store: Store) -> dict[str, list]:
    return {
        name: [tuple(row) for row in await store.db.fetch_all(sql)] for name, sql in TABLES.items()
    }


def job_row(database: Path) -> tuple[str, str, float] | None:
    with (
        contextlib.suppress(sqlite3.OperationalError),
        contextlib.closing(sqlite3.connect(database, timeout=0.2)) as db,
    ):
        row = db.execute("SELECT id, state, progress FROM jobs").fetchone()
        return None if row is None else (row[0], row[1], row[2] or 0.0)
    return None
