"""How this folder was made: a bot's data folder as commit b0a3d09 (the last before the
core's redesign) left it — its SQLite store and the jobs' files — for
tests/test_stored_request.py, which opens it with today's code.

Run from a checkout of b0a3d09: `PYTHONPATH=. python tests/data/store_b0a3d09/make.py OUT`.
It makes two delivered jobs through the fake fal: an image-to-video one with its
options set, and a first-last-frame one with a strength."""

import asyncio
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from tests.media_clips import noisy_clip
from tests.provider_world import png_bytes
from tests.service_world import requester, service_world

from bot.core.api import AnimateRequest


async def make_jobs(tmp: Path) -> None:
    # Results big enough to Extend from (the fake's own are 64x36).
    video = noisy_clip(tmp / "clip.mp4", seconds=1, width=320, height=180, bitrate=100_000)
    async with service_world(tmp) as world:
        world.fake.video_override = video.read_bytes()
        for prompt, last, options in (
            (
                "a lighthouse in a storm",
                None,
                {"num_frames": 60, "seed": 42, "guidance": 6.0, "negative_prompt": "blur"},
            ),
            ("a door opening", png_bytes(96, 64), {"num_frames": 60, "strength": 0.7}),
        ):
            await world.service.submit(
                AnimateRequest(requester(), prompt, png_bytes(96, 64), last, options)
            )
        await world.service.join()


def keep(data: Path, out: Path) -> None:
    """The store (its log folded in) and each job's inputs and result."""
    with sqlite3.connect(data / "framepack-bot.sqlite3") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy(data / "framepack-bot.sqlite3", out / "framepack-bot.sqlite3")
    for job in (data / "jobs").iterdir():
        for name in ("first.jpg", "last.jpg", "result.mp4"):
            if (job / name).exists():
                (out / "jobs" / job.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(job / name, out / "jobs" / job.name / name)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(make_jobs(Path(tmp)))
        keep(Path(tmp) / "data", Path(sys.argv[1]))
