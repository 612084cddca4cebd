"""A job's request as its row keeps it (`bot.core.request.StoredRequest`): typed and
frozen, and rows that an earlier version wrote still work."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.core.api import Accepted, FollowUp, Requester
from bot.core.request import StoredRequest
from providers import GenerationRequest, ImageInput
from storage import JobState
from tests.support.service_world import requester, service_world

# tests/data/store_b0a3d09/make.py says how: the data folder of the last version
# before the redesign, with two delivered jobs.
BEFORE_THE_REDESIGN = Path(__file__).parent / "data" / "store_b0a3d09"
STILL_IMAGE_JOB = "8ccc98e0b95f"  # 60 frames, seed 42, guidance 6, negative "blur"
FIRST_LAST_JOB = "a5565ac6208c"  # 60 frames, strength 0.7


def _data_folder_of_the_earlier_version(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(BEFORE_THE_REDESIGN, data, ignore=shutil.ignore_patterns("*.py"))
    # The rows name the folder the earlier bot ran in; this one runs here.
    with sqlite3.connect(data / "framepack-bot.sqlite3") as db:
        db.execute(
            "UPDATE jobs SET result_path = ? || '/jobs/' || id || '/result.mp4'", [str(data)]
        )


async def test_retry_and_extend_work_on_jobs_an_earlier_version_wrote(tmp_path: Path) -> None:
    _data_folder_of_the_earlier_version(tmp_path)
    owner = requester()  # who made the two jobs (make.py)
    async with service_world(tmp_path) as world:
        asked = {}
        for name, job_id, kind in (
            ("retry", STILL_IMAGE_JOB, FollowUp.RETRY),
            ("retry first-last", FIRST_LAST_JOB, FollowUp.RETRY),
            ("extend", STILL_IMAGE_JOB, FollowUp.EXTEND),
        ):
            outcome = await world.service.follow_up(job_id, owner, kind=kind, reply_ref={})
            assert isinstance(outcome, Accepted), (name, outcome)
            asked[name] = outcome.job_id
            await world.service.join()  # two at once is a user's cap
        sent = {}
        for name, job_id in asked.items():
            job = await world.store.jobs.require(job_id)
            assert job.state is JobState.DELIVERED, name
            sent[name] = world.fake.jobs[job.provider_handle["request_id"]]

    retry = sent["retry"].input
    assert sent["retry"].endpoint == "fal-ai/framepack"
    assert retry["prompt"] == "a lighthouse in a storm" and retry["num_frames"] == 60
    assert retry["guidance_scale"] == 6.0 and retry["negative_prompt"] == "blur"
    assert retry.get("seed") != 42  # a Retry is a new seed
    first_last = sent["retry first-last"]
    assert first_last.endpoint == "fal-ai/framepack/flf2v"
    assert first_last.input["strength"] == 0.7 and "end_image_url" in first_last.input
    extend = sent["extend"]
    assert extend.endpoint == "fal-ai/framepack" and extend.input["num_frames"] == 60
    assert extend.input["image_url"] != retry["image_url"]  # the video's last frame


def test_the_stored_request_keeps_every_field_of_the_generation_request() -> None:
    files = {"image", "last_image", "continues"}  # beside the row, in the job's folder
    asked = set(GenerationRequest.model_fields) - files
    assert asked <= set(StoredRequest.model_fields)


def test_a_row_turns_back_into_the_request_it_was_made_from() -> None:
    image = ImageInput(data=b"\xff\xd8first", mime_type="image/jpeg")
    last = ImageInput(data=b"\xff\xd8last", mime_type="image/jpeg")
    generation = GenerationRequest(
        prompt="waves",
        negative_prompt="blur",
        image=image,
        last_image=last,
        seed=9_999_999_999,
        num_frames=90,
        num_inference_steps=20,
        guidance_scale=4.5,
        strength=0.3,
    )
    who = Requester("telegram", "telegram:5", "telegram:-100", "telegram:-100", "-100", ("r",))
    stored = StoredRequest.of(generation, 3.0, who, safety=False)
    row = stored.row()
    assert StoredRequest.model_validate(row) == stored
    assert stored.generation(image, last) == generation
    assert stored.seconds == 3.0 and stored.role_keys == ("r",)
    retry = stored.follow_up_options("fal", FollowUp.RETRY, seed=7, with_last_frame=True)
    assert retry == {
        "provider": "fal",
        "model": "framepack",
        "resolution": "480p",
        "aspect_ratio": "auto",
        "num_frames": 90,
        "negative_prompt": "blur",
        "steps": 20,
        "guidance": 4.5,
        "strength": 0.3,
        "loop": False,
        "draft": False,
    }
    extend = stored.follow_up_options("fal", FollowUp.EXTEND, seed=7, with_last_frame=False)
    assert "strength" not in extend and "seed" not in extend
    remix = stored.follow_up_options("fal", FollowUp.REMIX, seed=7, with_last_frame=True)
    assert remix == {**retry, "seed": 7}  # the seed the video was made with
    hd = stored.follow_up_options("fal", FollowUp.HD, seed=7, with_last_frame=True)
    assert hd == {**retry, "seed": 7, "resolution": "720p", "draft": False}
    with pytest.raises(ValidationError):
        stored.prompt = "changed"  # frozen
