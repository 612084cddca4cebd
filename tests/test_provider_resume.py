"""A handle saved by one process is resumed by a fresh one: it polls to the end and
downloads the video, and the provider sees one submit only."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import av
import pytest

from tests.support.provider_world import API_KEY, FAKES

ROOT = Path(__file__).resolve().parent.parent


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.helpers.provider_job",
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("name", sorted(FAKES))
async def test_a_killed_watcher_is_resumed_by_a_fresh_process(tmp_path: Path, name: str):
    handle_file = tmp_path / "handle.json"
    async with FAKES[name](API_KEY, queue_polls=3, running_polls=3) as fake:
        first = await start("submit", name, fake.base_url, str(handle_file))
        lines = []
        while len(lines) < 2:  # "saved", then the first event: it is mid-watch
            lines.append((await asyncio.wait_for(first.stdout.readline(), 30)).decode().strip())
        first.kill()
        await first.wait()
        assert lines == ["saved", "Queued"]
        polls_before = fake.calls["status"]
        assert not fake.jobs[next(iter(fake.jobs))].polls > 4  # it really stopped early

        second = await start(
            "resume", name, fake.base_url, str(handle_file), str(tmp_path / "out.mp4")
        )
        out, _ = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 0, out
        assert out.decode().startswith("done ")
        assert fake.calls["status"] > polls_before
        assert (fake.submits, fake.submit_attempts) == (1, 1)
        job = next(iter(fake.jobs.values()))
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == job.frames
