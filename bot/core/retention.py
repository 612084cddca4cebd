"""Bounded disk: the inputs, results and re-encodes under `data/jobs/<id>/` are kept
`storage.keep_days` days after their job ended, and all of them together within
`storage.max_disk_mb` (the oldest finished jobs go first). A job still in flight is
never touched. Swept at start and then hourly; Retry and Extend of a swept job say in
one line that its files are gone."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import FINAL_STATES, Store
from storage.db import Row, timestamp

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 3600.0


@dataclass(frozen=True)
class DiskUse:
    jobs: int
    bytes: int


@dataclass(frozen=True)
class SweepReport:
    removed: int
    freed_bytes: int
    kept: DiskUse


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def disk_use(jobs_dir: Path) -> DiskUse:
    """What the job folders hold now (blocking: run it in a thread)."""
    if not jobs_dir.is_dir():
        return DiskUse(0, 0)
    folders = [f for f in jobs_dir.iterdir() if f.is_dir()]
    return DiskUse(len(folders), sum(folder_size(f) for f in folders))


class Retention:
    def __init__(
        self,
        store: Store,
        jobs_dir: Path,
        *,
        keep_days: float,
        max_bytes: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.jobs_dir = jobs_dir
        self.keep = timedelta(days=keep_days)
        self.max_bytes = max_bytes
        self.clock = clock

    async def sweep(self) -> SweepReport:
        names = await asyncio.to_thread(self._folder_names)
        rows: list[Row] = []
        for start in range(0, len(names), 500):  # the jobs that still have files
            chunk = names[start : start + 500]
            rows += await self.store.db.fetch_all(
                "SELECT id, state, COALESCE(finished_at, updated_at) AS ended FROM jobs"
                f" WHERE id IN ({', '.join('?' for _ in chunk)})",
                chunk,
            )
        final = {state.value for state in FINAL_STATES}
        ended_at = {row["id"]: row["ended"] for row in rows if row["state"] in final}
        in_flight = {row["id"] for row in rows if row["state"] not in final}
        report = await asyncio.to_thread(self._sweep, names, ended_at, in_flight)
        if report.removed:
            log.info(
                "retention: removed the files of %d jobs (%.1f MiB); %d jobs, %.1f MiB kept",
                report.removed,
                report.freed_bytes / 2**20,
                report.kept.jobs,
                report.kept.bytes / 2**20,
            )
        return report

    def _folder_names(self) -> list[str]:
        if not self.jobs_dir.is_dir():
            return []
        return [f.name for f in self.jobs_dir.iterdir() if f.is_dir()]

    def _sweep(
        self, names: list[str], ended_at: dict[str, str], in_flight: set[str]
    ) -> SweepReport:
        """Only the folders listed before the database was asked: one made since (a job
        just accepted) has no row in `ended_at` or `in_flight` yet and is left alone."""
        cutoff = timestamp(self.clock() - self.keep)
        candidates: list[tuple[str, Path, int]] = []  # (ended, folder, bytes), removable
        untouchable = DiskUse(0, 0)  # jobs in flight, and recent folders with no row yet
        removed = freed = 0
        for name in names:
            folder = self.jobs_dir / name
            if not folder.is_dir():
                continue
            size = folder_size(folder)
            ended = ended_at.get(name)
            if ended is None and name not in in_flight:
                # No row: a crash between writing the files and the row, or a job being
                # accepted right now. It ends when its files were last written, and goes
                # by age only, never to make room.
                written = timestamp(datetime.fromtimestamp(folder.stat().st_mtime, UTC))
                if written < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed, freed = removed + 1, freed + size
                    continue
            if ended is None:
                untouchable = DiskUse(untouchable.jobs + 1, untouchable.bytes + size)
            elif ended < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed, freed = removed + 1, freed + size
            else:
                candidates.append((ended, folder, size))
        kept = len(candidates) + untouchable.jobs
        total = untouchable.bytes + sum(size for _, _, size in candidates)
        for _, folder, size in sorted(candidates, key=lambda c: c[0]):  # oldest first
            if total <= self.max_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            kept, total = kept - 1, total - size
            removed, freed = removed + 1, freed + size
        # From the sizes already read: no second walk of the job folders.
        return SweepReport(removed, freed, DiskUse(kept, total))

    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Sweep now and then every hour, until cancelled; a failed sweep is logged."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("retention sweep failed")
            await sleep(SWEEP_EVERY_S)
