"""`framepack-bot migrate-store`: copy an existing bot's store to another database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from storage.backends import open_database
from storage.copy import copy_store
from storage.db import StorageError, StoreLocation


async def migrate_store(
    source: StoreLocation,
    target: StoreLocation,
    *,
    say: Callable[[str], None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> bool:
    """True when the copy is whole and the target's ledger consistent."""
    if isinstance(source, Path) and not source.is_file():
        # Opening it would make an empty store, and the copy of nothing would "succeed".
        raise StorageError(f"no store at {source}: give the bot's database file")
    if _same(source, target):
        raise StorageError("--from and --to name the same store")
    async with await open_database(source) as old, await open_database(target) as new:
        say(f"copying {old.dialect} {old.location} to {new.dialect} {new.location}")
        report = await copy_store(
            old, new, now=now(), progress=lambda table, n: say(f"  {table}: {n} rows")
        )
        if report.problems:
            say(f"the copy does not check out ({len(report.problems)} problems):")
            for problem in report.problems[:10]:
                say(f"  {problem}")
            return False
        say(
            "done: quota ledger consistent; point storage.database at the new store "
            "(job files stay where they are, under data_dir)"
        )
        return True


def _same(one: StoreLocation, other: StoreLocation) -> bool:
    if isinstance(one, Path) and isinstance(other, Path):
        return one.resolve() == other.resolve()
    if isinstance(one, Path) or isinstance(other, Path):
        return False
    return one.get_secret_value() == other.get_secret_value()
