"""One registry of providers (providers/registry.py): a provider is its module, and
everything that lists providers reads the registry — the config, the Discord choices
(only those this bot runs), the Telegram help, the CLI, `doctor` and the README table.

The proof is a provider added by this test alone, outside the repository: a module in a
`providers/` folder on the path, and nothing else changed."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import av

from tests.support.discord_world import discord_world
from tests.support.provider_world import API_KEY, FAKES, png_bytes
from tests.support.subprocess_env import ROOT, isolated_env

ACME = '''"""A provider that speaks fal's queue API, shipped outside the bot's repository."""

from pydantic import AnyUrl

from providers.config import RemoteProviderConfig
from providers.fal import FalProvider


class AcmeConfig(RemoteProviderConfig):
    base_url: AnyUrl | None = None


class AcmeProvider(FalProvider):
    name = "acme"
    config_class = AcmeConfig
    key_variable = "ACME_API_KEY"


PROVIDER = AcmeProvider
'''

# What each reader of the registry says, read in a process that has the new provider.
PROBE = """
import json
from bot.config import CONVENTIONAL_ENV, REMOTE_PROVIDERS, load_settings
from bot.core.api import JobOptions
from bot.discord.animate import AnimateCog
from bot.telegram import texts
from providers.catalog import table

settings = load_settings()
choices = AnimateCog.animate._params["provider"].choices
print(json.dumps({
    "remote": list(REMOTE_PROVIDERS),
    "key": CONVENTIONAL_ENV["ACME_API_KEY"],
    "usable": settings.providers.remote("acme").usable,
    "option": JobOptions(provider="acme").provider,
    "discord": [choice.value for choice in choices],
    "telegram": [line for line in texts.HELP.split(" · ") if line.startswith("provider=")],
    "table": [row for row in table().splitlines() if row.startswith("| acme ")],
}))
"""


async def _run(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode()


async def test_a_provider_added_outside_the_repository_is_everywhere(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    (plugin / "providers").mkdir(parents=True)
    (plugin / "providers" / "acme.py").write_text(ACME)
    (tmp_path / "first.png").write_bytes(png_bytes(160, 90))
    async with FAKES["fal"](API_KEY, queue_polls=1, running_polls=1) as fake:
        env = isolated_env(
            tmp_path / "data",
            ACME_API_KEY=API_KEY,
            FPBOT_PROVIDERS__ACME__BASE_URL=fake.base_url,
            FPBOT_PROVIDERS__ACME__POLL_INTERVAL="0.5",
            FPBOT_PROVIDERS__ACME__MAX_POLL_INTERVAL="0.5",
        )
        env["PYTHONPATH"] = f"{plugin}:{ROOT}"
        code, probed = await _run(tmp_path, env, "-c", PROBE)
        assert code == 0, probed
        wide = {**env, "COLUMNS": "400"}  # the option's help on one line
        code, helped = await _run(tmp_path, wide, "-m", "bot", "generate", "--help")
        assert code == 0, helped
        code, doctor = await _run(tmp_path, env, "-m", "bot", "doctor")
        code, made = await _run(
            tmp_path,
            env,
            *("-m", "bot", "generate", "--provider", "acme", "--image", "first.png"),
            *("--prompt", "a kite", "--num-frames", "45", "-o", "out.mp4"),
        )
        assert code == 0, made
    seen: dict[str, Any] = json.loads(probed)
    assert seen["remote"] == ["fal", "wavespeed", "piapi", "lannetech", "acme"]
    assert seen["key"] == ["providers", "acme", "api_key"] and seen["usable"] is True
    assert seen["option"] == "acme"
    assert seen["discord"] == ["fal", "wavespeed", "piapi", "lannetech", "acme", "local"]
    assert seen["telegram"] == ["provider=fal|wavespeed|piapi|lannetech|acme|local"]
    assert len(seen["table"]) == 3  # its three models, as fal's client declares them
    assert "fal, wavespeed, piapi, lannetech, acme or local" in helped
    assert any(line.split()[:2] == ["acme", "ready"] for line in doctor.splitlines())
    assert fake.submits == 1
    with av.open(str(tmp_path / "out.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 45


def _choices(commands: list[dict[str, Any]], *path: str) -> list[str]:
    """The choice values of the option at `path` (command, [subcommand,] option)."""
    options = commands
    for name in path:
        found = next(item for item in options if item["name"] == name)
        options = found.get("options", [])
    return [choice["value"] for choice in found.get("choices", [])]


async def test_discord_offers_only_the_providers_this_bot_runs(tmp_path: Path) -> None:
    # One after the other in one process: each bot's choices are its own.
    for backend in ("wavespeed", "fal"):
        async with discord_world(tmp_path / backend, backend=backend) as world:
            await asyncio.wait_for(world.discord.synced.wait(), 30)
            commands = world.discord.commands["global"]
            assert _choices(commands, "animate", "provider") == [backend]
            assert _choices(commands, "fpadmin", "provider", "name") == [backend]
