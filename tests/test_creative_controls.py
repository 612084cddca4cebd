"""Extend, Loop, Draft/HD, Remix and the recipe in the MP4, through the job service with
a fake provider behind it (the adapters' own tests drive the same through Discord and
Telegram)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from bot.core.api import Accepted, FollowUp, Refused, Requester
from bot.core.media import read_tags
from bot.core.quotas import job_cost_mc
from bot.core.recipe import Recipe
from tests.support import tiny_framepack as tiny
from tests.support.images import image_bytes
from tests.support.media_clips import reds, steps_between
from tests.support.service_world import (
    World,
    animate,
    local_service,
    requester,
    service_world,
)

PART = 60  # frames of each job here: 2 s


async def _delivered(world: World, outcome: Accepted | Refused) -> str:
    assert isinstance(outcome, Accepted), outcome
    await world.service.join()
    job = await world.store.jobs.require(outcome.job_id)
    assert job.state.value == "delivered", job.error
    return job.id


async def _extend(world: World, job_id: str, user: int = 1) -> Accepted | Refused:
    return await world.service.follow_up(
        job_id, requester(user), kind=FollowUp.EXTEND, reply_ref={}
    )


async def _input(world: World, job_id: str) -> dict:
    """What the fake provider was sent for this job."""
    job = await world.store.jobs.require(job_id)
    return world.fake.jobs[job.provider_handle["request_id"]].input  # type: ignore[attr-defined]


async def test_extend_twice_gives_one_video_as_long_as_its_parts_with_no_frame_twice(
    tmp_path: Path,
) -> None:
    async with service_world(tmp_path) as world:
        first = await _delivered(world, await world.service.submit(animate(num_frames=PART)))
        second = await _delivered(world, await _extend(world, first))
        third = await _delivered(world, await _extend(world, second))
        videos = [world.delivery.delivered[job][0] for job in (first, second, third)]
        ledgers = [await world.store.ledger.entries(job) for job in (first, second, third)]
        folder = world.service.jobs_dir / third
        downloads = world.fake.media_downloads
        captions = [world.delivery.delivered[job][1] for job in (second, third)]

    frames = [len(reds(video)) for video in videos]
    assert frames == [PART, 2 * PART - 1, 3 * PART - 2]  # each part starts on the last frame
    shades = reds(videos[2])
    # Every frame steps the fake's colour on by 7, across both seams: none repeats.
    assert all(4 <= step <= 10 for step in steps_between(shades)), steps_between(shades)
    # Charged for the new seconds only.
    assert [entry["commit"] for entry in ledgers] == [job_cost_mc(PART, "480p")] * 3
    assert "4 s (2 s new)" in captions[0] and "5.9 s (2 s new)" in captions[1]
    # The earlier video is kept with the job: a later Extend downloads nothing again.
    assert (folder / "earlier.mp4").exists() and (folder / "part.mp4").exists()
    assert downloads == 3


async def test_extend_past_the_total_length_cap_is_refused_and_costs_nothing(
    tmp_path: Path,
) -> None:
    async with service_world(
        tmp_path, settings_overrides={"limits": {"max_total_seconds": 5}}
    ) as world:
        first = await _delivered(world, await world.service.submit(animate(num_frames=PART)))
        second = await _delivered(world, await _extend(world, first))  # 3.97 s
        quota = await world.service.quotas.user_quota("discord:1", "discord:500")
        submits = world.fake.submits
        refused = await _extend(world, second)  # 5.9 s would pass 5
        after = await world.service.quotas.user_quota("discord:1", "discord:500")
    assert isinstance(refused, Refused) and refused.reason == "too_long"
    assert refused.message == (
        "This video is 4 s long; another 2 s would pass the 5 s limit. Nothing was charged."
    )
    assert after.remaining_mc == quota.remaining_mc and world.fake.submits == submits


async def test_a_loop_sends_its_image_as_first_and_last_frame(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        outcome = await world.service.submit(animate(num_frames=PART, loop=True))
        job_id = await _delivered(world, outcome)
        job = await world.store.jobs.require(job_id)
        sent = world.fake.jobs[job.provider_handle["request_id"]]
        (post,) = world.delivery.sent
        retry = await world.service.follow_up(
            job_id, requester(), kind=FollowUp.RETRY, reply_ref={}
        )
        again = await _input(world, await _delivered(world, retry))
    assert sent.endpoint == "fal-ai/framepack/flf2v"
    assert sent.input["end_image_url"] == sent.input["image_url"]
    assert post.loop and "🔁 loops" in post.caption
    assert again["end_image_url"] == again["image_url"] == sent.input["image_url"]


@pytest.mark.parametrize(
    ("backend", "request_kw", "reason", "message"),
    [
        (
            "lannetech",
            {"loop": True},
            "provider",
            "lannetech cannot make a loop with framepack: a loop needs a model that takes a "
            "last frame (framepack on fal or the local engine, or wan-flf2v).",
        ),
        (
            "fal",
            {"loop": True, "last": image_bytes(color=(0, 0, 200))},
            "bad_option",
            "A loop ends on the image it starts from: send one image, or drop loop to end on "
            "your last frame.",
        ),
        (
            "fal",
            {"draft": True, "resolution": "720p"},
            "bad_option",
            "A draft is made at 480p: leave out the resolution, or drop draft.",
        ),
    ],
    ids=["no last frame there", "loop with a last frame", "draft at 720p"],
)
async def test_what_cannot_loop_or_draft_is_refused_in_one_line(
    tmp_path: Path, backend: str, request_kw: dict, reason: str, message: str
) -> None:
    async with service_world(tmp_path, backend) as world:
        refused = await world.service.submit(animate(**request_kw))
        submits = world.fake.submits
    assert isinstance(refused, Refused) and (refused.reason, refused.message) == (reason, message)
    assert submits == 0


async def test_a_draft_then_hd_keeps_image_prompt_and_seed_at_720p_with_full_steps(
    tmp_path: Path,
) -> None:
    last = image_bytes(color=(10, 200, 10))
    async with service_world(tmp_path) as world:
        outcome = await world.service.submit(
            animate("a door opens", last=last, model="wan-flf2v", draft=True)
        )
        assert isinstance(outcome, Accepted)
        # The price, before it runs (Wan makes 6 s at 16 fps here).
        assert outcome.message.endswith("This 6 s draft costs 6 credits.")
        draft = await _delivered(world, outcome)
        draft_sent = await _input(world, draft)
        draft_job = await world.store.jobs.require(draft)
        (draft_post,) = world.delivery.sent
        hd_outcome = await world.service.follow_up(
            draft, requester(), kind=FollowUp.HD, reply_ref={}
        )
        hd = await _delivered(world, hd_outcome)
        hd_sent = await _input(world, hd)
        hd_post = world.delivery.sent[-1]
        again = await world.service.follow_up(hd, requester(), kind=FollowUp.HD, reply_ref={})
    assert draft_sent["resolution"] == "480p" and draft_sent["num_inference_steps"] == 10
    assert draft_post.follow_ups[0] is FollowUp.HD
    assert f"seed {draft_job.seed}" in draft_post.caption
    assert "480p draft, 10 steps" in draft_post.caption
    assert hd_sent["resolution"] == "720p" and "num_inference_steps" not in hd_sent
    assert hd_sent["seed"] == draft_job.seed
    for field in ("prompt", "start_image_url", "end_image_url"):
        assert hd_sent[field] == draft_sent[field]
    assert FollowUp.HD not in hd_post.follow_ups and "720p" in hd_post.caption
    assert isinstance(again, Refused) and again.reason == "not_a_draft"


async def test_remix_keeps_the_images_seed_and_options_with_the_new_prompt(
    tmp_path: Path,
) -> None:
    async with service_world(tmp_path) as world:
        first = await _delivered(
            world, await world.service.submit(animate("calm sea", num_frames=PART, guidance=6))
        )
        first_job = await world.store.jobs.require(first)
        first_sent = await _input(world, first)
        assert await world.service.remix_prompt(first, requester()) == "calm sea"
        elsewhere = Requester("discord", "discord:2", "discord:501", "discord:c901", "901")
        stranger = await world.service.remix_prompt(first, elsewhere)
        remix = await world.service.follow_up(
            first, requester(), kind=FollowUp.REMIX, reply_ref={}, prompt="a storm rises"
        )
        remix_sent = await _input(world, await _delivered(world, remix))
    assert isinstance(stranger, Refused)  # someone else's prompt is not shown
    assert remix_sent["prompt"] == "a storm rises"
    assert remix_sent["seed"] == first_job.seed
    assert remix_sent["image_url"] == first_sent["image_url"]
    assert remix_sent["num_frames"] == PART and remix_sent["guidance_scale"] == 6


async def test_the_video_carries_its_recipe_in_its_tags(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        outcome = await world.service.submit(
            animate("waves roll in", num_frames=PART, negative_prompt="blur", guidance=7, seed=42)
        )
        job_id = await _delivered(world, outcome)
        video = world.delivery.delivered[job_id][0]
    tags = read_tags(video)
    assert tags["made_by"] == "framepack-bot"
    assert {key: tags[key] for key in ("prompt", "negative_prompt", "seed", "provider")} == {
        "prompt": "waves roll in",
        "negative_prompt": "blur",
        "seed": "42",
        "provider": "fal",
    }
    assert tags["frames"] == str(PART) and tags["guidance"] == "7.0"
    assert tags["model"] == "framepack" and tags["mode"] == "image-to-video"
    recipe = Recipe.from_tags(tags)
    assert recipe.prompt == "waves roll in" and recipe.seed == 42 and not recipe.loop
    with av.open(str(video)) as container:  # still a video that decodes
        assert sum(1 for _ in container.decode(video=0)) == PART


class RecordingPipeline:
    """diffusers' pipeline as the engine calls it, with what each call was given kept:
    random weights say nothing about the frames, the arguments say what was asked."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe
        self.calls: list[dict] = []

    def __getattr__(self, name: str):
        return getattr(self.pipe, name)

    def __call__(self, **kwargs):
        self.calls.append({**kwargs, "_step_cache": self.pipe.transformer.is_cache_enabled})
        return self.pipe(**kwargs)


async def test_a_loop_and_a_draft_on_the_local_engine(tmp_path: Path) -> None:
    engine = tiny.engine(
        tmp_path / "tiny",
        draft_cache="first-block",  # as [engine] draft_step_cache's default loads it
    )
    engine.pipe = recording = RecordingPipeline(engine.pipe)
    async with local_service(tmp_path, engine) as world:
        outcome = await world.service.submit(animate(num_frames=30, loop=True, draft=True))
        assert isinstance(outcome, Accepted), outcome
        await world.service.join()
        job = await world.store.jobs.require(outcome.job_id)
    assert job.state.value == "delivered", job.error
    (call,) = recording.calls
    first, last = (np.asarray(call[name]) for name in ("image", "last_image"))
    assert np.array_equal(first, last)  # the loop ends on its first image
    assert call["num_inference_steps"] == 10  # the draft's fewer steps
    assert call["_step_cache"]  # and the draft step cache ([engine] draft_step_cache)
    (post,) = world.delivery.sent
    assert post.loop and post.follow_ups[0] is FollowUp.HD


async def test_a_retry_of_an_extended_video_is_that_extend_again(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        first = await _delivered(world, await world.service.submit(animate(num_frames=PART)))
        extended = await _delivered(world, await _extend(world, first))
        retry = await world.service.follow_up(
            extended, requester(), kind=FollowUp.RETRY, reply_ref={}
        )
        again = await _delivered(world, retry)
        video = world.delivery.delivered[again][0]
        ledger = await world.store.ledger.entries(again)
    assert len(reds(video)) == 2 * PART - 1  # the earlier video and a new part, joined
    assert all(4 <= step <= 10 for step in steps_between(reds(video)))
    assert ledger["commit"] == job_cost_mc(PART, "480p")  # the new part only
