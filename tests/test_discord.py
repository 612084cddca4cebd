"""End to end: the real discord.py bot against a loopback Discord and a fake provider."""

from __future__ import annotations

import io
from pathlib import Path

import av

from storage import JobState
from tests.discord_world import discord_world
from tests.media_clips import noisy_clip


def frames_in(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(video=0))


async def test_slash_command_defers_shows_progress_and_posts_the_video(tmp_path: Path):
    async with discord_world(tmp_path, fake_polls=(2, 2)) as world:
        payload = await world.animate(
            extra_options=[
                {"name": "duration", "type": 10, "value": 2},
                {"name": "seed", "type": 4, "value": 4242},
            ]
        )
        token = payload["token"]
        followups = await world.wait_for(lambda s: s.kind == "followup" and s.files)
        callback = world.discord.of_kind("callback", token)[0]
        assert callback.payload["type"] == 5  # deferred, "thinking"
        assert callback.payload["data"]["flags"] & 64  # status stays private
        edits = [s.payload["content"] for s in world.discord.of_kind("edit", token)]
        assert any("costs 2 credits" in e for e in edits), edits
        name, video = followups[0].files[0]
        assert name.endswith(".mp4") and frames_in(video) == 60
        caption = followups[0].payload["content"]
        assert "seed 4242" in caption and "fal" in caption and "2 credits" in caption
        job = (await world.service.history("discord:700000000000000001"))[0]
        assert job.state is JobState.DELIVERED
        assert await world.store.ledger.entries(job.id) == {"reserve": 2000, "commit": 2000}


async def test_the_defer_goes_out_well_within_three_seconds(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        loop_time = __import__("asyncio").get_running_loop().time
        sent_at = loop_time()
        payload = await world.animate()
        callback = (
            await world.wait_for(
                lambda s: s.kind == "callback" and s.payload["_token"] == payload["token"]
            )
        )[0]
        assert callback.at - sent_at < 3.0


async def test_an_exhausted_quota_gets_a_clear_message_with_the_reset_time(tmp_path) -> None:
    async with discord_world(tmp_path, quotas={"user_daily_credits": 1}) as world:
        payload = await world.animate()
        edit = (
            await world.wait_for(
                lambda s: s.kind == "edit" and s.payload["_token"] == payload["token"]
            )
        )[0]
        assert "Your daily quota has 1 credits left; this job costs 6" in edit.payload["content"]
        assert "resets at 00:00 UTC" in edit.payload["content"]
        assert world.fal.submit_attempts == 0


async def test_after_the_token_expires_the_video_goes_to_the_channel(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        payload = await world.animate(age_s=16 * 60)
        posted = await world.wait_for(lambda s: s.kind == "channel" and s.files)
        assert posted[0].payload["content"].startswith("<@700000000000000001> ")
        assert not world.discord.of_kind("followup", payload["token"])


async def test_a_413_gets_the_video_fitted_smaller_and_sent_again(tmp_path: Path) -> None:
    big = noisy_clip(
        tmp_path / "big.mp4", seconds=4, width=640, height=360, bitrate=2_000_000
    ).read_bytes()
    async with discord_world(tmp_path) as world:
        world.fal.video_override = big
        world.discord.reject_uploads_over = 600_000
        await world.animate()
        followups = await world.wait_for(lambda s: s.kind == "followup" and s.files, 60)
        delivered = followups[0].files[0][1]
        assert len(big) > 600_000 >= len(delivered)
        assert frames_in(delivered) == 120
