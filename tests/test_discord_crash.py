"""SIGKILL the real bot process (`framepack-bot run`) in the middle of posting a video,
20 times: half while the upload is still on its way (Discord never gets it whole),
half after Discord created the message but before it answered. The restarted bot
finishes each job with exactly one video in the channel, counted at the loopback
Discord (which keeps duplicates), and the credits committed once."""

from __future__ import annotations

import asyncio
import io
import random
import signal
from pathlib import Path

from PIL import Image

from storage import JobState, Store
from tests.support.fakes.discord import FakeDiscord
from tests.support.provider_world import API_KEY, FAKES
from tests.support.subprocess_env import bot_env, framepack_bot

RUNS = 20


async def start_bot(env: dict[str, str], fake: FakeDiscord) -> asyncio.subprocess.Process:
    fake.ready.clear()
    process = await framepack_bot("run", env=env)
    await asyncio.wait_for(fake.ready.wait(), 60)
    return process


async def job_of(store: Store, user_key: str, within: float = 60.0):
    async def poll():
        while True:
            jobs = await store.jobs.recent_for_user(user_key, 1)
            if jobs and jobs[0].state.is_final:
                return jobs[0]
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(poll(), within)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (128, 72), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_sigkill_while_posting_never_posts_a_video_twice(tmp_path: Path) -> None:
    rng = random.Random()
    stages = ["mid-upload", "after-create"] * (RUNS // 2)
    rng.shuffle(stages)
    data = tmp_path / "data"
    async with (
        FakeDiscord() as discord_fake,
        FAKES["fal"](API_KEY, queue_polls=1, running_polls=1) as fal,
    ):
        env = bot_env(
            data,
            discord_fake,
            fal,
            FPBOT_DISCORD__ANIMATE_RATE="100",
            FPBOT_PROVIDERS__FAL__POLL_INTERVAL="0.5",
            FPBOT_PROVIDERS__FAL__MAX_POLL_INTERVAL="0.5",
            FPBOT_LOG_LEVEL="WARNING",
        )
        bot = await start_bot(env, discord_fake)
        store = await Store.open(data / "framepack-bot.sqlite3")
        try:
            for run, stage in enumerate(stages):
                killed = asyncio.Event()

                async def kill(at: str, stage=stage, bot=bot, killed=killed) -> None:
                    wanted = "received" if stage == "mid-upload" else "created"
                    if at == wanted and not killed.is_set():
                        bot.send_signal(signal.SIGKILL)
                        await bot.wait()
                        killed.set()

                discord_fake.on_upload = kill
                # Mid-upload: the body never arrived whole, so nothing is created.
                discord_fake.upload_faults = ["drop-before-create"] if stage == "mid-upload" else []
                user = f"70000000000000{run:04d}"
                image = discord_fake.add_attachment("p.png", png(), "image/png")
                payload = discord_fake.slash_command(
                    "animate",
                    [
                        {"name": "image", "type": 11, "value": image["id"]},
                        {"name": "prompt", "type": 3, "value": f"run {run}"},
                    ],
                    attachments=[image],
                    user_id=user,
                )
                await discord_fake.dispatch("INTERACTION_CREATE", payload)
                await asyncio.wait_for(killed.wait(), 60)
                discord_fake.on_upload = None

                bot = await start_bot(env, discord_fake)  # recovers and finishes the job
                job = await job_of(store, f"discord:{user}")
                assert job.state is JobState.DELIVERED, (stage, job.state, job.error)
                assert discord_fake.posts_of(f"framepack-{job.id}.mp4") == 1, stage
                assert await store.ledger.entries(job.id) == {
                    "reserve": job.cost_mc,
                    "commit": job.cost_mc,
                }
        finally:
            discord_fake.on_upload = None
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bot.wait(), 30)
            await store.close()
        assert fal.submits == RUNS  # and no job was sent to the provider twice
