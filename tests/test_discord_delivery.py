"""Exactly one video per job on Discord, whatever the upload's fate: Discord answering
500 before or after it created the message, the connection breaking before or after,
the interaction token gone (a channel post). Posts are counted at the loopback
Discord, which keeps every message the bot created, duplicates included."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import JobState
from tests.support.discord_world import discord_world

MEMBER = "discord:700000000000000001"


@pytest.mark.parametrize(
    "faults",
    [
        ["500"],
        ["drop-before-create"],
        ["500-after-create"],
        ["drop-after-create"],
        ["500", "drop-before-create", "500-after-create"],
    ],
)
@pytest.mark.parametrize("expired_token", [False, True])
async def test_one_post_per_job_whatever_the_upload_answers(
    tmp_path: Path, faults: list[str], expired_token: bool
) -> None:
    async with discord_world(tmp_path) as world:
        world.discord.upload_faults = list(faults)
        await world.animate(age_s=16 * 60 if expired_token else 0)
        await world.wait_for(lambda s: s.kind in ("followup", "channel") and s.files)
        await world.service.join()
        job = (await world.service.history(MEMBER))[0]
        assert job.state is JobState.DELIVERED, job.error
        assert world.discord.posts_of(f"framepack-{job.id}.mp4") == 1
        assert await world.store.ledger.entries(job.id) == {
            "reserve": job.cost_mc,
            "commit": job.cost_mc,
        }
        # Each fault cost one attempt, up to the first that left a message behind: the
        # attempt after it found that message instead of posting.
        made = [i for i, fault in enumerate(faults) if fault.endswith("after-create")]
        assert job.delivery_attempts == (made[0] + 2 if made else len(faults) + 1)
        posted = world.discord.bot_messages[-1]
        assert job.posted_ref["message_id"] == posted["id"]


async def test_a_permanent_refusal_fails_and_refunds_the_job(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        world.discord.reject_uploads_over = 1  # 413 whatever the size: it never fits
        await world.animate()
        await world.wait_for(lambda s: s.kind == "edit" and "could not be made" in str(s.payload))
        await world.service.join()
        job = (await world.service.history(MEMBER))[0]
        assert job.state is JobState.FAILED
        assert await world.store.ledger.entries(job.id) == {
            "reserve": job.cost_mc,
            "refund": job.cost_mc,
        }
        assert world.discord.bot_messages == []
