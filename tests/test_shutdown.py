"""SIGTERM ends `framepack-bot run` within 15 s whatever the providers do: a submit
the provider sits on gets the grace time, then stays an interrupted submit, which the
next start refunds and never sends again."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

from storage import JobState, Store
from tests.support.discord_world import png_attachment
from tests.support.fakes.discord import FakeDiscord
from tests.support.provider_world import API_KEY, FAKES
from tests.support.subprocess_env import ROOT, bot_env


async def test_sigterm_stops_the_bot_within_15_s_during_a_stuck_submit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with (
        FakeDiscord() as discord_fake,
        FAKES["fal"](API_KEY, queue_polls=1, running_polls=1) as fal,
    ):
        env = bot_env(data, discord_fake, fal, FPBOT_PROVIDERS__FAL__READ_TIMEOUT="600")
        fal.faults.slow_submit = 3600  # the provider took the job and sits on the answer

        async def run_bot() -> asyncio.subprocess.Process:
            discord_fake.ready.clear()
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            await asyncio.wait_for(discord_fake.ready.wait(), 60)
            return process

        bot = await run_bot()
        image = png_attachment(discord_fake)
        payload = discord_fake.slash_command(
            "animate",
            [
                {"name": "image", "type": 11, "value": image["id"]},
                {"name": "prompt", "type": 3, "value": "a slow one"},
            ],
            attachments=[image],
        )
        await discord_fake.dispatch("INTERACTION_CREATE", payload)
        while fal.submits == 0:  # noqa: ASYNC110 (the fake's own counter)
            await asyncio.sleep(0.05)

        asked = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(bot.communicate(), 30)
        took = time.monotonic() - asked
        assert bot.returncode == 0, err.decode()[-2000:]
        assert took < 15, took
        assert b"Traceback" not in err

        fal.faults.slow_submit = 0
        again = await run_bot()  # the restart refunds the interrupted submit
        async with await Store.open(data / "framepack-bot.sqlite3") as store:
            for _ in range(200):
                job = (await store.jobs.recent_for_user("discord:700000000000000001", 1))[0]
                if job.state.is_final:
                    break
                await asyncio.sleep(0.05)
            assert job.state is JobState.FAILED, job.state
            assert await store.ledger.entries(job.id) == {
                "reserve": job.cost_mc,
                "refund": job.cost_mc,
            }
        again.send_signal(signal.SIGTERM)
        await asyncio.wait_for(again.communicate(), 30)
        assert fal.submit_attempts == 1  # never sent again
