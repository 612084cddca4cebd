"""What an attacker tried against the real bot, each as a regression test through the
real discord.py and the loopback Discord: lifting one's own caps from a server one
administers, pings and masked links through a prompt, another channel's image through
the form's link, invisible prompts, oversized and vanished attachments, stale command
schemas, malformed gateway payloads, request floods and failing buttons."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.support.discord_world import discord_world
from tests.support.fakes.discord import (
    CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    OTHER_GUILD_ID,
    STAFF_CHANNEL_ID,
    STAFF_ROLE_ID,
)

MANAGE_GUILD = str(1 << 5)
ADMIN = "700000000000000009"
MEMBER = "700000000000000001"


def quota_op(sub: str, options: list[dict]) -> list[dict]:
    return [{"name": "quota", "type": 2, "options": [{"name": sub, "type": 1, "options": options}]}]


async def test_a_server_admin_cannot_lift_their_own_bot_wide_caps(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        me = world.discord.resolved_member(ADMIN)
        as_admin = {"user_id": ADMIN, "permissions": MANAGE_GUILD}
        for sub, options, resolved in (
            ("set", [{"name": "daily", "type": 10, "value": 1_000_000}], {}),  # the server
            ("grant", [{"name": "credits", "type": 10, "value": 5000}], {}),
            (
                "set",
                [
                    {"name": "daily", "type": 10, "value": 1_000_000},
                    {"name": "monthly", "type": 10, "value": 1_000_000},
                    {"name": "user", "type": 6, "value": ADMIN},
                ],
                me,
            ),
            (
                "grant",
                [
                    {"name": "credits", "type": 10, "value": 5000},
                    {"name": "user", "type": 6, "value": ADMIN},
                ],
                me,
            ),
            (
                "set",
                [
                    {"name": "daily", "type": 10, "value": 1_000_000},
                    {"name": "role", "type": 8, "value": GUILD_ID},  # @everyone
                ],
                world.discord.resolved_role(GUILD_ID),
            ),
        ):
            payload = await world.command(
                "fpadmin", quota_op(sub, options), resolved=resolved, **as_admin
            )
            await world.callback_for(payload)

        # A 60-second 720p video costs 90 credits; the bot-wide daily cap is 60, for the
        # admin and for everyone else, whatever the server's admin set.
        big = [
            {"name": "duration", "type": 10, "value": 60},
            {"name": "resolution", "type": 3, "value": "720p"},
        ]
        for who in (as_admin, {"user_id": MEMBER}):
            payload = await world.animate(extra_options=big, **who)
            text = await world.answer_to(payload)
            assert text.startswith("Your daily quota has 60 credits left; this job costs 90"), text
        assert world.fal.submit_attempts == 0


async def test_a_prompt_cannot_ping_or_carry_a_masked_link(tmp_path: Path) -> None:
    prompt = (
        "@everyone @here <@&900000000000000010> <@700000000000000002> "
        "[free nitro](https://evil.example/gift) \u202eevil"
    )
    async with discord_world(tmp_path) as world:
        payload = await world.animate(prompt)
        video = (
            await world.wait_for(
                lambda s: (
                    s.kind == "followup" and s.files and s.payload["_token"] == payload["token"]
                )
            )
        )[0]
        caption = video.payload["content"]
        for ping in ("@everyone", "@here", "<@&9", "<@7"):
            assert ping not in caption, caption
        assert "](" not in caption and "\u202e" not in caption
        assert "free nitro" in caption  # shown, as plain text
        assert video.payload["allowed_mentions"] == {"parse": []}
        edits = world.discord.of_kind("edit", payload["token"])
        assert edits and all(e.payload["allowed_mentions"] == {"parse": []} for e in edits)

        # After the interaction token expired the video goes to the channel, mentioning
        # the requester: the one ping allowed, and only them.
        late = await world.animate(prompt, age_s=16 * 60)
        posted = (await world.wait_for(lambda s: s.kind == "channel" and s.files))[0]
        assert posted.payload["allowed_mentions"] == {"parse": [], "users": [int(MEMBER)]}
        assert posted.payload["content"].startswith(f"<@{MEMBER}> ")
        assert "@everyone" not in posted.payload["content"]
        assert late["token"]


async def test_the_form_takes_a_last_frame_only_from_a_message_the_requester_can_see(
    tmp_path: Path,
) -> None:
    async with discord_world(tmp_path, discord={"animate_rate": 100}) as world:
        secret = world.image(color=(0, 0, 255))
        staff_only = world.discord.user_message(
            "staff pic", attachments=[secret], channel_id=STAFF_CHANNEL_ID
        )
        elsewhere = world.discord.user_message(
            "other server", attachments=[world.image()], channel_id=OTHER_CHANNEL_ID
        )
        for link in (
            f"https://discord.com/channels/{GUILD_ID}/{STAFF_CHANNEL_ID}/{staff_only['id']}",
            f"https://discord.com/channels/{OTHER_GUILD_ID}/{OTHER_CHANNEL_ID}/{elsewhere['id']}",
            # The right server in the link, but a channel of another server.
            f"https://discord.com/channels/{GUILD_ID}/{OTHER_CHANNEL_ID}/{elsewhere['id']}",
        ):
            submit = await world.animate_form(last_frame=link)
            text = await world.answer_to(submit)
            assert text.startswith("I can only use a last frame from a message in this server"), (
                text
            )
        assert secret["id"] not in world.discord.downloads
        assert world.fal.submit_attempts == 0

        # A staff member sees that channel: for them the same link works.
        link = f"https://discord.com/channels/{GUILD_ID}/{STAFF_CHANNEL_ID}/{staff_only['id']}"
        submit = await world.animate_form(last_frame=link, roles=[STAFF_ROLE_ID])
        await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == submit["token"]
        )
        assert next(iter(world.fal.jobs.values())).endpoint == "fal-ai/framepack/flf2v"


async def test_an_invisible_prompt_is_refused_and_costs_nothing(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        payload = await world.animate("\u200b\u200d\u2060\u3164")
        text = await world.answer_to(payload)
        assert text.startswith("Please add a prompt"), text
        disguised = await world.animate("a n\u200bude statue")
        assert (await world.answer_to(disguised)).startswith("This request was stopped")
        assert world.fal.submit_attempts == 0
        assert await world.store.db.fetch_all("SELECT * FROM quota_ledger") == []


async def test_an_oversized_attachment_is_refused_before_it_is_downloaded(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        image = world.image()
        image["size"] = 30 * 2**20  # what Discord announces; the bytes are never fetched
        payload = await world.animate(image=image)
        text = await world.answer_to(payload)
        assert text.startswith("The image is 30.0 MiB; the most I take is 25 MiB"), text
        assert world.discord.downloads == []


async def test_a_stale_command_schema_gets_an_answer_not_silence(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        image = world.image()
        for options in (
            [{"name": "image", "type": 11, "value": image["id"]}],  # no prompt
            [  # an attachment option that names no attachment
                {"name": "image", "type": 11, "value": "123"},
                {"name": "prompt", "type": 3, "value": "hello"},
            ],
        ):
            payload = world.discord.slash_command("animate", options, attachments=[image])
            await world.discord.dispatch("INTERACTION_CREATE", payload)
            text = await world.answer_to(payload)
            assert text, options
        assert world.fal.submit_attempts == 0


async def test_the_form_on_a_vanished_image_gets_an_answer(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        picture = world.image()
        target = world.discord.user_message("look", attachments=[picture])
        menu = world.discord.message_command("Animate", target)
        await world.discord.dispatch("INTERACTION_CREATE", menu)
        modal = await world.callback_for(menu)
        del world.discord.attachments[picture["id"]]  # deleted meanwhile: the CDN says 404
        submit = world.discord.modal_submit(
            modal.payload["data"]["custom_id"], {"prompt": "go", "duration": "", "last_frame": ""}
        )
        await world.discord.dispatch("INTERACTION_CREATE", submit)
        assert (await world.answer_to(submit)).startswith("That message or its image is gone")


async def test_malformed_gateway_payloads_do_not_stop_the_bot(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        await world.discord.dispatch("MESSAGE_CREATE", {"id": "1", "content": 5})
        await world.discord.dispatch("INTERACTION_CREATE", {"type": 2, "data": "nonsense"})
        await world.discord.dispatch("GUILD_ROLE_CREATE", {"guild_id": GUILD_ID, "role": None})
        first = await world.animate()
        assert (await world.callback_for(first)).payload["type"] == 5
        assert world.discord.identifies == 1  # dropped events, the same session
        world.discord.ready.clear()
        await world.discord.send_raw("this is not JSON")
        # The bot drops that connection and identifies again (after a 1 s backoff).
        # READY and GUILD_CREATE went out on the new socket: what follows comes after.
        await asyncio.wait_for(world.discord.ready.wait(), 15)
        payload = await world.animate()
        callback = await world.callback_for(payload)
        assert callback.payload["type"] == 5
        assert world.discord.identifies == 2 and not world.runner.done()
        # JSON, but not an object: the same.
        world.discord.ready.clear()
        await world.discord.send_raw("[1, 2]")
        await asyncio.wait_for(world.discord.ready.wait(), 15)
        payload = await world.animate()
        assert (await world.callback_for(payload)).payload["type"] == 5
        assert world.discord.identifies == 3 and not world.runner.done()


async def test_animate_is_rate_limited_per_user(tmp_path: Path) -> None:
    async with discord_world(tmp_path, discord={"animate_rate": 2, "animate_per_s": 60}) as world:
        answers = []
        for _ in range(3):
            payload = await world.animate()
            answers.append((await world.callback_for(payload)).payload)
        assert [a["type"] for a in answers] == [5, 5, 4]
        assert answers[2]["data"]["content"].startswith("You are sending requests a bit fast")
        assert "Try again in" in answers[2]["data"]["content"]
        # Another user is not held back, and replies count against the same budget.
        other = await world.animate(user_id="700000000000000002")
        assert (await world.callback_for(other)).payload["type"] == 5
        source = world.discord.user_message("pic", attachments=[world.image()])
        reply = world.discord.user_message(
            "<@900000000000000001> wave", mentions_bot=True, reply_to=source
        )
        await world.discord.dispatch("MESSAGE_CREATE", reply)
        slow = await world.wait_for(
            lambda s: s.kind == "channel" and "a bit fast" in s.payload.get("content", "")
        )
        assert slow and world.discord.of_kind("channel")[0].payload["_channel"] == CHANNEL_ID


async def test_a_button_that_fails_inside_still_answers(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        await world.animate()
        await world.wait_for(lambda s: s.kind == "followup" and s.files)
        await world.service.join()
        job = (await world.service.history(f"discord:{MEMBER}"))[0]
        async with world.store.db.transaction() as tx:  # a row a bug could leave behind
            await tx.execute("UPDATE jobs SET request = '{}' WHERE id = ?", (job.id,))
        press = await world.press(f"fp:retry:{job.id}")
        text = await world.answer_to(press)
        assert text == "Something went wrong on my side. Please try again in a moment."


STALE = {
    "a string for a number": lambda image: (
        [
            {"name": "image", "type": 11, "value": image["id"]},
            {"name": "prompt", "type": 3, "value": "x"},
            {"name": "duration", "type": 10, "value": "abc"},
        ],
        [image],
    ),
    "an integer for the prompt": lambda image: (
        [
            {"name": "image", "type": 11, "value": image["id"]},
            {"name": "prompt", "type": 4, "value": 5},
        ],
        [image],
    ),
    "an attachment missing from resolved": lambda image: (
        [
            {"name": "image", "type": 11, "value": "123456789012345678"},
            {"name": "prompt", "type": 3, "value": "x"},
        ],
        [],
    ),
    "a required option missing": lambda image: (
        [{"name": "prompt", "type": 3, "value": "x"}],
        [image],
    ),
    "a seed that is text": lambda image: (
        [
            {"name": "image", "type": 11, "value": image["id"]},
            {"name": "prompt", "type": 3, "value": "x"},
            {"name": "seed", "type": 4, "value": "12x"},
        ],
        [image],
    ),
    "an option it never had": lambda image: (
        [
            {"name": "image", "type": 11, "value": image["id"]},
            {"name": "prompt", "type": 3, "value": "x"},
            {"name": "sparkle", "type": 5, "value": True},
        ],
        [image],
    ),
}


@pytest.mark.parametrize("case", list(STALE))
async def test_a_stale_command_payload_is_answered_never_left_thinking(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with discord_world(tmp_path) as world:
        options, attachments = STALE[case](world.image())
        payload = world.discord.slash_command("animate", options, attachments=attachments)
        await world.discord.dispatch("INTERACTION_CREATE", payload)
        (reply,) = await world.wait_for(
            lambda s: s.kind == "callback" and s.payload["_token"] == payload["token"]
        )
        assert "could not read the options of that command" in reply.payload["data"]["content"]
        assert world.fal.submit_attempts == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(
    "custom_id",
    ["\x00\xff garbage", "fp:retry:../../etc/passwd", "x" * 100, "fp:retry:ABCDEF012345", ""],
)
async def test_junk_button_ids_are_always_answered(custom_id: str, tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        payload = await world.press(custom_id)
        (reply,) = await world.wait_for(
            lambda s: s.kind == "callback" and s.payload["_token"] == payload["token"]
        )
        assert "no longer works" in reply.payload["data"]["content"]
        assert reply.payload["data"]["flags"] & 64  # only the presser sees it
        assert world.fal.submit_attempts == 0
