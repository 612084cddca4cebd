"""The Telegram adapter end to end: the real python-telegram-bot against a loopback Bot
API, the real job service and store, a fake fal."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx

from tests.support.fakes.telegram import buttons
from tests.support.provider_world import png_bytes
from tests.support.telegram_world import GROUP, telegram_world


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
    assert [b.split(":")[1] for b in buttons] == ["retry", "extend", "remix"]
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
        private_caption = fake.photo_message(image, "the birds fly off", chat_id=6, user_id=6)
        uncaptioned = fake.photo_message(image, chat_id=8, user_id=8)
        alone = fake.message("/animate")
        for request in (
            as_file,
            command_reply,
            plain_reply,
            unmentioned,
            mentioned,
            private_caption,
            uncaptioned,
            alone,
        ):
            fake.push_update(message=request)
        for request in (as_file, command_reply, plain_reply, mentioned, private_caption):
            await world.video_for(request)
        assert "Send a photo with the caption" in await world.answer(alone["chat"]["id"])
        assert "Reply to the photo with a prompt" in await world.answer(8)
        assert world.status_of(unmentioned) is None
        prompts = sorted(job.input["prompt"] for job in world.fal.jobs.values())
    assert prompts == [
        "it starts to rain",
        "the birds fly off",
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


async def test_cancel_and_retry_by_button_also_after_a_restart(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        world.fal.queued_forever.add(1)  # the first job waits until it is cancelled
        waiting = fake.photo_message(png_bytes(128, 72), "/animate slow one")
        fake.push_update(message=waiting)
        # The service's first update: cost and place, with a Cancel button.
        await world.caption_of(waiting, lambda c: "credits · job" in c)
        status = world.status_of(waiting)
        cancel = buttons(status)["Cancel"]
        await world.restart()  # a new process: only the button's data is left

        fake.press(cancel, status, user_id=4242)  # a stranger
        await world.wait_for(lambda: fake.of_method("answerCallbackQuery"))
        refusal = fake.of_method("answerCallbackQuery")[0].params
        assert "Only the person who asked" in refusal["text"]
        job_id = cancel.rsplit(":", 1)[1]
        assert (await world.store.jobs.require(job_id)).state.value != "cancelled"

        fake.press(cancel, status)  # the owner
        await world.caption_of(waiting, lambda c: c.startswith("Cancelled"))
        assert (await world.store.jobs.require(job_id)).state.value == "cancelled"
        assert "Cancel" not in buttons(world.status_of(waiting))

        done = fake.photo_message(png_bytes(128, 72), "/animate quick one")
        fake.push_update(message=done)
        video = await world.video_for(done)
        await world.restart()
        fake.press(buttons(video)["Retry"], video)
        again = await world.video_for(video)  # the retry's video replies to the first
        # The message shows the video a moment before the job's row says delivered.
        for job in await world.service.history("telegram:7001"):
            if job.state.value != "cancelled":
                await world.until_state(job.id, "delivered")
        jobs = await world.service.history("telegram:7001")
    assert again["video"]["bytes"] > 0
    assert sorted(j.state.value for j in jobs) == ["cancelled", "delivered", "delivered"]
    assert len({j.seed for j in jobs if j.state.value == "delivered"}) == 2  # a new seed


async def test_a_delivery_that_may_have_gone_through_is_never_posted_twice(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        # The first upload is made but its answer is lost; the second meets a 502.
        fake.faults["editMessageMedia"] = ["after", "before"]
        request = fake.photo_message(png_bytes(128, 72), "/animate once only")
        fake.push_update(message=request)
        await world.video_for(request)
        (job,) = await world.service.history("telegram:7001")
        delivered = await world.until_state(job.id, "delivered")
    videos = [m for m in fake.sent.values() if "video" in m]
    assert len(videos) == 1 and not fake.of_method("sendVideo")
    assert len(fake.of_method("editMessageMedia")) == 3  # the same message each time
    assert len(fake.videos) == 2  # the 502 "before" never reached the upload
    assert delivered.posted_ref["message_id"] == str(videos[0]["message_id"])


async def test_progress_edits_are_throttled(tmp_path: Path) -> None:
    # Twenty progress updates within a second of real time: the status photo counts as
    # the first edit, the next is due 3 s later; by then the video has replaced it.
    async with telegram_world(tmp_path, fake_polls=(1, 20)) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate many steps")
        fake.push_update(message=request)
        video = await world.video_for(request)
    edits = [
        c
        for c in fake.of_method("editMessageCaption")
        if c.params["message_id"] == video["message_id"]
    ]
    assert len(edits) <= 1


async def test_webhook_mode_takes_only_updates_with_the_secret(tmp_path: Path) -> None:
    port = free_port()
    settings = {
        "webhook_url": "https://bot.example.com/tg-hook",
        "webhook_listen": "127.0.0.1",
        "webhook_port": port,
        "webhook_secret": "s3cret-token",
    }
    async with telegram_world(tmp_path, telegram=settings) as world:
        fake = world.telegram
        (registered,) = await world.wait_for(lambda: fake.of_method("setWebhook"))
        assert registered.params["url"] == "https://bot.example.com/tg-hook"
        assert registered.params["secret_token"] == "s3cret-token"
        forged = fake.photo_message(png_bytes(128, 72), "/animate forged", user_id=11)
        genuine = fake.photo_message(png_bytes(128, 72), "/animate genuine", user_id=12)
        url = f"http://127.0.0.1:{port}/tg-hook"
        async with httpx.AsyncClient() as client:
            for attempt in range(50):  # the webhook server starts in the background
                try:
                    refused = await client.post(
                        url, json={"update_id": 1, "message": forged}, headers={}
                    )
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1 * attempt)
            accepted = await client.post(
                url,
                json={"update_id": 2, "message": genuine},
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"},
            )
        assert refused.status_code == 403 and accepted.status_code == 200
        await world.video_for(genuine)
        assert world.status_of(forged) is None
        assert [j.input["prompt"] for j in world.fal.jobs.values()] == ["genuine"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_requests_beyond_the_rate_are_told_when_to_try_again(tmp_path: Path) -> None:
    async with telegram_world(tmp_path, telegram={"animate_rate": 2}) as world:
        fake = world.telegram
        for n in range(3):
            fake.push_update(message=fake.photo_message(png_bytes(128, 72), f"/animate {n}"))
        text = await world.answer(5001)
        assert text.startswith("You are sending requests a bit fast. Try again in")
        assert len(fake.of_method("sendPhoto")) == 2  # two status photos, no third
