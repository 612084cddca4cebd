"""The job service end to end against a fake provider and a recording adapter."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from pathlib import Path

import av
import pytest
from PIL import Image

from bot.core.admin import AdminRefused, ChannelRef
from bot.core.api import Accepted, AnimateRequest, Refused, Requester
from storage import JobState
from tests.support.images import image_bytes, png_with_header_size
from tests.support.service_world import FrameSizeDetector, animate, requester, service_world


async def test_image_to_video_is_delivered_and_charged_once(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        accepted = await world.service.submit(animate(num_frames=60, seed=77))
        assert isinstance(accepted, Accepted)
        assert accepted.cost_mc == 2000 and "costs 2 credits" in accepted.message
        await world.service.join()
        job = await world.store.jobs.get(accepted.job_id)
        assert job.state is JobState.DELIVERED and job.delivered and job.seed == 77
        states = world.states(accepted.job_id)
        assert states[0] == "queued" and states[-1] == "delivered"
        assert states.index("running") < states.index("succeeded")
        assert await world.store.ledger.entries(job.id) == {"reserve": 2000, "commit": 2000}
        video, caption = world.delivery.delivered[job.id]
        with av.open(str(video)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 60
        assert "seed 77" in caption and "fal" in caption and "2 credits" in caption
        assert world.fake.submits == 1


async def test_first_last_frame_job(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        accepted = await world.service.submit(
            animate(last=image_bytes(color=(10, 10, 200)), strength=0.7)
        )
        await world.service.join()
        job = await world.store.jobs.get(accepted.job_id)
        assert job.state is JobState.DELIVERED
        submitted = next(iter(world.fake.jobs.values()))
        assert submitted.endpoint == "fal-ai/framepack/flf2v"
        assert submitted.input["strength"] == 0.7 and "end_image_url" in submitted.input
        assert await world.store.ledger.entries(job.id) == {"reserve": 6000, "commit": 6000}


BOMB = io.BytesIO()
Image.new("1", (8_000, 8_000)).save(BOMB, "PNG")


@pytest.mark.parametrize(
    ("request_changes", "reason", "words"),
    [
        ({"image": b"\x89PNG\r\n\x1a\n garbage"}, "image", "damaged"),
        ({"image": image_bytes(fmt="JPEG")[:300]}, "image", "damaged"),
        ({"image": b"%PDF-1.4"}, "image", "not an image I can read"),
        ({"image": BOMB.getvalue()}, "image", "too many pixels"),
        ({"image": image_bytes(size=(40, 40))}, "image", "at least 64"),
        ({"image": png_with_header_size(0, 0)}, "image", "The image is 0×0"),
        ({"image": image_bytes(size=(13_000, 70))}, "image", "the most I take is 12000"),
        ({"prompt": "x" * 501}, "prompt", "501 characters; the most is 500"),
        ({"prompt": "   "}, "prompt", "Please add a prompt"),
        ({"steps": 99}, "bad_option", "The option steps is not valid"),
        ({"resolution": "4k"}, "bad_option", "The option resolution is not valid"),
        ({"enable_safety_checker": False}, "bad_option", "enable_safety_checker is not valid"),
        ({"num_frames": 60, "duration": 3}, "bad_option", "num_frames or duration"),
        ({"provider": "piapi"}, "provider", "piapi is not available"),
        ({"model": "wan-flf2v"}, "bad_option", "needs a first and a last frame"),
        ({"prompt": "a nude portrait"}, "safety", "stopped by the prompt filter"),
        ({"image": image_bytes(color=(255, 0, 255))}, "safety", "stopped by the image check"),
    ],
)
async def test_each_bad_input_gets_its_own_message_and_costs_nothing(
    tmp_path: Path, request_changes: dict, reason: str, words: str
) -> None:
    async with service_world(tmp_path, detector=FrameSizeDetector()) as world:
        fields = {"prompt": "the fox turns its head", "image": image_bytes(), **request_changes}
        prompt, image = fields.pop("prompt"), fields.pop("image")
        outcome = await world.service.submit(animate(prompt, image, **fields))
        assert isinstance(outcome, Refused), outcome
        assert outcome.reason == reason and words in outcome.message, outcome.message
        assert len(outcome.message) < 200 and "\n" not in outcome.message
        rows = await world.store.db.fetch_all("SELECT COUNT(*) FROM quota_ledger")
        assert rows[0][0] == 0 and world.fake.submit_attempts == 0
        assert not (tmp_path / "data" / "jobs").exists() or not any(
            (tmp_path / "data" / "jobs").iterdir()
        )
        if reason == "safety":
            audit = await world.store.audit.recent()
            assert audit[0].action == "safety.block" and "nude" not in str(audit[0].detail)


async def test_an_exhausted_quota_says_what_is_left_and_when_it_resets(tmp_path) -> None:
    async with service_world(
        tmp_path, settings_overrides={"quotas": {"user_daily_credits": 5}}
    ) as world:
        assert isinstance(await world.service.submit(animate(num_frames=120)), Accepted)
        outcome = await world.service.submit(animate(num_frames=120))
        assert isinstance(outcome, Refused) and outcome.reason == "quota"
        assert "1 credit left; this job costs 4" in outcome.message
        assert "resets at 00:00 UTC" in outcome.message


async def test_provider_failure_refunds_and_says_why(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        world.fake.faults.fail_job = "GPU fell over"
        accepted = await world.service.submit(animate())
        await world.service.join()
        job = await world.store.jobs.get(accepted.job_id)
        assert job.state is JobState.FAILED and "GPU fell over" in job.error
        assert await world.store.ledger.entries(job.id) == {"reserve": 6000, "refund": 6000}
        assert "refunded" in world.updates[-1].message


async def test_provider_content_policy_blocks_refunds_and_audits(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        world.fake.faults.nsfw = True
        accepted = await world.service.submit(animate())
        await world.service.join()
        job = await world.store.jobs.get(accepted.job_id)
        assert job.state is JobState.BLOCKED
        assert world.updates[-1].message.startswith(
            "This request was stopped by the provider's safety checker"
        )
        assert (await world.store.ledger.entries(job.id)).keys() == {"reserve", "refund"}
        assert (await world.store.audit.recent())[0].action == "safety.block"


async def test_sampled_output_frames_are_checked(tmp_path: Path) -> None:
    # The fake's 16:9 480p output is 64x36: flag exactly those frames.
    async with service_world(tmp_path, detector=FrameSizeDetector((112, 64))) as world:
        accepted = await world.service.submit(animate())
        await world.service.join()
        job = await world.store.jobs.get(accepted.job_id)
        assert job.state is JobState.BLOCKED and job.id not in world.delivery.delivered
        assert "the check of the finished video" in world.updates[-1].message


async def test_an_operator_can_switch_safety_off_for_a_channel_users_cannot(tmp_path) -> None:
    async with service_world(tmp_path) as world:
        assert (await world.service.submit(animate("a nude statue"))).reason == "safety"
        channel = ChannelRef("discord:c900", "discord:500", nsfw=False)
        with pytest.raises(AdminRefused):
            await world.service.admin.set_setting(requester(1), "safety", False, channel)
        operator = Requester("cli", "cli:operator")
        await world.service.admin.set_setting(operator, "safety", False, channel)
        assert isinstance(await world.service.submit(animate("a nude statue")), Accepted)
        # Minors with sexual terms stay blocked whatever the setting.
        assert (await world.service.submit(animate("a nude child"))).reason == "safety"
        await world.service.join()
        submitted = next(iter(world.fake.jobs.values()))
        assert submitted.input["enable_safety_checker"] is False


async def test_a_guild_admins_safety_off_holds_only_in_an_nsfw_channel(tmp_path) -> None:
    overrides = {"safety": {"guild_admins_may_disable": True}}
    async with service_world(tmp_path, settings_overrides=overrides) as world:
        admin = replace(requester(9), platform_admin=True)
        with pytest.raises(AdminRefused, match="age-restricted"):
            await world.service.admin.set_setting(admin, "safety", False)  # the whole server
        nsfw = ChannelRef("discord:c900", "discord:500", nsfw=True)
        await world.service.admin.set_setting(admin, "safety", False, nsfw)
        in_nsfw = AnimateRequest(
            replace(requester(1), channel_nsfw=True), "a nude statue", image_bytes()
        )
        assert isinstance(await world.service.submit(in_nsfw), Accepted)
        # The same channel after it lost its age restriction: the checker is back on.
        assert (await world.service.submit(animate("a nude statue"))).reason == "safety"


async def test_cancel_refunds_and_reaches_the_provider(tmp_path: Path) -> None:
    async with service_world(tmp_path, fake_polls=(50, 50)) as world:
        accepted = await world.service.submit(animate())
        while world.fake.calls["status"] < 2:
            await world.time.sleep(0)
        assert not await world.service.cancel(
            accepted.job_id, by=Requester("discord", "discord:2")
        )  # not theirs
        assert await world.service.cancel(accepted.job_id, by=Requester("discord", "discord:1"))
        await world.service.join()
        job = await world.store.jobs.get(accepted.job_id)
        assert job.state is JobState.CANCELLED
        assert (await world.store.ledger.entries(job.id)).keys() == {"reserve", "refund"}
        assert world.fake.calls["cancel"] == 1
        assert not await world.service.cancel(
            accepted.job_id, by=Requester("discord", "discord:1")
        )  # once


async def test_transient_delivery_errors_are_retried(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        world.delivery.transient_failures = 2
        accepted = await world.service.submit(animate())
        await world.service.join()
        assert (await world.store.jobs.get(accepted.job_id)).state is JobState.DELIVERED
        assert world.delivery.calls == 3 and len(world.delivery.delivered) == 1


async def test_fallback_provider_takes_a_job_the_first_could_not(tmp_path: Path) -> None:
    from tests.support.provider_world import API_KEY, FAKES, make_provider

    async with (
        service_world(
            tmp_path, settings_overrides={"providers": {"fallback": ["wavespeed"]}}
        ) as world,
        FAKES["wavespeed"](API_KEY, queue_polls=0, running_polls=0) as other,
    ):
        world.service.providers["wavespeed"] = make_provider(
            "wavespeed", other.base_url, world.time
        )
        world.fake.faults.rate_limit = 100  # fal never takes it
        accepted = await world.service.submit(animate())
        await world.service.join()
        job = await world.store.jobs.get(accepted.job_id)
        assert job.state is JobState.DELIVERED and job.provider == "wavespeed"
        assert world.fake.submits == 0 and other.submits == 1
        await world.service.providers["wavespeed"].aclose()


async def test_history_lists_a_users_recent_jobs(tmp_path: Path) -> None:
    async with service_world(tmp_path) as world:
        for seed in (1, 2, 3):  # one at a time: the default cap is 2 jobs at once
            await world.service.submit(animate(seed=seed))
            await world.service.join()
        await world.service.submit(animate(user=2))
        await world.service.join()
        history = await world.service.history("discord:1", limit=2)
        assert [job.seed for job in history] == [3, 2]
        job, ledger = await world.service.record(history[0].id)
        assert job.provider == "fal" and ledger.keys() == {"reserve", "commit"}


async def test_a_restart_resumes_every_job_without_a_second_submit(tmp_path: Path) -> None:
    async with service_world(tmp_path, fake_polls=(3, 3)) as world:
        ids = [(await world.service.submit(animate(seed=n, user=n))).job_id for n in range(6)]
        while world.fake.submits < 3:
            await world.time.sleep(0)
        await world.service.stop()  # mid-flight: some queued, some submitted
        states = {(await world.store.jobs.get(i)).state for i in ids}
        assert JobState.DELIVERED not in states or len(states) > 1
        await world.service.start()  # what a new process does
        await world.service.join()
        for job_id in ids:
            job = await world.store.jobs.get(job_id)
            assert job.state is JobState.DELIVERED
        assert world.fake.submits == 6 and len(world.delivery.delivered) == 6
        assert await world.store.ledger.verify() == []


async def test_a_provider_error_echoing_the_api_key_is_redacted_everywhere(tmp_path) -> None:
    from tests.support.provider_world import API_KEY

    overrides = {"providers": {"fal": {"api_key": API_KEY}}}
    async with service_world(tmp_path, settings_overrides=overrides) as world:
        world.fake.faults.fail_job = f"key {API_KEY} is not allowed to use this model " + "x" * 900
        accepted = await world.service.submit(animate())
        await world.service.join()
        job = await world.store.jobs.get(accepted.job_id)
        assert job.state is JobState.FAILED
        assert API_KEY not in job.error and "[redacted]" in job.error
        assert len(job.error) <= 300
        shown = [u.message for u in world.updates if u.job.id == job.id]
        assert shown and not any(API_KEY in text for text in shown)
        operator = Requester("cli", "cli:op")
        record = await world.service.admin.job_info(operator, job.id)
        assert API_KEY not in record and "[redacted]" in record


async def test_a_stop_while_submitting_is_recorded_leaves_the_job_queued(tmp_path: Path) -> None:
    """The move to 'submitting' is handed to the writer's thread and lands even if the
    bot stops meanwhile; nothing was sent, so the job must read 'queued' afterwards
    (not 'submitting', which the next start fails and refunds as a submit that may
    have gone out)."""
    import threading

    async with service_world(tmp_path) as world:
        started, release = threading.Event(), threading.Event()

        async def hold_the_writer(tx) -> None:  # a slow disk, say
            started.set()
            release.wait(10)

        accepted = await world.service.submit(animate())
        holding = asyncio.create_task(world.store.db.run(hold_the_writer))
        await asyncio.to_thread(started.wait, 10)
        await asyncio.sleep(0.2)  # the job's move to 'submitting' queues behind it
        stopping = asyncio.create_task(world.service.stop())
        await asyncio.sleep(0.05)
        release.set()
        await holding
        await stopping
        assert (await world.store.jobs.get(accepted.job_id)).state is JobState.QUEUED
        assert world.fake.submit_attempts == 0
        await world.service.start()
        await world.service.join()
        assert (await world.store.jobs.get(accepted.job_id)).state is JobState.DELIVERED
        assert world.fake.submits == 1
