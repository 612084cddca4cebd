"""SIGKILL in the middle of a burst of reservations leaves a consistent ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage import Store

ROOT = Path(__file__).resolve().parent.parent


def start_burst(db: Path, seed: int, ops: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.helpers.reservation_burst",
            str(db),
            str(seed),
            str(ops),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize("kill_after", [50, 400, 1500])
async def test_sigkill_mid_burst_leaves_the_ledger_consistent(tmp_path: Path, kill_after: int):
    db = tmp_path / "crash.sqlite3"
    # Two writers on one file: the victim is killed mid-burst, the survivor goes on
    # writing through the crash (cross-process locking) and finishes its burst.
    victim = start_burst(db, seed=kill_after, ops=100_000)
    survivor = start_burst(db, seed=kill_after + 1, ops=1500)
    try:
        for line in victim.stdout:
            if line.strip().isdigit() and int(line) >= kill_after:
                break
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        out, _ = survivor.communicate(timeout=120)
        assert survivor.returncode == 0 and out.strip().endswith("done")
    finally:
        for proc in (victim, survivor):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()

    async with await Store.open(db) as store:
        assert await store.ledger.verify() == []
        reserved = await store.db.fetch_one(
            "SELECT COUNT(*) FROM quota_ledger WHERE entry = 'reserve' AND job_id LIKE ?",
            (f"p{kill_after}-%",),
        )
        assert reserved[0] > 0  # the victim really wrote before it died
