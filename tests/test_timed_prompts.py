"""A prompt per section of time (`[0s: …] [2.5s: …]`): read once, refused clearly where
a backend takes one prompt, carried to the local engine (in process or through the GPU
pool's job) as its parts. The engine's use of them: tests/test_local_engine.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.api import Refused
from providers import GenerationRequest, ImageInput
from providers.pool.jobs import engine_job, engine_request
from providers.prompts import TimedPrompt, timed_prompts
from tests.support.provider_world import png_bytes
from tests.support.service_world import animate, service_world


def test_timed_parts_are_read_in_order() -> None:
    assert timed_prompts("a cat sits") == ()
    assert timed_prompts("[0s: a cat sits] [2,5s:  the cat jumps ] ") == (
        TimedPrompt(0.0, "a cat sits"),
        TimedPrompt(2.5, "the cat jumps"),
    )


@pytest.mark.parametrize(
    ("prompt", "why"),
    [
        ("a cat [0s: sits]", "write every part of a timed prompt as [time: words]"),
        ("[1s: a cat sits]", "the first part of a timed prompt starts at 0s"),
        ("[0s: a cat] [2s: sits] [2s: jumps]", "the times of a timed prompt must rise"),
        ("[0s: a cat] [2s: ]", "every part of a timed prompt needs words"),
    ],
)
async def test_a_timed_prompt_that_does_not_read_is_one_line(
    tmp_path: Path, prompt: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why.replace("[", r"\[")):
        timed_prompts(prompt)
    async with service_world(tmp_path) as world:
        refused = await world.service.submit(animate(prompt))
    assert isinstance(refused, Refused) and refused.reason == "bad_option"
    assert why in refused.message and world.fake.submits == 0


async def test_a_backend_with_one_prompt_refuses_a_timed_one(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        refused = await world.service.submit(animate("[0s: a cat sits] [2s: the cat jumps]"))
    assert isinstance(refused, Refused) and refused.reason == "provider"
    assert "a prompt per section ([0s: …] [2s: …]) works on the local engine only" in (
        refused.message
    )
    assert world.fake.submits == 0


def _local_job(prompt: str, job_id: str):
    asked = GenerationRequest(
        prompt=prompt, image=ImageInput(data=png_bytes(), mime_type="image/png")
    )
    return engine_job(asked, job_id=job_id, user="u", priority=False, seed=1, buckets={"480p": 64})


def test_the_engine_gets_the_parts_through_the_pool_job() -> None:
    prompt = "[0s: a cat sits] [1.5s: the cat jumps]"
    job = _local_job(prompt, "j1")
    assert job.prompt == prompt  # signed and queued as typed
    engine = engine_request(job)
    assert engine.prompt == "a cat sits"
    assert engine.timed_prompts == ((0.0, "a cat sits"), (1.5, "the cat jumps"))
    plain = engine_request(_local_job("a cat sits", "j2"))
    assert plain.timed_prompts == () and plain.prompt == "a cat sits"
