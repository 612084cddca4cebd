"""The job service over every provider as documented: a job with no options is made at
the model's default length, charged for that length and told so before it runs; a
rate-limited provider slows a running job down and never ends it; a choice a model
cannot take is refused in the user's terms before anything is sent or reserved."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.core.api import Accepted, AnimateRequest, Refused
from bot.core.quotas import job_cost_mc
from storage import JobState
from tests.support.provider_world import API_KEY, FAKES, make_provider
from tests.support.service_world import requester, service_world


def image_bytes(color=(200, 60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (128, 72), color).save(buffer, "PNG")
    return buffer.getvalue()


def animate(last: bool = False, **options) -> AnimateRequest:
    return AnimateRequest(
        requester(),
        "the fox turns its head",
        image_bytes(),
        image_bytes((0, 0, 200)) if last else None,
        options,
        {"interaction": "token-1"},
    )


# (provider, options, last frame?, seconds made, credits)
DEFAULTS = [
    ("fal", {}, False, 6, 6),
    ("fal", {"model": "wan-flf2v"}, True, 6, 6),
    ("wavespeed", {}, False, 6, 6),
    ("wavespeed", {"model": "wan-flf2v"}, True, 6, 6),
    ("piapi", {}, False, 10, 10),  # PiAPI's shortest
    ("piapi", {}, True, 10, 10),
    ("lannetech", {}, False, 6, 6),
]


@pytest.mark.parametrize(("provider", "options", "last", "seconds", "credits"), DEFAULTS)
async def test_no_options_is_the_models_default_length_told_charged_and_delivered(
    provider, options, last, seconds, credits, tmp_path: Path
) -> None:
    async with service_world(tmp_path, provider) as world:
        accepted = await world.service.submit(animate(last, **options))
        assert isinstance(accepted, Accepted), accepted
        assert f"This {seconds} s video costs {credits} credits" in accepted.message
        await world.service.join()
        job = await world.store.jobs.require(accepted.job_id)
        assert job.state is JobState.DELIVERED, job.error
        mc = credits * 1000
        assert await world.store.ledger.entries(job.id) == {"reserve": mc, "commit": mc}
        made = next(iter(world.fake.jobs.values()))
        assert made.frames / made.fps == seconds and world.fake.refused == []
        assert f"{seconds} s" in world.delivery.delivered[job.id][1]


@pytest.mark.parametrize("provider", sorted(FAKES))
async def test_a_job_whose_polls_are_rate_limited_ten_times_is_delivered_once_never_refunded(
    provider, tmp_path: Path
) -> None:
    async with service_world(tmp_path, provider) as world:
        world.fake.faults.rate_limit, world.fake.faults.rate_limit_on = 10, "status"
        accepted = await world.service.submit(animate())
        assert isinstance(accepted, Accepted), accepted
        await world.service.join()
        job = await world.store.jobs.require(accepted.job_id)
        assert job.state is JobState.DELIVERED, job.error
        assert world.fake.faults.rate_limit == 0  # all ten 429s were answered
        ledger = await world.store.ledger.entries(job.id)
        assert "refund" not in ledger and ledger["commit"] == ledger["reserve"]
        assert world.fake.submits == world.fake.submit_attempts == 1
        assert len(world.delivery.delivered) == 1


@pytest.mark.parametrize(
    ("provider", "options", "words"),
    [
        ("wavespeed", {"model": "wan-flf2v", "steps": 45}, "must be 1 to 40"),
        ("wavespeed", {"model": "wan-flf2v", "duration": 12}, "5 to 10 s of video"),
        ("fal", {"model": "wan-flf2v", "duration": 8}, "5.1 to 6.2 s of video here, not 8 s"),
        ("piapi", {"duration": 6}, "10 to 30 s of video here, not 6 s"),
        ("lannetech", {"guidance": 7.5}, "must be a whole number"),
    ],
)
async def test_what_a_model_cannot_take_is_refused_before_anything_is_sent_or_reserved(
    provider, options, words, tmp_path: Path
) -> None:
    async with service_world(tmp_path, provider) as world:
        refused = await world.service.submit(
            animate(options.get("model") == "wan-flf2v", **options)
        )
        assert isinstance(refused, Refused) and refused.reason == "provider"
        assert words in refused.message
        assert sum(world.fake.calls.values()) == 0
        assert await world.service.history("discord:1") == []


async def test_lannetech_takes_first_last_jobs_only_with_the_operators_model(
    tmp_path: Path,
) -> None:
    async with service_world(tmp_path, "lannetech") as world:
        refused = await world.service.submit(animate(last=True))
        assert isinstance(refused, Refused) and "first-last-frame" in refused.message
        assert sum(world.fake.calls.values()) == 0
    options = {"first_last_model": "framepack-flf2v"}
    async with service_world(tmp_path / "2", "lannetech", provider_options=options) as world:
        world.fake.first_last_models = frozenset(options.values())
        accepted = await world.service.submit(animate(last=True))
        await world.service.join()
        job = await world.store.jobs.require(accepted.job_id)
        assert job.state is JobState.DELIVERED and job.seed is None
        made = next(iter(world.fake.jobs.values()))
        assert made.endpoint == "framepack-flf2v" and made.input["end_image_url"]
        # No seed was sent and none is claimed in the caption.
        assert "seed" not in made.input and "seed" not in world.delivery.delivered[job.id][1]


async def test_wavespeed_sends_data_uris_when_the_operator_turns_uploads_off(
    tmp_path: Path,
) -> None:
    async with service_world(
        tmp_path, "wavespeed", provider_options={"upload_images": False}
    ) as world:
        world.fake.accept_data_uris = True  # an API that takes them, as the operator found
        accepted = await world.service.submit(animate())
        await world.service.join()
        job = await world.store.jobs.require(accepted.job_id)
        assert job.state is JobState.DELIVERED, job.error
        made = next(iter(world.fake.jobs.values()))
        assert made.input["image"].startswith("data:image/jpeg;base64,")
        assert world.fake.calls["upload"] == 0


async def test_a_length_asked_for_is_charged_and_told_as_the_model_makes_it(
    tmp_path: Path,
) -> None:
    async with service_world(tmp_path, "fal") as world:
        # fal's Wan at 16 fps: 5 s is its shortest, 81 frames, 5.06 s.
        accepted = await world.service.submit(animate(True, model="wan-flf2v", duration=5))
        assert isinstance(accepted, Accepted), accepted
        assert "This 5.1 s video costs" in accepted.message
        assert accepted.cost_mc == job_cost_mc(152, "480p")  # 5.06 s, at 30 fps: 152 frames
        await world.service.join()
        made = next(iter(world.fake.jobs.values()))
        assert (made.frames, made.fps) == (81, 16)


async def test_a_fallback_makes_the_length_that_was_charged(tmp_path: Path) -> None:
    """PiAPI's default is 10 s; when it cannot take the job, the fallback makes 10 s
    too, not its own default: the user paid for 10."""
    overrides = {"providers": {"default_provider": "piapi", "fallback": ["fal"]}}
    async with (
        service_world(tmp_path, "piapi", settings_overrides=overrides) as world,
        FAKES["fal"](API_KEY, queue_polls=0, running_polls=0) as other,
    ):
        world.service.providers["fal"] = make_provider("fal", other.base_url, world.time)
        world.fake.faults.rate_limit = 100  # PiAPI never takes it
        accepted = await world.service.submit(animate())
        assert isinstance(accepted, Accepted) and accepted.cost_mc == 10_000
        await world.service.join()
        job = await world.store.jobs.require(accepted.job_id)
        assert job.state is JobState.DELIVERED and job.provider == "fal"
        made = next(iter(other.jobs.values()))
        assert made.frames == 300 and made.input["num_frames"] == 300
        await world.service.providers["fal"].aclose()


async def test_the_same_platform_event_submitted_twice_at_once_makes_one_job(
    tmp_path: Path,
) -> None:
    """Two deliveries of one event racing past the adapter's check: the store's unique
    source takes one; the other's reservation is rolled back with it."""
    import asyncio
    from dataclasses import replace

    async with service_world(tmp_path) as world:
        request = replace(animate(), source="telegram:5001:42")
        first, second = await asyncio.gather(
            world.service.submit(request), world.service.submit(request)
        )
        outcomes = sorted((first, second), key=lambda o: isinstance(o, Refused))
        assert isinstance(outcomes[0], Accepted)
        assert isinstance(outcomes[1], Refused) and outcomes[1].reason == "duplicate"
        await world.service.join()
        (job,) = await world.service.history("discord:1")
        assert await world.store.ledger.entries(job.id) == {"reserve": 6000, "commit": 6000}
        again = await world.service.submit(request)
        assert isinstance(again, Refused) and again.reason == "duplicate"
        assert world.fake.submits == 1
