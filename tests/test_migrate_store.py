"""`framepack-bot migrate-store`: a populated SQLite store copied to a real PostgreSQL
server (and back), every row the same, the ledger consistent, as an operator runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from storage import Caps, LimitOverride, NewJob, Store
from storage.copy import TABLES
from tests.conftest import FakeClock
from tests.support.postgres_server import PostgresServer
from tests.support.subprocess_env import isolated_env

OLD_STORE = Path(__file__).parent / "data" / "store_b0a3d09"
CAPS = Caps(None, None, None, None, None)


def migrate(tmp_path: Path, source: str, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate-store", "--from", source, "--to", target],
        cwd=tmp_path,
        env=isolated_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def populate(store: Store, clock: FakeClock) -> None:
    """A bot's month: jobs in a server and in DMs, delivered, refunded, charged in part,
    one still queued; an admin's grant, reset, limits and settings; languages."""
    for n in range(30):
        job = NewJob(
            platform="discord",
            user_key=f"discord:{n % 4}",
            guild_key="discord:9" if n % 3 else None,
            channel_id="555",
            request={"prompt": f"a cat, take {n}", "num_frames": 150},
            provider="fal",
            cost_mc=1000 + n,
            source=f"discord:message:{n}",
        )
        async with store.db.transaction() as tx:
            assert (
                await store.ledger.reserve(
                    job.id,
                    user_key=job.user_key,
                    guild_key=job.guild_key,
                    amount_mc=job.cost_mc,
                    caps=CAPS,
                    now=clock(),
                    tx=tx,
                )
            ).granted
            await store.jobs.insert(job, now=clock(), tx=tx)
        if n % 5 == 1:
            await store.ledger.refund(job.id, reason="provider_error", now=clock())
        elif n % 5 == 2:
            await store.ledger.commit(job.id, now=clock(), amount_mc=500)
        elif n % 5 != 0:
            await store.ledger.commit(job.id, now=clock())
        clock.advance(hours=7)  # across days
    async with store.db.transaction() as tx:
        await store.ledger.grant("user", "discord:1", 5000, now=clock(), tx=tx)
        await store.ledger.reset("user", "discord:2", ["day"], now=clock(), tx=tx)
        await store.limits.put(
            "user", "discord:3", LimitOverride(daily_mc=9000), actor="a", now=clock(), tx=tx
        )
        await store.settings.set(
            "guild", "discord:9", "provider", "fal", actor="a", now=clock(), tx=tx
        )
        for n in range(3):
            await store.audit.record(
                "quota.grant",
                actor="a",
                target="user:discord:1",
                detail={"n": n},
                now=clock(),
                tx=tx,
            )
    await store.languages.set("discord:1", "ja", now=clock())


async def everything(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, in a backend-independent order."""
    rows = {}
    for table in TABLES:
        found = await store.db.fetch_all(f"SELECT * FROM {table}")
        rows[table] = sorted(
            tuple(sorted(dict(zip(r.keys(), r, strict=True)).items())) for r in found
        )
    return rows


async def test_a_populated_sqlite_store_lands_whole_on_postgres_and_back(
    tmp_path: Path, postgres_server: PostgresServer, clock: FakeClock
) -> None:
    sqlite_file = tmp_path / "data" / "framepack-bot.sqlite3"
    async with await Store.open(sqlite_file) as store:
        await populate(store, clock)
        before = await everything(store)
        assert await store.ledger.verify() == []
    url = postgres_server.new_database()

    result = migrate(tmp_path, f"sqlite:{sqlite_file}", url.get_secret_value())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jobs: 30 rows" in result.stdout and "quota ledger consistent" in result.stdout

    async with await Store.open(url) as copied:
        assert await everything(copied) == before
        assert await copied.ledger.verify() == []
        # It goes on as the old one would: the next audit entry numbers after the copied.
        async with copied.db.transaction() as tx:
            await copied.audit.record(
                "quota.set", actor="a", target=None, detail={}, now=clock(), tx=tx
            )
        assert [e.action for e in await copied.audit.recent(limit=2)] == [
            "quota.set",
            "quota.grant",
        ]
        usage = await copied.ledger.usage("user", "discord:1", clock())
    async with await Store.open(sqlite_file) as store:
        assert await store.ledger.usage("user", "discord:1", clock()) == usage

    # And back, into a new SQLite file: the same rows once more.
    back = tmp_path / "back.sqlite3"
    async with await Store.open(url) as copied:
        expected = await everything(copied)
    result = migrate(tmp_path, url.get_secret_value(), f"sqlite:{back}")
    assert result.returncode == 0, result.stdout + result.stderr
    async with await Store.open(back) as returned:
        assert await everything(returned) == expected
        assert await returned.ledger.verify() == []


async def test_an_old_bots_store_is_migrated_then_copied(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    data = tmp_path / "data"
    shutil.copytree(OLD_STORE, data)
    url = postgres_server.new_database()
    result = migrate(tmp_path, f"sqlite:{data / 'framepack-bot.sqlite3'}", url.get_secret_value())
    assert result.returncode == 0, result.stdout + result.stderr
    async with await Store.open(url) as copied:
        jobs = await copied.db.fetch_all("SELECT id, state FROM jobs ORDER BY id")
        assert [row["state"] for row in jobs] == ["delivered", "delivered"]
        assert await copied.ledger.verify() == []


async def test_refusals_are_one_line_and_leave_both_stores_as_they_were(
    tmp_path: Path, postgres_server: PostgresServer, clock: FakeClock
) -> None:
    sqlite_file = tmp_path / "data" / "framepack-bot.sqlite3"
    async with await Store.open(sqlite_file) as store:
        await populate(store, clock)
    url = postgres_server.new_database()
    assert migrate(tmp_path, f"sqlite:{sqlite_file}", url.get_secret_value()).returncode == 0

    # Into a store that already holds data: refused, nothing doubled.
    again = migrate(tmp_path, f"sqlite:{sqlite_file}", url.get_secret_value())
    assert again.returncode == 1
    assert "already holds data (30 jobs" in again.stderr and "Traceback" not in again.stderr
    async with await Store.open(url) as copied:
        assert len(await copied.db.fetch_all("SELECT id FROM jobs")) == 30

    # From a store a bot still runs on (a live job lease): refused.
    busy = tmp_path / "busy.sqlite3"
    async with await Store.open(busy) as store:
        job = NewJob(
            platform="discord",
            user_key="discord:1",
            guild_key=None,
            channel_id="1",
            request={"prompt": "p"},
            provider="fal",
            cost_mc=1,
            owner="otherhost:4242:abc",
            lease_until=clock.now + timedelta(days=3650),
        )
        async with store.db.transaction() as tx:
            await store.jobs.insert(job, now=clock(), tx=tx)
    refused = migrate(tmp_path, f"sqlite:{busy}", postgres_server.new_database().get_secret_value())
    assert refused.returncode == 1
    assert "a bot process is running on" in refused.stderr and "otherhost:4242" in refused.stderr
    # Once the job has ended (here: blocked), its lease holds nothing back.
    async with await Store.open(busy) as store:
        await store.db.write("UPDATE jobs SET state = 'blocked' WHERE id = ?", (job.id,))
    ended = migrate(tmp_path, f"sqlite:{busy}", postgres_server.new_database().get_secret_value())
    assert ended.returncode == 0, ended.stdout + ended.stderr

    # A mistyped source is not made into an empty store and "copied"; nor is a store
    # copied onto itself.
    missing = migrate(tmp_path, f"sqlite:{tmp_path / 'typo.sqlite3'}", f"sqlite:{tmp_path / 'o'}")
    assert missing.returncode == 1 and "no store at" in missing.stderr
    assert not (tmp_path / "typo.sqlite3").exists() and not (tmp_path / "o").exists()
    itself = migrate(tmp_path, url.get_secret_value(), url.get_secret_value())
    assert itself.returncode == 1 and "name the same store" in itself.stderr

    # A password in the URL is never printed, even when the server refuses.
    secret = SecretStr(f"postgresql://fpbot:hunter2-secret@127.0.0.1:{postgres_server.port}/nope")
    wrong = migrate(tmp_path, f"sqlite:{sqlite_file}", secret.get_secret_value())
    assert wrong.returncode == 1 and "cannot connect to PostgreSQL" in wrong.stderr
    assert "hunter2" not in wrong.stdout + wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
