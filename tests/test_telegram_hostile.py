"""Telegram under hostile or careless input: forged and junk buttons, updates handed over
twice, edited captions, files whose size or path lies. The real python-telegram-bot
against the loopback Bot API, the real job service and store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fakes.telegram import buttons
from tests.support.provider_world import png_bytes
from tests.support.telegram_world import telegram_world

STRANGER = 6006  # a user in a private chat of their own


@pytest.mark.parametrize("action", ["Retry", "Extend"])
async def test_a_forged_follow_up_for_someone_elses_job_shows_nothing(
    action: str, tmp_path: Path
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        private = fake.photo_message(png_bytes(128, 72, (250, 10, 10)), "/animate my picture")
        fake.push_update(message=private)
        video = await world.video_for(private)
        await world.service.join()
        photos_before = len(fake.of_method("sendPhoto"))
        # The stranger copies the button's data into a press in their own chat.
        elsewhere = fake.message("hello", chat_id=STRANGER, user_id=STRANGER)
        fake.press(buttons(video)[action], elsewhere, user_id=STRANGER)
        (answer,) = await world.wait_for(lambda: fake.of_method("answerCallbackQuery"))
        await world.service.join()
        assert "do not know that job" in answer.params["text"]
        assert len(fake.of_method("sendPhoto")) == photos_before  # no first frame shown
        assert not [c for c in fake.calls if int(c.params.get("chat_id") or 0) == STRANGER]
        assert await world.service.history(f"telegram:{STRANGER}") == []
        assert world.fal.submits == 1


JUNK = [
    "\x00\xff\xfe garbage",
    "fp:retry:../../etc/passwd",
    "x" * 64,
    "fp:retry:ABCDEF012345",
    "",
]


async def test_junk_button_data_is_always_answered(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        anywhere = fake.message("hi")
        pressed = [fake.press(data, anywhere)["callback_query"]["id"] for data in JUNK]
        answers = await world.wait_for(
            lambda: (
                len(fake.of_method("answerCallbackQuery")) >= len(JUNK)
                and fake.of_method("answerCallbackQuery")
            )
        )
        assert all("no longer works" in a.params["text"] for a in answers)
        assert sorted(a.params["callback_query_id"] for a in answers) == sorted(pressed)
        assert world.fal.submit_attempts == 0


async def test_a_photo_handed_over_again_after_a_restart_is_one_job(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate only once")
        update = fake.push_update(message=request)
        await world.video_for(request)
        await world.service.join()
        await world.restart()  # the next process; Telegram hands the update over again
        fake.redeliver(update)
        later = fake.photo_message(png_bytes(128, 72), "/animate a new one", user_id=7002)
        fake.push_update(message=later)
        await world.video_for(later)
        # The bot took the redelivered update (and confirmed it with a higher offset).
        await world.wait_for(lambda: update not in fake.pending_updates())
        await world.service.join()
        jobs = await world.service.history("telegram:7001")
        ledger = await world.store.ledger.entries(jobs[0].id)
    assert len(jobs) == 1 and world.fal.submits == 2  # the original and the later one
    assert ledger == {"reserve": 6000, "commit": 6000}
    assert len([m for m in fake.sent.values() if m.get("reply_to") == request["message_id"]]) == 1


async def test_an_edited_caption_starts_no_job(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.photo_message(png_bytes(128, 72), "/animate first words")
        fake.push_update(message=request)
        await world.video_for(request)
        await world.service.join()
        edited = {**request, "caption": "/animate other words", "edit_date": request["date"] + 5}
        fake.push_update(edited_message=edited)
        # An edit of a photo that never asked anything does not ask now either.
        quiet = fake.photo_message(png_bytes(128, 72), user_id=7003, chat_id=7003)
        fake.push_update(message=quiet)
        fake.push_update(edited_message={**quiet, "caption": "/animate now", "edit_date": 1})
        later = fake.photo_message(png_bytes(128, 72), "/animate later", user_id=7002)
        fake.push_update(message=later)
        await world.video_for(later)
        await world.service.join()
    assert sorted(j.input["prompt"] for j in world.fal.jobs.values()) == ["first words", "later"]


async def test_a_document_announced_small_but_served_huge_is_cut_off_at_the_cap(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.document_message(png_bytes(), "/animate tiny, it says", user_id=7004)
        file_id = request["document"]["file_id"]
        request["document"]["file_size"] = 1024
        fake.announced_sizes[file_id] = 1024
        fake.endless_files[file_id] = 120 << 20
        fake.push_update(message=request)
        text = await world.answer(request["chat"]["id"])
        cap = world.adapter.animate.byte_cap
        assert await world.service.history("telegram:7004") == []
    assert "up to 20 MB, and this one is larger" in text
    # The reader stopped at the cap; what the server wrote past it sat in socket
    # buffers (a few MiB), nowhere near the 120 MiB it would have served.
    assert fake.bytes_served[file_id] <= cap + (16 << 20)


@pytest.mark.parametrize(
    "path", ["SECRET", "../secret.png", "photos/../../secret.png", "..", "a\\..\\b"]
)
async def test_file_paths_from_the_api_are_never_local_files(path: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(128, 72, (1, 2, 3)))
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        request = fake.document_message(png_bytes(), "/animate steal it", user_id=7005)
        # SECRET: the absolute path of a file on the bot's machine.
        fake.file_paths[request["document"]["file_id"]] = path.replace("SECRET", str(secret))
        fake.push_update(message=request)
        text = await world.answer(request["chat"]["id"])
    assert "could not download" in text
    assert fake.file_requests == [] and world.fal.submit_attempts == 0


async def test_a_local_bot_api_servers_paths_are_read_only_under_its_directory(
    tmp_path: Path,
) -> None:
    served = tmp_path / "bot-api"
    (served / "photos").mkdir(parents=True)
    inside = served / "photos" / "file_1.png"
    inside.write_bytes(png_bytes(128, 72))
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes(128, 72, (1, 2, 3)))
    (served / "photos" / "link.png").symlink_to(outside)
    local = {"local_mode": True, "local_files_dir": str(served)}
    async with telegram_world(tmp_path, telegram=local) as world:
        fake = world.telegram
        good = fake.document_message(b"unused", "/animate from disk", user_id=7010)
        fake.file_paths[good["document"]["file_id"]] = str(inside)
        fake.push_update(message=good)
        await world.video_for(good)
        refused = []
        for n, path in enumerate(
            [outside, served / "photos" / "link.png", served / ".." / "secret.png"]
        ):
            request = fake.document_message(b"unused", "/animate steal", user_id=7020 + n)
            fake.file_paths[request["document"]["file_id"]] = str(path)
            fake.push_update(message=request)
            refused.append(await world.answer(request["chat"]["id"]))
        await world.service.join()
    assert all("could not download" in text for text in refused)
    assert world.fal.submits == 1 and fake.file_requests == []


async def test_sigkill_two_seconds_after_a_photo_and_a_restart_make_one_job(
    tmp_path: Path,
) -> None:
    """The real `framepack-bot run`, killed with SIGKILL two seconds after a photo
    arrived, then started again while Telegram hands the update over again: one job,
    one charge, one provider submit, one video."""
    import asyncio
    import contextlib
    import signal
    import sqlite3

    from tests.support.fakes.telegram import FakeTelegram
    from tests.support.provider_world import API_KEY, FAKES
    from tests.support.subprocess_env import framepack_bot, isolated_env, telegram_env

    data = tmp_path / "data"
    database = data / "framepack-bot.sqlite3"
    async with FakeTelegram() as fake, FAKES["fal"](API_KEY) as fal:
        fal.job_seconds = 3.0  # long enough to be killed in the middle
        env = isolated_env(
            data,
            **telegram_env(fake),
            FAL_KEY=API_KEY,
            FPBOT_PROVIDERS__FAL__BASE_URL=fal.base_url,
            FPBOT_PROVIDERS__FAL__POLL_INTERVAL="0.5",
            FPBOT_PROVIDERS__FAL__MAX_POLL_INTERVAL="0.5",
        )
        first = await framepack_bot("run", env=env)
        try:
            async with asyncio.timeout(60):  # up and polling
                while not fake.of_method("setMyCommands"):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            update = fake.push_update(
                message=fake.photo_message(png_bytes(128, 72), "/animate killed midway")
            )
            await asyncio.sleep(2.0)
        finally:
            first.kill()  # SIGKILL: no clean stop, no last confirmation
            await first.wait()
        if update not in fake.pending_updates():
            fake.redeliver(update)  # as Telegram does with an unconfirmed update
        again = await framepack_bot("run", env=env)
        try:
            async with asyncio.timeout(120):
                while not fake.videos or update in fake.pending_updates():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                while True:  # the row says delivered a moment after the post
                    with contextlib.closing(sqlite3.connect(database)) as db:
                        states = [r[0] for r in db.execute("SELECT state FROM jobs")]
                    if "delivered" in states:
                        break
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # room for a second job, were there one
        finally:
            again.send_signal(signal.SIGTERM)
            await asyncio.wait_for(again.wait(), 60)
    with contextlib.closing(sqlite3.connect(database)) as db:
        jobs = db.execute("SELECT id, state FROM jobs").fetchall()
        ledger = db.execute("SELECT entry FROM quota_ledger ORDER BY entry").fetchall()
    assert len(jobs) == 1 and jobs[0][1] == "delivered", jobs
    assert ledger == [("commit",), ("reserve",)]
    assert fal.submits == 1 and len(fake.videos) == 1
