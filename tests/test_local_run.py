"""The local engine in the real processes: `framepack-bot generate --provider local`,
and `framepack-bot run` killed in the middle of a local job — after the restart the job
runs again (it paid nobody) and is delivered once, charged once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
from PIL import Image

from tests.support import tiny_framepack as tiny
from tests.support.fakes.telegram import FakeTelegram
from tests.support.provider_world import png_bytes
from tests.support.store_state import job_row
from tests.support.subprocess_env import framepack_bot, isolated_env, telegram_env
from tests.support.tiny_framepack import engine_env


def test_generate_with_the_local_engine(tmp_path: Path) -> None:
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    image = tmp_path / "in.png"
    Image.new("RGB", (160, 90), (40, 120, 200)).save(image)
    env = isolated_env(tmp_path / "data", **engine_env(folders))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "generate", "--provider", "local", "--image", str(image),
         "--prompt", "the sea", "--num-frames", "45", "--steps", "4", "--seed", "5",
         "--output", str(tmp_path / "out.mp4")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "seed: 5" in done.stdout
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.frames == 45 and stream.width > stream.height  # a landscape bucket
    refused = subprocess.run(
        [sys.executable, "-m", "bot", "generate", "--provider", "local", "--image", str(image),
         "--last-image", str(image), "--model", "framepack-f1", "--prompt", "x",
         "--output", str(tmp_path / "no.mp4")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2 and "last frame" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


async def test_a_local_job_killed_mid_run_runs_again_and_is_charged_once(tmp_path: Path) -> None:
    folders = tiny.save_weights(tiny.pipeline(tmp_path / "scratch"), tmp_path / "weights")
    data = tmp_path / "data"
    database = data / "framepack-bot.sqlite3"
    async with FakeTelegram() as fake:
        env = isolated_env(
            data,
            FPBOT_PROVIDERS__DEFAULT_PROVIDER="local",
            **telegram_env(fake),
            **engine_env(folders),
        )

        bot = await framepack_bot("run", env=env)
        fake.push_update(
            message=fake.photo_message(png_bytes(128, 72), "/animate slow waves duration=4 steps=8")
        )
        for _ in range(1200):  # the job is running, part of the way
            row = job_row(database)
            if row is not None and row[1] == "running" and row[2] > 0.05:
                break
            await asyncio.sleep(0.05)
        assert row is not None and row[1] == "running" and row[2] < 1.0, row
        bot.kill()  # SIGKILL: no clean stop
        await bot.wait()

        again = await framepack_bot("run", env=env)
        try:
            for _ in range(1800):
                if any("video" in m for m in fake.sent.values()):
                    break
                await asyncio.sleep(0.05)
            for _ in range(200):  # the row says delivered a moment after the post
                row = job_row(database)
                if row is not None and row[1] == "delivered":
                    break
                await asyncio.sleep(0.05)
        finally:
            again.send_signal(signal.SIGTERM)
            await asyncio.wait_for(again.wait(), 60)
    assert row is not None and row[1] == "delivered", row
    assert len(fake.videos) == 1 and len([m for m in fake.sent.values() if "video" in m]) == 1
    with contextlib.closing(sqlite3.connect(database)) as db:
        entries = db.execute(
            "SELECT entry, amount_mc FROM quota_ledger WHERE job_id = ? ORDER BY entry", (row[0],)
        ).fetchall()
    cost = entries[0][1]
    assert entries == [("commit", cost), ("reserve", cost)]  # charged once, never refunded
