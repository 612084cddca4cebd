"""Copy a whole store from one database to another (SQLite to PostgreSQL, or back):
what `framepack-bot migrate-store` does.

The target must be empty and the source idle (no bot process holding jobs on it), so
the copy is exact: every row of every table, in one transaction on the target. The
ledger is copied reservations first, so that the target's own triggers accept each
settling entry; the running totals are then replaced by the source's (admin grants and
resets live only there), and the target's ledger is verified against them. Leases are
not copied: they belong to processes of the old store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.db import Connection, Database, StorageError, timestamp
from storage.jobs import ACTIVE_STATES
from storage.quota_ledger import QuotaLedger

# Each table, the key it is read in order of (a page at a time), and a condition: the
# ledger in two passes, reservations before the entries that settle them.
_PASSES: list[tuple[str, tuple[str, ...], str]] = [
    ("jobs", ("id",), ""),
    ("quota_ledger", ("job_id", "entry"), "entry = 'reserve'"),
    ("quota_ledger", ("job_id", "entry"), "entry <> 'reserve'"),
    ("quota_usage", ("scope", "scope_key", "period", "period_start"), ""),
    ("quota_limits", ("scope", "scope_key"), ""),
    ("scope_settings", ("scope", "scope_key", "name"), ""),
    ("audit_log", ("id",), ""),
    ("user_languages", ("user_key",), ""),
]
TABLES = list(dict.fromkeys(table for table, _, _ in _PASSES))
PAGE = 500


class StoreNotEmpty(StorageError):
    pass


class StoreInUse(StorageError):
    pass


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # the target's ledger check


async def counts(db: Database) -> dict[str, int]:
    found = {}
    for table in TABLES:
        row = await db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")
        found[table] = int(row["n"]) if row else 0
    return found


async def check_idle(source: Database, now: datetime) -> None:
    """Refuse a source that a bot process still runs on: what it wrote after the copy
    would be lost."""
    active = [state.value for state in ACTIVE_STATES]
    held = await source.fetch_all(
        "SELECT owner, COUNT(*) AS n FROM jobs WHERE owner IS NOT NULL AND lease_until > ?"
        f" AND state IN ({', '.join('?' for _ in active)}) GROUP BY owner",
        (timestamp(now), *active),
    )
    leases = await source.fetch_all(
        "SELECT name, owner FROM leases WHERE until > ?", (timestamp(now),)
    )
    if held or leases:
        who = sorted({str(r["owner"]) for r in (*held, *leases)})
        raise StoreInUse(
            f"a bot process is running on {source.location} ({', '.join(who)}): "
            "stop every process on it first, then copy"
        )


async def copy_store(
    source: Database,
    target: Database,
    *,
    now: datetime,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> CopyReport:
    await check_idle(source, now)
    there = {table: n for table, n in (await counts(target)).items() if n}
    if there:
        held = ", ".join(f"{n} {table}" for table, n in there.items())
        raise StoreNotEmpty(
            f"{target.location} already holds data ({held}): copy into an empty store"
        )
    report = CopyReport()
    async with target.transaction() as tx:
        for n, (table, key, condition) in enumerate(_PASSES):
            if table == "quota_usage":
                # The triggers filled it from the ledger; the source's rows hold the
                # admins' grants and resets too.
                await tx.execute("DELETE FROM quota_usage")
            copied = await _copy_table(source, tx, table, key, condition)
            report.rows[table] = report.rows.get(table, 0) + copied
            if n + 1 == len(_PASSES) or _PASSES[n + 1][0] != table:  # its last pass
                progress(table, report.rows[table])
        if target.dialect == "postgresql":
            # Ids were copied as they were: the next one follows the highest.
            await tx.execute(
                "SELECT setval(pg_get_serial_sequence('audit_log', 'id'),"
                " COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1, false)"
            )
    if await counts(target) != await counts(source):
        report.problems.append("row counts differ after the copy")
    report.problems += await QuotaLedger(target).verify()
    return report


async def _copy_table(
    source: Database, tx: Connection, table: str, key: tuple[str, ...], condition: str
) -> int:
    order = ", ".join(key)
    after: tuple[Any, ...] | None = None
    copied = 0
    while True:
        clauses = [condition] if condition else []
        params: list[Any] = []
        if after is not None:
            clauses.append(f"({order}) > ({', '.join('?' for _ in key)})")
            params += after
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await source.fetch_all(
            f"SELECT * FROM {table}{where} ORDER BY {order} LIMIT {PAGE}", params
        )
        if not rows:
            return copied
        columns = rows[0].keys()
        await tx.executemany(
            f"INSERT INTO {table} ({', '.join(columns)})"
            f" VALUES ({', '.join('?' for _ in columns)})",
            [tuple(row[c] for c in columns) for row in rows],
        )
        copied += len(rows)
        after = tuple(rows[-1][k] for k in key)
