"""Two `framepack-bot run` processes on one PostgreSQL store, each on one of Discord's two
shards (the loopback Discord routes every server's events to its shard's connection, as
Discord does), one SIGKILLed while its 20 jobs are in flight: the survivor adopts them,
and each of the 40 ends once — one video posted, one commit in the ledger, one submit to
the provider — or, a submit the kill cut off, failed and refunded."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from PIL import Image

from storage import JobState, Store
from tests.support.fakes.discord import (
    CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    OTHER_GUILD_ID,
    FakeDiscord,
    shard_of,
)
from tests.support.postgres_server import PostgresServer
from tests.support.provider_world import API_KEY, FAKES
from tests.support.subprocess_env import ROOT, bot_env

PER_SHARD = 20
LEASE_S = 3


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (128, 72), (200, 120, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def run_bot(env: dict[str, str], shard: int, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env={**env, "FPBOT_DISCORD__SHARD_IDS": f"[{shard}]"},
        stderr=log.open("wb"),
    )


async def all_final(store: Store, count: int, within: float) -> list:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        jobs = await store.jobs.in_states(set(JobState))
        if len(jobs) == count and all(job.state.is_final for job in jobs):
            return jobs
        await asyncio.sleep(0.2)
    states = Counter(job.state.value for job in await store.jobs.in_states(set(JobState)))
    raise AssertionError(f"not all final in {within} s: {states}")


async def test_two_sharded_processes_on_postgres_one_killed_every_job_ends_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    assert shard_of(OTHER_GUILD_ID, 2) == 0 and shard_of(GUILD_ID, 2) == 1
    rng = random.Random()
    url = postgres_server.new_database()
    data = tmp_path / "data"  # shared by both: an adopted job's files are found there
    async with (
        FakeDiscord() as discord_fake,
        FAKES["fal"](API_KEY, queue_polls=2, running_polls=3) as fal,
    ):
        env = bot_env(
            data,
            discord_fake,
            fal,
            FPBOT_STORAGE__DATABASE=url.get_secret_value(),
            FPBOT_STORAGE__JOB_LEASE_S=str(LEASE_S),
            FPBOT_DISCORD__SHARD_COUNT="2",
            FPBOT_DISCORD__ANIMATE_RATE="100",
            FPBOT_PROVIDERS__FAL__POLL_INTERVAL="0.5",
            FPBOT_PROVIDERS__FAL__MAX_POLL_INTERVAL="0.5",
            FPBOT_LOG_LEVEL="INFO",
        )
        doomed = await run_bot(env, 0, tmp_path / "shard0.log")
        survivor = await run_bot(env, 1, tmp_path / "shard1.log")
        store = await Store.open(url)
        try:
            deadline = time.monotonic() + 60
            while {(0, 2), (1, 2)} - set(discord_fake.identified_shards):
                assert time.monotonic() < deadline, discord_fake.identified_shards
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # each has its servers (GUILD_CREATE) in hand

            tokens: dict[str, list[str]] = {"doomed": [], "survivor": []}
            for n in range(PER_SHARD):
                for who, channel in (("doomed", OTHER_CHANNEL_ID), ("survivor", CHANNEL_ID)):
                    image = discord_fake.add_attachment("p.png", png(), "image/png")
                    payload = discord_fake.slash_command(
                        "animate",
                        [
                            {"name": "image", "type": 11, "value": image["id"]},
                            {"name": "prompt", "type": 3, "value": f"{who} take {n}"},
                        ],
                        attachments=[image],
                        user_id=f"71{n:016d}",
                        channel_id=channel,
                    )
                    tokens[who].append(payload["token"])
                    await discord_fake.dispatch("INTERACTION_CREATE", payload)
            # Every command answered (deferred) by the process of its server's shard.
            deadline = time.monotonic() + 60
            while len(discord_fake.of_kind("callback")) < 2 * PER_SHARD:
                assert time.monotonic() < deadline, len(discord_fake.of_kind("callback"))
                await asyncio.sleep(0.05)
            while len(await store.jobs.in_states(set(JobState))) < 2 * PER_SHARD:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            jobs = await store.jobs.in_states(set(JobState))
            by_server = Counter(job.guild_key for job in jobs)
            assert by_server == {
                f"discord:{OTHER_GUILD_ID}": PER_SHARD,
                f"discord:{GUILD_ID}": PER_SHARD,
            }
            by_pid = {
                job.id: (
                    await store.db.fetch_one("SELECT owner FROM jobs WHERE id = ?", (job.id,))
                )["owner"].split(":")[1]
                for job in jobs
            }
            doomed_jobs = {j.id for j in jobs if j.guild_key == f"discord:{OTHER_GUILD_ID}"}
            assert {by_pid[j] for j in doomed_jobs} == {str(doomed.pid)}
            assert {by_pid[j.id] for j in jobs if j.id not in doomed_jobs} == {str(survivor.pid)}

            await asyncio.sleep(rng.uniform(0.3, 2.0))  # the doomed one's jobs mid-way
            states_when_killed = Counter(
                j.state.value for j in await store.jobs.in_states(set(JobState))
            )
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
            killed_at = time.monotonic()

            # The survivor takes the dead one's unfinished jobs within the lease time.
            unfinished = {
                j.id for j in await store.jobs.in_states(set(JobState)) if not j.state.is_final
            } & doomed_jobs
            while unfinished:
                rows = await store.db.fetch_all(
                    "SELECT id, owner FROM jobs WHERE owner LIKE ?", (f"%:{survivor.pid}:%",)
                )
                adopted = {row["id"] for row in rows} & doomed_jobs
                finished = {
                    j.id for j in await store.jobs.in_states(set(JobState)) if j.state.is_final
                }
                if unfinished <= adopted | finished:
                    break
                assert time.monotonic() - killed_at < LEASE_S + 2, states_when_killed
                await asyncio.sleep(0.1)

            ended = await all_final(store, 2 * PER_SHARD, 120)
            assert await store.ledger.verify() == []
            delivered = set()
            for job in ended:
                entries = await store.ledger.entries(job.id)
                if job.state is JobState.DELIVERED:
                    assert entries == {"reserve": job.cost_mc, "commit": job.cost_mc}
                    assert discord_fake.posts_of(f"framepack-{job.id}.mp4") == 1, job.id
                    delivered.add(job.id)
                else:  # only a submit the kill cut off: failed, refunded, never posted
                    assert job.state is JobState.FAILED and job.id in doomed_jobs, job.state
                    assert entries == {"reserve": job.cost_mc, "refund": job.cost_mc}
                    assert discord_fake.posts_of(f"framepack-{job.id}.mp4") == 0
            submits = Counter(job.input["prompt"] for job in fal.jobs.values())
            assert max(submits.values()) == 1  # no job sent to the provider twice
            assert len(delivered & doomed_jobs) >= PER_SHARD // 2, states_when_killed
            assert len(delivered - doomed_jobs) == PER_SHARD  # the survivor's own, all
            # The survivor posted the dead one's videos as followups on the interactions
            # they came from (the token the dead process was given).
            for job in ended:
                if job.id in delivered & doomed_jobs:
                    token = job.reply_ref["token"]
                    assert token in tokens["doomed"]
                    posts = [s for s in discord_fake.of_kind("followup", token) if s.files]
                    assert len(posts) == 1, job.id
            assert survivor.returncode is None
        finally:
            for process in (doomed, survivor):
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(process.wait(), 30)
            await store.close()
