"""Extend, Loop, Draft/HD and Remix as users meet them: the real discord.py and
python-telegram-bot against the loopback Discord and Telegram, the real job service and
store, a fake fal."""

from __future__ import annotations

from pathlib import Path

from bot.core.quotas import job_cost_mc
from tests.support.discord_world import DiscordWorld, discord_world
from tests.support.fakes.discord import GUILD_ID, OTHER_CHANNEL_ID, Sent
from tests.support.fakes.telegram import buttons
from tests.support.media_clips import reds, steps_between
from tests.support.provider_world import png_bytes
from tests.support.telegram_world import GROUP, TelegramWorld, telegram_world

DISCORD_USER = "discord:700000000000000001"
GUILD = f"discord:{GUILD_ID}"
TWO_SECONDS = {"name": "duration", "type": 10, "value": 2}


# --- Discord -----------------------------------------------------------------------------------


async def _video_answer(world: DiscordWorld, payload: dict) -> Sent:
    """The followup carrying the video for this interaction, once its job is recorded."""
    (post,) = await world.wait_for(
        lambda s: s.kind == "followup" and s.files and s.payload["_token"] == payload["token"]
    )
    await world.service.join()  # the service records the delivery after the upload
    return post


async def _latest_job(world: DiscordWorld) -> str:
    return (await world.service.history(DISCORD_USER))[0].id


def _custom_ids(post: Sent) -> list[str]:
    return [c["custom_id"] for row in post.payload["components"] for c in row["components"]]


async def test_extend_twice_on_discord_posts_one_video_as_long_as_its_parts(
    tmp_path: Path,
) -> None:
    async with discord_world(tmp_path) as world:
        posts = [await _video_answer(world, await world.animate(extra_options=[TWO_SECONDS]))]
        for _ in range(2):
            press = await world.press(f"fp:extend:{await _latest_job(world)}")
            posts.append(await _video_answer(world, press))
        jobs = await world.service.history(DISCORD_USER)
        commits = [(await world.store.ledger.entries(job.id))["commit"] for job in jobs]
    videos = [post.files[0][1] for post in posts]
    assert [len(reds(video)) for video in videos] == [60, 119, 178]
    assert all(4 <= step <= 10 for step in steps_between(reds(videos[2])))  # no frame twice
    assert commits == [job_cost_mc(60, "480p")] * 3  # the new seconds only
    assert "5.9 s (2 s new)" in posts[2].payload["content"]


async def test_an_extend_past_the_cap_is_refused_on_discord_and_nothing_is_charged(
    tmp_path: Path,
) -> None:
    four_seconds = {**TWO_SECONDS, "value": 4}
    async with discord_world(tmp_path, limits={"max_total_seconds": 5}) as world:
        await _video_answer(world, await world.animate(extra_options=[four_seconds]))
        job_id = await _latest_job(world)
        before = await world.service.quotas.user_quota(DISCORD_USER, GUILD)
        press = await world.press(f"fp:extend:{job_id}")
        answer = await world.answer_to(press)
        after = await world.service.quotas.user_quota(DISCORD_USER, GUILD)
    assert answer == (
        "This video is 4 s long; another 4 s would pass the 5 s limit. Nothing was charged."
    )
    assert before.remaining_mc == after.remaining_mc and world.fal.submits == 1


async def test_a_loop_on_discord_sends_the_image_twice_and_says_it_loops(tmp_path: Path) -> None:
    loop = {"name": "loop", "type": 5, "value": True}
    async with discord_world(tmp_path) as world:
        post = await _video_answer(world, await world.animate(extra_options=[TWO_SECONDS, loop]))
    (job,) = world.fal.jobs.values()
    assert job.endpoint == "fal-ai/framepack/flf2v"
    assert job.input["end_image_url"] == job.input["image_url"]
    assert "🔁 loops" in post.payload["content"]


async def test_a_draft_on_discord_offers_hd_which_keeps_the_seed_at_720p(tmp_path: Path) -> None:
    draft = {"name": "draft", "type": 5, "value": True}
    async with discord_world(tmp_path) as world:
        post = await _video_answer(world, await world.animate(extra_options=[TWO_SECONDS, draft]))
        draft_job = (await world.service.history(DISCORD_USER))[0]
        assert _custom_ids(post)[0] == f"fp:hd:{draft_job.id}"
        hd_post = await _video_answer(world, await world.press(f"fp:hd:{draft_job.id}"))
    first, hd = (job.input for job in world.fal.jobs.values())
    assert first["resolution"] == "480p" and hd["resolution"] == "720p"
    assert hd["seed"] == draft_job.seed and hd["image_url"] == first["image_url"]
    assert (
        "480p draft" in post.payload["content"]
        and f"seed {draft_job.seed}" in (post.payload["content"])
    )
    assert not any(i.startswith("fp:hd:") for i in _custom_ids(hd_post))


async def test_remix_on_discord_through_its_form_also_after_a_restart(tmp_path: Path) -> None:
    seed = {"name": "seed", "type": 4, "value": 5}
    async with discord_world(tmp_path) as world:
        await _video_answer(world, await world.animate("calm sea", extra_options=[seed]))
        job_id = await _latest_job(world)
        elsewhere = await world.press(
            f"fp:remix:{job_id}", user_id="700000000000000002", channel_id=OTHER_CHANNEL_ID
        )
        refused = await world.callback_for(elsewhere)
        form = await world.callback_for(await world.press(f"fp:remix:{job_id}"))
        await world.restart()  # the form is still open in the user's client
        submit = world.discord.modal_submit(
            form.payload["data"]["custom_id"], {"prompt": "a storm rises"}
        )
        await world.discord.dispatch("INTERACTION_CREATE", submit)
        await _video_answer(world, submit)
    assert refused.payload["type"] == 4 and "calm sea" not in str(refused.payload)
    assert form.payload["type"] == 9  # a modal
    (label,) = form.payload["data"]["components"]
    assert label["component"]["value"] == "calm sea"  # prefilled with the old prompt
    first, remix = (job.input for job in world.fal.jobs.values())
    assert remix["prompt"] == "a storm rises" and remix["seed"] == first["seed"] == 5
    assert remix["image_url"] == first["image_url"]


# --- Telegram ----------------------------------------------------------------------------------


async def _telegram_video(world: TelegramWorld, request: dict) -> dict:
    video = await world.video_for(request)
    for job in await world.service.history(f"telegram:{request['from']['id']}"):
        if job.state.value not in ("failed", "cancelled"):
            await world.until_state(job.id, "delivered")
    return video


async def test_extend_twice_on_telegram_replaces_the_video_with_the_longer_one(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate waves roll in duration=2")
        fake.push_update(message=request)
        video = await _telegram_video(world, request)
        for _ in range(2):
            fake.press(buttons(video)["Extend"], video)
            video = await _telegram_video(world, video)  # the extension replies to the video
    assert [len(reds(clip)) for clip in fake.videos] == [60, 119, 178]
    assert all(4 <= step <= 10 for step in steps_between(reds(fake.videos[-1])))
    assert "5.9 s (2 s new)" in video["caption"]


async def test_a_loop_on_telegram_is_sent_as_an_animation(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate the tide turns loop=1")
        fake.push_update(message=request)
        shown = await _telegram_video(world, request)
        bad = fake.photo_message(png_bytes(128, 72), "/animate the tide turns loop=maybe")
        fake.push_update(message=bad)
        refusal = await world.answer(5001)
    (job,) = world.fal.jobs.values()
    assert job.input["end_image_url"] == job.input["image_url"]
    assert "animation" in shown and "video" not in shown  # Telegram plays it on repeat
    assert "🔁 loops" in shown["caption"]
    assert refusal == "The option loop is not valid: it must be 1 or 0."


async def test_a_draft_on_telegram_then_hd_keeps_the_seed(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate dusk falls draft=1")
        fake.push_update(message=request)
        video = await _telegram_video(world, request)
        assert list(buttons(video)) == ["HD", "Retry", "Extend", "Remix"]
        (draft_job,) = await world.service.history("telegram:7001")
        fake.press(buttons(video)["HD"], video)
        hd_video = await _telegram_video(world, video)
    draft, hd = (job.input for job in world.fal.jobs.values())
    assert (draft["resolution"], hd["resolution"]) == ("480p", "720p")
    assert draft_job.seed is not None and hd["seed"] == draft_job.seed
    assert "HD" not in buttons(hd_video)


async def test_remix_on_telegram_takes_the_next_reply_of_the_same_user(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate calm sea seed=5", chat_id=GROUP)
        fake.push_update(message=request)
        video = await _telegram_video(world, request)
        fake.press(buttons(video)["Remix"], video)
        question = await world.wait_for(
            lambda: [m for m in fake.sent.values() if "reply to this message" in m.get("text", "")]
        )
        (question,) = question
        # Someone else answering is not the user who pressed: no job.
        fake.push_update(
            message=fake.message(
                "@framepack_test_bot hijack", chat_id=GROUP, user_id=4242, reply_to_message=question
            )
        )
        answer = fake.message("a storm rises", chat_id=GROUP, reply_to_message=question)
        fake.push_update(message=answer)
        await _telegram_video(world, answer)
    (asked,) = [c for c in fake.of_method("sendMessage") if "reply to this" in c.params["text"]]
    assert asked.params["reply_markup"]["force_reply"] is True
    assert "calm sea" in question["text"]
    first, remix = (job.input for job in world.fal.jobs.values())
    assert remix["prompt"] == "a storm rises" and remix["seed"] == first["seed"] == 5
    assert remix["image_url"] == first["image_url"]
    assert len(world.fal.jobs) == 2


async def test_a_remix_answer_after_the_wait_or_a_restart_asks_to_press_again(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path, limits={"remix_wait_minutes": 1}) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate calm sea")
        fake.push_update(message=request)
        video = await _telegram_video(world, request)
        remixes = world.adapter.buttons.remixes
        now = [1000.0]
        remixes.clock = lambda: now[0]
        fake.press(buttons(video)["Remix"], video)
        (question,) = await world.wait_for(
            lambda: [m for m in fake.sent.values() if "reply to this message" in m.get("text", "")]
        )
        now[0] += 61  # a minute and a second later
        fake.push_update(message=fake.message("too late", reply_to_message=question))
        late = await world.answer(5001, 2)
        await world.restart()
        fake.push_update(message=fake.message("after a restart", reply_to_message=question))
        lost = await world.answer(5001, 3)
    assert late == lost == "That Remix waited too long for a prompt. Press Remix again."
    assert len(world.fal.jobs) == 1


async def test_a_remix_answer_handed_over_again_after_a_restart_makes_nothing_more(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate calm sea")
        fake.push_update(message=request)
        video = await _telegram_video(world, request)
        fake.press(buttons(video)["Remix"], video)
        (question,) = await world.wait_for(
            lambda: [m for m in fake.sent.values() if "reply to this message" in m.get("text", "")]
        )
        answer = fake.message("a storm rises", reply_to_message=question)
        update = fake.push_update(message=answer)
        await _telegram_video(world, answer)
        await world.restart()  # before Telegram heard the update was taken
        fake.redeliver(update)
        fake.push_update(message=fake.message("/quota"))  # then something to answer
        await world.answer(5001, 2)
    assert len(world.fal.jobs) == 2
    assert all("Press Remix again" not in text for text in fake.answers(5001))
