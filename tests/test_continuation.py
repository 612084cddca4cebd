"""True continuation on the local engine: an Extend samples on with FramePack-F1, the
earlier video's last frames as its history. Random tiny weights say nothing about how
it looks, so these record what the transformer is given, and compare it with the
earlier video's latents computed here."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from bot.core.api import Accepted, FollowUp
from local_engine.buckets import fit_to_bucket, nearest_bucket
from local_engine.continuation import HISTORY_LATENTS, last_frames
from local_engine.encode import write_mp4
from local_engine.engine import FramePackEngine
from local_engine.request import EngineRequest
from providers import GenerationRequest, ImageInput
from providers.pool.contract import EngineJob
from providers.pool.jobs import engine_job, engine_request
from tests.support import tiny_framepack as tiny
from tests.support.provider_world import png_bytes
from tests.support.service_world import animate, local_service, requester

STEPS = 4


class HistoryLog:
    """What the transformer's forward receives, after every hook: the 18 history slots
    before the 1x one (4x then 2x), per call."""

    def __init__(self, transformer) -> None:
        self.calls: list[torch.Tensor] = []
        forward = transformer.forward

        def recording(*args, **kwargs):
            self.calls.append(
                torch.cat([kwargs["latents_history_4x"], kwargs["latents_history_2x"]], dim=2)
            )
            return forward(*args, **kwargs)

        transformer.forward = recording

    def section(self, k: int) -> torch.Tensor:
        return self.calls[k * STEPS]


def still(shade: int) -> Image.Image:
    return Image.new("RGB", (64, 40), (shade, 255 - shade, 90))


def job(image: Image.Image, num_frames: int, **changes) -> EngineRequest:
    """At the tiny bucket table's base (64), as the tests' engine runs."""
    fields = dict(image=image, prompt="waves", num_frames=num_frames, steps=STEPS, base=64)
    return EngineRequest(**{**fields, **changes})


def mp4(frames: np.ndarray) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        return write_mp4(frames, Path(scratch) / "video.mp4").read_bytes()


def expected_history(
    engine: FramePackEngine, video: bytes, image: Image.Image, base: int = 64
) -> torch.Tensor:
    """The earlier video's last 18 latents, as the VAE makes them (the mode)."""
    pipe = engine.f1_pipe
    bucket = nearest_bucket(image.width, image.height, base)
    frames = [fit_to_bucket(frame, bucket) for frame in last_frames(video)]
    frames = frames[-((len(frames) - 1) // 4 * 4 + 1) :]
    pixels = pipe.video_processor.preprocess(frames, *bucket).permute(1, 0, 2, 3).unsqueeze(0)
    with torch.no_grad():
        latents = pipe.vae.encode(pixels).latent_dist.mode() * pipe.vae.config.scaling_factor
    return latents[:, :, -HISTORY_LATENTS:]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FramePackEngine:
    scratch = tmp_path_factory.mktemp("tiny")
    return tiny.engine(scratch, f1_transformer=tiny.transformer(seed=1))


@pytest.fixture(scope="module")
def earlier(engine: FramePackEngine) -> bytes:
    """A 3-second video of the engine's own: 90 frames, more than the history holds."""
    return mp4(engine.frames(job(still(40), 90)))


def extend(video: bytes, image: Image.Image | None = None, **changes) -> EngineRequest:
    """An Extend of `video`: from its last frame (unless told another), with its past."""
    start = image or last_frames(video, 1)[0]
    return job(start, 30, **{"seed": 3, "history": video, **changes})


def test_the_sampler_is_given_the_earlier_videos_latents_as_its_history(
    engine: FramePackEngine, earlier: bytes
) -> None:
    log = HistoryLog(engine.f1_pipe.transformer)
    request = extend(earlier)
    video = engine.frames(request)
    wanted = expected_history(engine, earlier, request.image).to(log.calls[0])
    assert video.shape[0] == 30
    assert len(log.calls) == 4 * STEPS  # 30 frames: four sections of 3 latents
    # Section 0: all 18 slots are the earlier video's, the most recent nearest the new.
    torch.testing.assert_close(log.section(0), wanted)
    # Section 1: 3 slots are section 0's new latents, the 15 before them the video's.
    torch.testing.assert_close(log.section(1)[:, :, :15], wanted[:, :, 3:])
    assert log.section(1)[:, :, 15:].abs().amax() > 0
    # Section 6 onwards would have none left; by section 3, 9 slots are still the video's.
    torch.testing.assert_close(log.section(3)[:, :, :9], wanted[:, :, 9:])


def test_without_an_earlier_video_f1_starts_from_zeros(engine: FramePackEngine) -> None:
    log = HistoryLog(engine.f1_pipe.transformer)
    engine.frames(job(still(40), 30, f1=True))
    assert log.section(0).abs().amax() == 0  # what the continuation fills, otherwise zero


def test_a_short_earlier_video_fills_the_slots_nearest_the_new_frames(
    engine: FramePackEngine,
) -> None:
    short = mp4(engine.frames(job(still(200), 30)))
    log = HistoryLog(engine.f1_pipe.transformer)
    request = extend(short)
    engine.frames(request)
    wanted = expected_history(engine, short, request.image).to(log.calls[0])
    held = wanted.shape[2]  # 30 frames make 7 whole latents (29 frames) + the first
    assert held < HISTORY_LATENTS
    torch.testing.assert_close(log.section(0)[:, :, -held:], wanted)
    assert log.section(0)[:, :, :-held].abs().amax() == 0


def test_an_extend_on_the_original_model_alone_starts_from_its_last_frame(
    tmp_path: Path, earlier: bytes
) -> None:
    plain = tiny.engine(tmp_path / "tiny")  # no F1 installed
    assert not plain.samples_forward(extend(earlier))
    assert plain.frames(extend(earlier)).shape[0] == 30


def test_the_earlier_video_changes_what_is_made(engine: FramePackEngine, earlier: bytes) -> None:
    other = mp4(engine.frames(job(still(230), 90)))
    request = extend(earlier)
    same_start = extend(other, image=request.image)  # the same last frame, another past
    assert not np.array_equal(engine.frames(request), engine.frames(same_start))
    assert np.array_equal(engine.frames(request), engine.frames(extend(earlier)))  # seeded


def test_last_frames_decodes_the_tail_in_order(engine: FramePackEngine) -> None:
    frames = np.stack([np.full((16, 16, 3), 8 * i, np.uint8) for i in range(24)])
    tail = last_frames(mp4(frames), 5)
    assert [round(np.asarray(f).mean() / 8) for f in tail] == [19, 20, 21, 22, 23]
    with av.open(io.BytesIO(mp4(frames))) as container:
        assert container.streams.video[0].frames == 24


def decoded(video: Path) -> np.ndarray:
    with av.open(str(video)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


async def test_an_extend_through_the_bot_carries_on_the_earlier_video_with_no_seam_frame(
    tmp_path: Path,
) -> None:
    engine = tiny.engine(tmp_path / "tiny", f1_transformer=tiny.transformer(seed=1))
    log = HistoryLog(engine.f1_pipe.transformer)
    # 64 x 112: an Extend's first frame passes intake.
    async with local_service(tmp_path, engine, buckets={"480p": 80, "720p": 96}) as world:
        service = world.service
        first = await service.submit(animate(num_frames=90, steps=STEPS))
        assert isinstance(first, Accepted), first
        await service.join()
        assert not log.calls  # the first job is the original model's (inverted) sampling
        extend_outcome = await service.follow_up(
            first.job_id, requester(), kind=FollowUp.EXTEND, reply_ref={}
        )
        assert isinstance(extend_outcome, Accepted), extend_outcome
        await service.join()
        job = await world.store.jobs.require(extend_outcome.job_id)
    assert job.state.value == "delivered", job.error
    folder = world.folder(job.id)
    earlier, part = (folder / "earlier.mp4").read_bytes(), decoded(folder / "part.mp4")
    start = Image.open(folder / "first.jpg").convert("RGB")
    wanted = expected_history(engine, earlier, start, base=80).to(log.calls[0])
    torch.testing.assert_close(log.section(0), wanted)  # F1, with the earlier video's past
    joined = decoded(world.delivery.delivered[job.id][0])
    assert len(joined) == 90 + len(part) - 1  # the part's first frame is the video's last
    # After the seam come the part's frames from its second on: nearer those than the
    # part as a whole shifted by one (its first frame, the earlier video's last, again).
    after_seam = joined[90:].astype(int)
    without_first = np.abs(after_seam - part[1:]).mean()
    with_first = np.abs(after_seam - part[:-1]).mean()
    assert without_first < with_first, (without_first, with_first)


def test_the_earlier_video_travels_with_the_engine_job(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier.mp4"
    earlier.write_bytes(mp4(np.zeros((9, 16, 16, 3), np.uint8)))
    asked = GenerationRequest(
        prompt="waves",
        image=ImageInput(data=png_bytes(), mime_type="image/png"),
        continues=earlier,
    )
    job = engine_job(asked, job_id="j", user="u", priority=False, seed=1, buckets={"480p": 64})
    assert job.history == earlier.read_bytes()
    assert EngineJob.from_wire(job.to_wire()) == job  # as the GPU pool carries it
    assert engine_request(job).history == earlier.read_bytes()
