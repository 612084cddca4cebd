"""The deploy as the README and the slim Docker image write it: `pip install '.[pool]'`
into a fresh virtual environment (no numpy, no torch), then `framepack-bot run` with
the GPU pool as its provider, against a real redis-server and the loopback Telegram.
It must start, answer, and stop with exit 0 on SIGTERM; and a start that fails must
end the process with one line, not hang it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fakes.telegram import FakeTelegram
from tests.support.pool import SECRET
from tests.support.redis_server import RedisServer
from tests.support.subprocess_env import ROOT, telegram_env

# A fresh install is minutes of pip on a cold cache; it runs once for the module.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def slim_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with exactly what the slim image installs, from a copy of the source as
    the Dockerfile copies it (a build in the checkout would leave files there)."""
    root = tmp_path_factory.mktemp("slim")
    source = root / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("bot", "providers", "local_engine", "storage"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", f"{source}[pool]"],
        check=True,
        timeout=800,
    )
    return venv


def slim_env(data: Path, **settings: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "PIP_FIND_LINKS", "SSL_CERT_FILE"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"FPBOT_DATA_DIR": str(data), **settings})
    return env


def test_the_slim_install_has_neither_numpy_nor_torch(slim_venv: Path) -> None:
    python = str(slim_venv / "bin" / "python")
    for module in ("numpy", "torch"):
        found = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        assert found.returncode != 0, f"{module} is installed in the slim venv"


async def test_the_slim_install_runs_the_bot_on_the_pool_and_stops_with_exit_0(
    slim_venv: Path, tmp_path: Path, redis_server: RedisServer
) -> None:
    async with FakeTelegram() as fake:
        env = slim_env(
            tmp_path / "data",
            **telegram_env(fake),
            FPBOT_PROVIDERS__DEFAULT_PROVIDER="local",
            FPBOT_PROVIDERS__LOCAL__ENABLED="true",
            FPBOT_PROVIDERS__LOCAL__REDIS_URL=redis_server.url,
            FPBOT_PROVIDERS__LOCAL__SECRET=SECRET,
        )
        bot = await asyncio.create_subprocess_exec(
            str(slim_venv / "bin" / "framepack-bot"), "run", cwd=tmp_path, env=env,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            fake.push_update(message=fake.message("/help"))
            async with asyncio.timeout(120):
                while not fake.answers():  # noqa: ASYNC110 (another process answers)
                    await asyncio.sleep(0.1)
        finally:
            bot.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(bot.communicate(), 60)
    log = err.decode()
    assert bot.returncode == 0, log[-3000:]
    assert "Traceback" not in log and "ModuleNotFoundError" not in log
    assert "providers: local" in log


async def test_a_start_that_fails_ends_the_process_with_one_line(
    slim_venv: Path, tmp_path: Path
) -> None:
    """The engine in this process needs the `local` extra: without it the bot says so
    and exits, instead of hanging on the store's thread."""
    async with FakeTelegram() as fake:
        env = slim_env(
            tmp_path / "data",
            **telegram_env(fake),
            FPBOT_PROVIDERS__DEFAULT_PROVIDER="local",
            FPBOT_PROVIDERS__LOCAL__ENABLED="true",
            FPBOT_ENGINE__BASE_MODEL_DIR=str(tmp_path / "nowhere"),
        )
        bot = await asyncio.create_subprocess_exec(
            str(slim_venv / "bin" / "framepack-bot"), "run", cwd=tmp_path, env=env,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(bot.communicate(), 60)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert bot.returncode not in (0, None), lines
    assert "Traceback" not in err.decode(), lines
