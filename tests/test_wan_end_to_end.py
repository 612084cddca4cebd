"""Wan 2.1 first-last-frame end to end, with default options, on both platforms and
both providers that offer it: the real discord.py and python-telegram-bot against
their loopback fakes, the real job service, and provider fakes that refuse anything
their documentation does not allow."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.discord_world import discord_world
from tests.support.provider_world import png_bytes
from tests.support.telegram_world import telegram_world

BACKENDS = ["fal", "wavespeed"]
# Each backend's Wan at its nearest to the bot's 6 s default: fal 96 frames at 16 fps;
# WaveSpeed 6 whole seconds.
SENT_LENGTH = {"fal": {"num_frames": 96, "frames_per_second": 16}, "wavespeed": {"duration": 6}}
FIRST_LAST_FIELDS = {
    "fal": ("start_image_url", "end_image_url"),
    "wavespeed": ("first_image", "last_image"),
}


def assert_wan_job(fake, backend: str) -> None:
    (job,) = fake.jobs.values()
    assert fake.refused == [] and fake.submits == 1
    assert job.endpoint.endswith("wan-flf2v")
    assert {key: job.input[key] for key in SENT_LENGTH[backend]} == SENT_LENGTH[backend]
    assert all(job.input[field] for field in FIRST_LAST_FIELDS[backend])
    assert "image" not in job.input and "image_url" not in job.input


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_wan_first_last_job_on_discord_with_default_options(
    backend: str, tmp_path: Path
) -> None:
    async with discord_world(tmp_path, backend=backend) as world:
        first, last = world.image(), world.image(color=(10, 10, 240))
        payload = world.discord.slash_command(
            "animate",
            [
                {"name": "image", "type": 11, "value": first["id"]},
                {"name": "prompt", "type": 3, "value": "red turns blue"},
                {"name": "last_frame", "type": 11, "value": last["id"]},
                {"name": "model", "type": 3, "value": "wan-flf2v"},
            ],
            attachments=[first, last],
        )
        await world.discord.dispatch("INTERACTION_CREATE", payload)
        posted = await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == payload["token"]
        )
        statuses = [s.payload.get("content") or "" for s in world.discord.sent if s.kind == "edit"]
        await world.service.join()
        assert_wan_job(world.fal, backend)
    # The status told the length and price before it ran: 6 s at 480p is 6 credits.
    assert any("This 6 s video costs 6 credits" in text for text in statuses), statuses
    assert "6 s" in posted[0].payload.get("content", "")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_wan_first_last_album_on_telegram_with_default_options(
    backend: str, tmp_path: Path
) -> None:
    async with telegram_world(tmp_path, backend=backend) as world:
        fake = world.telegram
        first = fake.photo_message(
            png_bytes(128, 72, (200, 0, 0)), "/animate red turns blue model=wan-flf2v"
        )
        last = fake.photo_message(png_bytes(128, 72, (0, 0, 200)))
        for part in (first, last):
            part["media_group_id"] = "album-wan"
            fake.push_update(message=part)
        video = await world.video_for(first)
        await world.service.join()
        assert_wan_job(world.fal, backend)
    assert len(fake.videos) == 1
    assert "6 s" in video["caption"]
