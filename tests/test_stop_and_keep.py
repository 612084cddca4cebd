"""Stop and keep on the local engine: the sections finished when the user stops become
the video — the clip's beginning, on FramePack-F1's forward sampler."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.core import messages
from bot.core.api import Accepted, CancelOutcome, FollowUp, JobUpdate
from bot.core.media import read_tags
from bot.core.quotas import job_cost_mc
from bot.core.request import StoredRequest
from local_engine.engine import FramePackEngine
from local_engine.keep import frames_after
from local_engine.request import EngineRequest, Progress
from providers.local import LocalProvider
from tests.support import tiny_framepack as tiny
from tests.support.discord_world import discord_world
from tests.support.fakes.discord import Sent
from tests.support.fakes.telegram import buttons
from tests.support.media_clips import reds
from tests.support.provider_world import png_bytes
from tests.support.service_world import animate, local_service, requester
from tests.support.telegram_world import telegram_world

STEPS = 4
DISCORD_USER = "discord:700000000000000001"
OVERLAP = (tiny.WINDOW - 1) * 4 + 1  # frames a section blends with the one before


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FramePackEngine:
    return tiny.engine(tmp_path_factory.mktemp("tiny"), f1_transformer=tiny.transformer(seed=1))


def job(**changes) -> EngineRequest:
    image = Image.new("RGB", (64, 40), (200, 60, 40))
    fields = dict(image=image, prompt="waves", num_frames=60, steps=STEPS, base=64, seed=5)
    return EngineRequest(**{**fields, **changes})


def stop_in_section(section: int, seen: list[Progress], keep: threading.Event):
    """A progress callback that asks to keep once `section` is being sampled."""

    def on_progress(p: Progress) -> None:
        seen.append(p)
        if p.section == section:
            keep.set()

    return on_progress


def test_the_finished_sections_are_the_beginning_of_the_full_video(
    engine: FramePackEngine,
) -> None:
    full = engine.frames(job(f1=True))
    keep, seen = threading.Event(), []
    kept = engine.frames(job(f1=True), on_progress=stop_in_section(2, seen, keep), keep=keep)
    assert len(full) == 60 and len(kept) == frames_after(2, tiny.WINDOW) == 25
    # Stopped within one step of the ask: the first step of section 2 was the last.
    assert seen[-1].section == 2 and seen[-1].step == 2 * STEPS + 1
    assert seen[-1].keepable_frames == 25
    # The same frames as the full video's, but for the last section's tail, which the
    # full run blends with the section after it.
    np.testing.assert_array_equal(kept[: 25 - OVERLAP], full[: 25 - OVERLAP])


def test_a_keep_asked_before_a_section_is_finished_stops_once_one_is(
    engine: FramePackEngine,
) -> None:
    keep, seen = threading.Event(), []
    kept = engine.frames(job(f1=True), on_progress=stop_in_section(0, seen, keep), keep=keep)
    assert seen[0].keepable_frames == 0 and seen[-1].section == 0
    assert len(kept) == frames_after(1, tiny.WINDOW)  # the first section, not nothing


def test_the_original_sampler_offers_no_keep_and_runs_to_the_end(
    engine: FramePackEngine,
) -> None:
    keep, seen = threading.Event(), []
    video = engine.frames(job(), on_progress=stop_in_section(1, seen, keep), keep=keep)
    assert len(video) == 60  # it makes the end first: what is finished is no beginning
    assert {p.keepable_frames for p in seen} == {0}
    assert keep.is_set()  # asked, and not honoured


class PausedAt:
    """Holds the transformer at one call (a step) until released: the test presses
    Stop & keep while the engine is known to be there, whatever the machine's speed."""

    def __init__(self, transformer, call: int) -> None:
        self.released = threading.Event()
        self.calls = 0
        forward = transformer.forward

        def paused(*args, **kwargs):
            self.calls += 1
            if self.calls == call:
                assert self.released.wait(60), "never released"
            return forward(*args, **kwargs)

        transformer.forward = paused


async def test_stop_and_keep_through_the_bot_delivers_the_part_and_charges_for_it(
    tmp_path: Path,
) -> None:
    engine = tiny.engine(tmp_path / "tiny", f1_transformer=tiny.transformer(seed=1))
    # Held at section 1's second step, after its first told that section 0 is finished.
    pause = PausedAt(engine.f1_pipe.transformer, call=STEPS + 2)
    updates: list[JobUpdate] = []
    pressed: list[CancelOutcome] = []
    async with local_service(tmp_path, engine) as world:
        service = world.service

        async def press_when_keepable(update: JobUpdate) -> None:
            updates.append(update)
            if update.keep_s and not pressed:
                # A stranger may not; the owner may.
                pressed.append(await service.keep(update.job.id, by=requester(2)))
                pressed.append(await service.keep(update.job.id, by=requester()))
                pause.released.set()

        service.subscribe(press_when_keepable)
        try:
            outcome = await service.submit(
                animate(num_frames=60, steps=STEPS, model="framepack-f1")
            )
            assert isinstance(outcome, Accepted), outcome
            early = await service.keep(outcome.job_id, by=requester())  # queued: nothing yet
            await service.join()
        finally:
            pause.released.set()
        job = await world.store.jobs.require(outcome.job_id)
        ledger = await world.store.ledger.entries(job.id)
        problems = await world.store.ledger.verify()
    assert not early.cancelled and early.message == messages.CANNOT_KEEP
    assert [p.cancelled for p in pressed] == [False, True]
    assert pressed[0].message == messages.NOT_YOURS and pressed[1].message == messages.KEEPING
    keepable = next(u for u in updates if u.keep_s)
    assert keepable.keep_s == pytest.approx(13 / 30)  # one section: 4 x 3 frames + the first
    assert "Stop & keep now gives the first 0.4 s" in keepable.message
    assert job.state.value == "delivered", job.error
    video, caption = world.delivery.delivered[job.id]
    made = frames_after(1, tiny.WINDOW)  # the one section finished when it stopped
    assert len(reds(video)) == made
    assert ledger == {"reserve": job_cost_mc(60, "480p"), "commit": job_cost_mc(made, "480p")}
    assert job.cost_mc == job_cost_mc(made, "480p") and problems == []
    assert "(⏹ stopped, of 2 s)" in caption
    assert read_tags(video)["frames"] == str(made)
    # A Retry asks for the length first asked, not the part kept.
    assert (
        StoredRequest.of_job(job).follow_up_options(
            "local", FollowUp.RETRY, seed=None, with_last_frame=False
        )["num_frames"]
        == 60
    )


def local_provider(tmp_path: Path) -> tuple[LocalProvider, PausedAt]:
    """The tiny engine with F1, held in section 1 until released (see PausedAt), as a
    chat world's provider."""
    engine = tiny.engine(tmp_path / "tiny", f1_transformer=tiny.transformer(seed=1))
    pause = PausedAt(engine.f1_pipe.transformer, call=STEPS + 2)
    provider = LocalProvider.in_process(
        lambda: engine, buckets={"480p": 64, "720p": 96}, workdir=tmp_path / "work"
    )
    return provider, pause


async def test_stop_and_keep_on_telegram(tmp_path: Path) -> None:
    provider, pause = local_provider(tmp_path)
    try:
        async with telegram_world(tmp_path, engine=provider) as world:
            fake = world.telegram
            request = fake.photo_message(
                png_bytes(128, 72), "/animate waves model=framepack-f1 duration=2 steps=4"
            )
            fake.push_update(message=request)
            keep = await world.wait_for(
                lambda: buttons(world.status_of(request)).get("Stop & keep"), within=60
            )
            status = world.status_of(request)
            assert "Stop & keep now gives the first 0.4 s" in status["caption"]
            fake.press(keep, status, user_id=7002)  # someone else's job
            fake.press(keep, status)
            answers = await world.wait_for(
                lambda: len(texts := _callback_answers(fake)) == 2 and texts
            )
            pause.released.set()
            video = await world.video_for(request)
    finally:
        pause.released.set()
    assert answers == [messages.NOT_YOURS, messages.KEEPING]
    assert len(reds(fake.videos[-1])) == frames_after(1, tiny.WINDOW)
    assert "(⏹ stopped, of 2 s)" in video["caption"]
    assert "Stop & keep" not in buttons(video)  # the delivered video has its follow-ups


def _callback_answers(fake) -> list[str]:
    return [str(c.params.get("text")) for c in fake.of_method("answerCallbackQuery")]


async def test_stop_and_keep_on_discord(tmp_path: Path) -> None:
    provider, pause = local_provider(tmp_path)
    options = [
        {"name": "duration", "type": 10, "value": 2},
        {"name": "steps", "type": 4, "value": STEPS},
        {"name": "model", "type": 3, "value": "framepack-f1"},
    ]
    try:
        async with discord_world(tmp_path, engine=provider) as world:
            asked = await world.animate("waves", extra_options=options)
            await world.answer_to(asked)  # "Queued …": the job is recorded
            job_id = (await world.service.history(DISCORD_USER))[0].id

            def offers_keep(sent: Sent) -> bool:
                rows = sent.payload.get("components") or []
                ids = [c.get("custom_id") for row in rows for c in row.get("components", [])]
                return sent.kind == "edit" and f"fp:keep:{job_id}" in ids

            (status, *_) = await world.wait_for(offers_keep, within=60)
            stranger = await world.press(f"fp:keep:{job_id}", user_id="700000000000000009")
            owner = await world.press(f"fp:keep:{job_id}")
            said = [await world.answer_to(stranger), await world.answer_to(owner)]
            pause.released.set()
            (post,) = await world.wait_for(
                lambda s: (
                    s.kind == "followup" and s.files and s.payload["_token"] == asked["token"]
                ),
                within=60,
            )
            await world.service.join()
    finally:
        pause.released.set()
    assert "Stop & keep now gives the first 0.4 s" in status.payload["content"]
    assert said == [messages.NOT_YOURS, messages.KEEPING]
    assert len(reds(post.files[0][1])) == frames_after(1, tiny.WINDOW)
    assert "(⏹ stopped, of 2 s)" in post.payload["content"]
