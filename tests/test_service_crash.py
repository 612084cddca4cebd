"""SIGKILL the service with 20 jobs in flight at random stages: after restarts every
job ends delivered or refunded, nobody is charged twice, no job is submitted twice,
and no video is posted twice."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
from collections import Counter
from pathlib import Path

from storage import JobState, Store, StoreLocation
from tests.support.provider_world import API_KEY, FAKES
from tests.support.subprocess_env import isolated_env

ROOT = Path(__file__).resolve().parent.parent
JOBS = 20


async def start(mode: str, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.helpers.service_process",
        mode,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )


async def test_sigkill_with_20_jobs_in_flight_loses_and_doubles_nothing(tmp_path: Path):
    rng = random.Random()
    data = tmp_path / "data"
    async with FAKES["fal"](API_KEY, queue_polls=2, running_polls=3) as fake:
        env = service_env(data, fake)

        first = await start("submit", env, str(JOBS))
        accepted = []
        while len(accepted) < JOBS:
            line = (await asyncio.wait_for(first.stdout.readline(), 30)).decode()
            if line.startswith("accepted "):
                accepted.append(line.split()[1])
        await asyncio.sleep(rng.uniform(0.2, 2.5))  # jobs now at random stages
        await kill(first)
        killed_at = Counter(await _states(data / "framepack-bot.sqlite3"))

        second = await start("resume", env)
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        await kill(second)

        third = await start("resume", env)
        out, _ = await asyncio.wait_for(third.communicate(), 90)
        assert third.returncode == 0 and b"all final" in out
        submits_by_prompt = Counter(job.input["prompt"] for job in fake.jobs.values())

    assert len(killed_at) >= 1
    delivered = await each_ended_once(data, accepted, submits_by_prompt)
    assert len(delivered) >= JOBS // 2, f"states when killed: {killed_at}"


def service_env(data: Path, fake, **extra: str) -> dict[str, str]:
    return isolated_env(
        data,
        FAL_KEY=API_KEY,
        FPBOT_PROVIDERS__FAL__BASE_URL=fake.base_url,
        FPBOT_PROVIDERS__FAL__POLL_INTERVAL="0.5",
        FPBOT_PROVIDERS__FAL__MAX_POLL_INTERVAL="0.5",
        FPBOT_LOG_LEVEL="WARNING",
        **extra,
    )


async def each_ended_once(
    data: Path, accepted: list[str], submits: Counter, store_at: StoreLocation | None = None
) -> set[str]:
    """Every job delivered and charged once, or failed and refunded; none sent to the
    provider twice, none posted twice. Returns the delivered ones."""
    async with await Store.open(store_at or data / "framepack-bot.sqlite3") as store:
        assert await store.ledger.verify() == []
        jobs = [await store.jobs.get(job_id) for job_id in accepted]
        for job in jobs:
            entries = await store.ledger.entries(job.id)
            if job.state is JobState.DELIVERED:
                assert entries == {"reserve": job.cost_mc, "commit": job.cost_mc}
            else:  # a submit the kill interrupted: refunded
                assert job.state is JobState.FAILED, job.state
                assert entries == {"reserve": job.cost_mc, "refund": job.cost_mc}
        delivered = {job.id for job in jobs if job.state is JobState.DELIVERED}
    assert max(submits.values()) == 1  # no job was sent twice
    # Every post is its own file, named <job>-<n>.mp4: a duplicate would show.
    posts = Counter(path.name.rsplit("-", 1)[0] for path in (data / "posted").glob("*.mp4"))
    assert set(posts) == delivered and max(posts.values(), default=1) == 1
    return delivered


async def kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL, unless it already finished every job and exited (a fast resume can)."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGKILL)
    await process.wait()


async def _states(store_at: StoreLocation) -> list:
    async with await Store.open(store_at) as store:
        return [row["state"] for row in await store.db.fetch_all("SELECT state FROM jobs")]


def _database_env(store_at: StoreLocation) -> dict[str, str]:
    if isinstance(store_at, Path):
        return {}
    return {"FPBOT_STORAGE__DATABASE": store_at.get_secret_value()}


async def test_two_processes_on_one_store_and_one_killed_every_job_ends_once(
    tmp_path: Path, store_location: StoreLocation
):
    """Two services on one database (an SQLite file; a PostgreSQL server), each
    accepting 20 jobs; one is SIGKILLed mid-way: the other adopts its jobs (its process
    is gone from this machine; elsewhere, once the 3 s lease ran out) and every job of
    both ends, delivered once or refunded, none sent to the provider twice."""
    rng = random.Random()
    data = tmp_path / "data"
    async with FAKES["fal"](API_KEY, queue_polls=2, running_polls=3) as fake:
        env = service_env(
            data, fake, FPBOT_STORAGE__JOB_LEASE_S="3", **_database_env(store_location)
        )
        doomed = await start("submit", env, str(JOBS), "1000")
        survivor = await start("submit", env, str(JOBS), "2000")
        accepted: dict[str, list[str]] = {"doomed": [], "survivor": []}
        for name, process in (("doomed", doomed), ("survivor", survivor)):
            while len(accepted[name]) < JOBS:
                line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
                if line.startswith("accepted "):
                    accepted[name].append(line.split()[1])
        await asyncio.sleep(rng.uniform(0.2, 2.0))  # the doomed one's jobs at random stages
        await kill(doomed)
        killed_at = Counter(await _states(store_location))
        out, _ = await asyncio.wait_for(survivor.communicate(), 120)
        assert survivor.returncode == 0 and b"all final" in out, killed_at
        submits_by_prompt = Counter(job.input["prompt"] for job in fake.jobs.values())

    delivered = await each_ended_once(
        data, [*accepted["doomed"], *accepted["survivor"]], submits_by_prompt, store_location
    )
    doomed_delivered = delivered & set(accepted["doomed"])
    # On PostgreSQL, nothing went to a file on the side.
    assert isinstance(store_location, Path) or not (data / "framepack-bot.sqlite3").exists()
    assert set(accepted["survivor"]) <= delivered  # its own: never interrupted
    assert len(doomed_delivered) >= JOBS // 2, f"states when killed: {killed_at}"
