"""The Telegram adapter end to end: the real python-telegram-bot against a loopback Bot
API, the real job service and store, a fake fal."""

from __future__ import annotations

from pathlib import Path

from tests.provider_world import png_bytes
from tests.telegram_world import GROUP, telegram_world


async def test_a_captioned_photo_becomes_a_video_in_place_of_its_status(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), caption="/animate waves roll in seed=7")
        fake.push_update(message=request)
        video = await world.video_for(request)
    facts = video["video"]
    assert facts["width"] > 0 and facts["height"] > 0 and facts["duration"] >= 1
    assert facts["supports_streaming"] and facts["thumbnail_bytes"] > 0
    assert "waves roll in" in video["caption"] and "seed 7" in video["caption"]
    buttons = [b["callback_data"] for row in video["reply_markup"]["inline_keyboard"] for b in row]
    assert [b.split(":")[1] for b in buttons] == ["retry", "extend"]
    assert len(fake.videos) == 1


async def test_every_way_in_makes_a_video_and_groups_need_a_mention(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        image = png_bytes(128, 72)
        # Different people: each may have two jobs running at once.
        as_file = fake.document_message(image, caption="/animate the leaves fall", user_id=1)
        photo = fake.photo_message(image)
        command_reply = fake.message(
            "/animate it starts to rain", reply_to_message=photo, user_id=2
        )
        plain_reply = fake.message("the sun sets slowly", reply_to_message=photo, user_id=3)
        group_photo = fake.photo_message(image, chat_id=GROUP)
        unmentioned = fake.message(
            "nice picture", chat_id=GROUP, reply_to_message=group_photo, user_id=4
        )
        mentioned = fake.message(
            "@framepack_test_bot the clouds drift",
            chat_id=GROUP,
            reply_to_message=group_photo,
            user_id=5,
        )
        alone = fake.message("/animate")
        for request in (as_file, command_reply, plain_reply, unmentioned, mentioned, alone):
            fake.push_update(message=request)
        for request in (as_file, command_reply, plain_reply, mentioned):
            await world.video_for(request)
        assert "Send a photo with the caption" in await world.answer(alone["chat"]["id"])
        assert world.status_of(unmentioned) is None
        prompts = sorted(job.input["prompt"] for job in world.fal.jobs.values())
    assert prompts == [
        "it starts to rain",
        "the clouds drift",
        "the leaves fall",
        "the sun sets slowly",
    ]
    assert fake.answers(GROUP) == []  # nothing said to "nice picture"


async def test_an_album_of_two_is_a_first_and_last_frame_job(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        first = fake.photo_message(png_bytes(128, 72, (200, 0, 0)), "/animate red to blue")
        last = fake.photo_message(png_bytes(128, 72, (0, 0, 200)))
        for part in (first, last):
            part["media_group_id"] = "album-1"
            fake.push_update(message=part)
        await world.video_for(first)
        (job,) = world.fal.jobs.values()
    assert "flf2v" in job.endpoint or job.input.get("end_image_url")
    assert job.input["prompt"] == "red to blue"


async def test_too_large_and_corrupt_images_are_explained_and_cost_nothing(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        huge = fake.photo_message(png_bytes(), "/animate x", file_size=21_000_000, user_id=7002)
        broken = fake.document_message(b"\x89PNG not really", "/animate y", user_id=7002)
        fake.push_update(message=huge)
        assert "up to 20 MB" in await world.answer(huge["chat"]["id"])
        fake.push_update(message=broken)
        text = await world.answer(broken["chat"]["id"], 2)
        assert "not an image I can read" in text
        assert await world.service.history("telegram:7002") == []
        assert world.fal.submit_attempts == 0
        assert not fake.of_method("getFile") or len(fake.of_method("getFile")) == 1
