"""The local engine behind the provider contract: queue places, progress, the video,
cancel within a step, refusals before any work, and a load failure as a job failure."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import pytest
from PIL import Image

from local_engine.engine import FramePackEngine
from providers.contract import (
    Failed,
    GenerationRequest,
    ImageInput,
    ModelFamily,
    Queued,
    Running,
    Succeeded,
)
from providers.errors import InvalidInputError
from providers.local import LocalProvider
from tests.support import tiny_framepack as tiny

BUCKETS = {"480p": 64, "720p": 96}


def png(color: tuple[int, int, int] = (200, 60, 40)) -> ImageInput:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, "PNG")
    return ImageInput(data=buffer.getvalue(), mime_type="image/png")


def request(**changes) -> GenerationRequest:
    fields = dict(prompt="the waves roll in", image=png(), num_frames=30, num_inference_steps=4)
    fields.update(changes)
    return GenerationRequest(**fields)


def tiny_engine(scratch: Path) -> FramePackEngine:
    return tiny.engine(
        scratch,
        f1_transformer=tiny.transformer(seed=1),
    )


async def events_of(provider: LocalProvider, handle) -> list:
    return [event async for event in provider.watch(handle)]


async def test_jobs_take_turns_report_progress_and_yield_a_video(tmp_path: Path) -> None:
    provider = LocalProvider.in_process(
        lambda: tiny_engine(tmp_path), buckets=BUCKETS, workdir=tmp_path
    )
    first = await provider.submit(request(seed=3))
    second = await provider.submit(request(model=ModelFamily.FRAMEPACK_F1))
    one, two = await asyncio.gather(events_of(provider, first), events_of(provider, second))
    assert isinstance(one[-1], Succeeded) and isinstance(two[-1], Succeeded)
    assert Queued(1) in two  # it waited for the first
    progress = [e.progress for e in one if isinstance(e, Running)]
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
    assert len(progress) == 1 + 4 * 4  # the start, then each of 4 sections x 4 steps
    result = await provider.fetch_result(first, one[-1], tmp_path / "out" / "result.mp4")
    assert result.seed == 3 == first.seed
    with av.open(str(result.path)) as container:
        assert container.streams.video[0].frames == 30
    await provider.aclose()


async def test_cancel_stops_the_running_job_and_the_next_runs(tmp_path: Path) -> None:
    provider = LocalProvider.in_process(
        lambda: tiny_engine(tmp_path), buckets=BUCKETS, workdir=tmp_path
    )
    doomed = await provider.submit(request(num_frames=120))
    after = await provider.submit(request())
    seen = []
    async for event in provider.watch(doomed):
        seen.append(event)
        if isinstance(event, Running) and event.progress and event.progress > 0:
            assert await provider.cancel(doomed)
    assert isinstance(seen[-1], Failed) and "cancelled" in seen[-1].error.message
    running = [e for e in seen if isinstance(e, Running)]
    assert running[-1].progress < 0.5  # stopped within a step, far from the end
    assert isinstance((await events_of(provider, after))[-1], Succeeded)
    await provider.aclose()


async def test_refusals_and_load_failures(tmp_path: Path) -> None:
    def broken() -> FramePackEngine:
        raise RuntimeError("CUDA out of memory")

    provider = LocalProvider.in_process(broken, buckets=BUCKETS, workdir=tmp_path)
    with pytest.raises(InvalidInputError, match="no wan-flf2v model"):
        provider.check(request(model=ModelFamily.WAN_FLF2V, last_image=png()))
    handle = await provider.submit(request())
    last = (await events_of(provider, handle))[-1]
    assert isinstance(last, Failed) and "could not load: CUDA out of memory" in last.error.message
    assert not provider.knows({"request_id": "from-another-process"})
    await provider.aclose()


async def test_missing_weights_are_one_clear_line_not_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from local_engine.folders import Folders

    folders = Folders(tmp_path / "base", tmp_path / "transformer", tmp_path / "siglip")

    def load() -> FramePackEngine:
        folders.require()  # what the real loader does first
        raise AssertionError("unreachable")

    provider = LocalProvider.in_process(load, buckets=BUCKETS, workdir=tmp_path / "work")
    handle = await provider.submit(request())
    last = (await events_of(provider, handle))[-1]
    await provider.aclose()
    assert isinstance(last, Failed) and "weights are not all there" in last.error.message
    records = [r for r in caplog.records if "could not load" in r.getMessage()]
    assert records and not any(r.exc_info for r in records)
