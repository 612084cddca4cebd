"""The environment for a bot process a test starts: this one's, less any FPBOT_* or
conventional setting that leaks in from the developer's shell, plus what the test sets."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.config import CONVENTIONAL_ENV

ROOT = Path(__file__).resolve().parents[2]


def isolated_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FPBOT_") and k not in CONVENTIONAL_ENV
    }
    env.update({"PYTHONPATH": str(ROOT), "FPBOT_DATA_DIR": str(data_dir), **settings})
    return env


def bot_env(data_dir: Path, discord_fake, fal, **settings: str) -> dict[str, str]:
    """The environment of a `framepack-bot run` against a loopback Discord and a fake fal
    (the callers add what they measure with)."""
    from tests.support.provider_world import API_KEY

    return isolated_env(
        data_dir,
        DISCORD_TOKEN=discord_fake.token,
        FPBOT_DISCORD__API_BASE_URL=discord_fake.api_url,
        FPBOT_DISCORD__GATEWAY_URL=discord_fake.gateway_url,
        FAL_KEY=API_KEY,
        FPBOT_PROVIDERS__FAL__BASE_URL=fal.base_url,
        **settings,
    )


def telegram_env(telegram_fake) -> dict[str, str]:
    """The settings that point a `framepack-bot run` at a loopback Bot API."""
    return {
        "TELEGRAM_BOT_TOKEN": telegram_fake.token,
        "FPBOT_TELEGRAM__BASE_URL": telegram_fake.api_base,
        "FPBOT_TELEGRAM__BASE_FILE_URL": telegram_fake.file_base,
    }


async def framepack_bot(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """`framepack-bot ARGS` as a child process of the test, its log dropped."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env, stderr=asyncio.subprocess.DEVNULL
    )
