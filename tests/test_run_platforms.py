"""`framepack-bot run` with Discord and Telegram in one process around one job service:
a job from each platform is delivered, SIGTERM exits 0, and no secret shows in the log
or reaches the provider. A platform that cannot start leaves the other running."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.discord_world import png_attachment
from tests.support.fakes.discord import FakeDiscord
from tests.support.fakes.telegram import FakeTelegram
from tests.support.provider_world import API_KEY, FAKES, png_bytes
from tests.support.subprocess_env import ROOT, bot_env, telegram_env


async def read_all(process: asyncio.subprocess.Process) -> bytes:
    assert process.stderr is not None
    return await process.stderr.read()


def videos_on_discord(fake: FakeDiscord) -> int:
    return sum(
        1
        for message in fake.bot_messages
        if any(a["filename"].endswith(".mp4") for a in message["attachments"])
    )


def videos_on_telegram(fake: FakeTelegram) -> int:
    return sum(1 for message in fake.sent.values() if "video" in message)


async def until(predicate: Callable[[], bool], within: float = 30.0) -> bool:
    """Whether `predicate` came true within the time (what the fakes recorded)."""
    for _ in range(int(within / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_discord_and_telegram_in_one_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with (
        FakeDiscord() as discord_fake,
        FakeTelegram() as telegram_fake,
        FAKES["fal"](API_KEY, queue_polls=1, running_polls=1) as fal,
    ):
        env = bot_env(
            data, discord_fake, fal, FPBOT_LOG_LEVEL="DEBUG", **telegram_env(telegram_fake)
        )
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
        )
        # Read as it comes: a DEBUG log left in the pipe would block the bot once
        # asyncio's buffer and the pipe are full.
        log_read = asyncio.create_task(read_all(bot))
        try:
            await asyncio.wait_for(discord_fake.ready.wait(), 60)
            image = png_attachment(discord_fake)
            payload = discord_fake.slash_command(
                "animate",
                [
                    {"name": "image", "type": 11, "value": image["id"]},
                    {"name": "prompt", "type": 3, "value": "from discord"},
                ],
                attachments=[image],
            )
            await discord_fake.dispatch("INTERACTION_CREATE", payload)
            request = telegram_fake.photo_message(png_bytes(128, 72), "/animate from telegram")
            telegram_fake.push_update(message=request)
            delivered = await until(
                lambda: videos_on_discord(discord_fake) == videos_on_telegram(telegram_fake) == 1,
                within=60,
            )
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)
            err = await log_read
    log = err.decode()
    counts = (videos_on_discord(discord_fake), videos_on_telegram(telegram_fake))
    assert delivered, (counts, [line for line in log.splitlines() if " DEBUG " not in line][-40:])
    assert bot.returncode == 0, log[-3000:]
    assert "Traceback" not in log
    assert "telegram: logged in" in log and "running: discord, telegram" in log
    for secret in (telegram_fake.token, discord_fake.token, API_KEY):
        assert secret not in log
    sent_to_provider = "".join(fal.received)
    assert telegram_fake.token not in sent_to_provider
    assert telegram_fake.token.split(":")[1] not in sent_to_provider
    assert discord_fake.token not in sent_to_provider


async def test_a_platform_that_cannot_start_leaves_the_other_running(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with (
        FakeDiscord() as discord_fake,
        FakeTelegram() as telegram_fake,
        FAKES["fal"](API_KEY, queue_polls=1, running_polls=1) as fal,
    ):
        env = bot_env(data, discord_fake, fal, **telegram_env(telegram_fake))
        env["DISCORD_TOKEN"] = "not-the-token"  # Discord answers 401 at login
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
        )
        log_read = asyncio.create_task(read_all(bot))
        try:
            request = telegram_fake.photo_message(png_bytes(128, 72), "/animate still here")
            telegram_fake.push_update(message=request)
            delivered = await until(lambda: videos_on_telegram(telegram_fake) == 1)
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)
            err = await log_read
    log = err.decode()
    assert delivered, log[-5000:]
    assert bot.returncode == 0, log[-3000:]
    # One line saying why, not the traceback of an expected condition.
    assert re.search(r"discord could not start \(\w+: .+\); running without it", log), log
    assert "Traceback" not in log
    assert "running: telegram" in log
