"""End to end: the real discord.py bot against a loopback Discord and a fake provider."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import signal
import sys
from pathlib import Path

import av
import pytest
from PIL import Image

from storage import JobState
from tests.support.discord_world import discord_world
from tests.support.fakes.discord import GUILD_ID, FakeDiscord
from tests.support.media_clips import noisy_clip
from tests.support.subprocess_env import isolated_env

ROOT = Path(__file__).resolve().parent.parent


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
        await world.service.join()  # the service records the delivery after the upload
        job = (await world.service.history("discord:700000000000000001"))[0]
        assert job.state is JobState.DELIVERED
        assert await world.store.ledger.entries(job.id) == {"reserve": 2000, "commit": 2000}


async def test_the_defer_goes_out_well_within_three_seconds(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        loop_time = asyncio.get_running_loop().time
        sent_at = loop_time()
        payload = await world.animate()
        callback = await world.callback_for(payload)
        assert callback.at - sent_at < 3.0


async def test_an_exhausted_quota_gets_a_clear_message_with_the_reset_time(tmp_path) -> None:
    async with discord_world(tmp_path, quotas={"user_daily_credits": 1}) as world:
        payload = await world.animate()
        edit = (
            await world.wait_for(
                lambda s: s.kind == "edit" and s.payload["_token"] == payload["token"]
            )
        )[0]
        assert "Your daily quota has 1 credit left; this job costs 6" in edit.payload["content"]
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


MANAGE_GUILD = str(1 << 5)
ADMIN_USER = "700000000000000009"
OPERATOR = "700000000000000042"


def subcommand(group: str, name: str, options: list[dict]) -> list[dict]:
    return [{"name": group, "type": 2, "options": [{"name": name, "type": 1, "options": options}]}]


async def test_a_non_admin_is_refused_and_an_admin_is_not(tmp_path: Path) -> None:
    member = "700000000000000003"
    async with discord_world(tmp_path) as world:
        grant = subcommand(
            "quota",
            "grant",
            [
                {"name": "credits", "type": 10, "value": 5},
                {"name": "user", "type": 6, "value": member},
            ],
        )
        resolved = world.discord.resolved_member(member)
        refused = await world.command("fpadmin", grant, resolved=resolved)
        reply = await world.callback_for(refused)
        assert reply.payload["type"] == 4 and reply.payload["data"]["flags"] & 64
        assert reply.payload["data"]["content"] == (
            "Only admins of this server or group, or the bot's operators, can do that."
        )
        assert await world.store.audit.recent() == []

        allowed = await world.command(
            "fpadmin", grant, user_id=ADMIN_USER, permissions=MANAGE_GUILD, resolved=resolved
        )
        reply = await world.callback_for(allowed)
        assert reply.payload["data"]["content"].startswith("Granted 5 credits in this server.")
        audit = await world.store.audit.recent()
        assert [(a.action, a.actor, a.target) for a in audit] == [
            (
                "quota.grant",
                f"discord:{ADMIN_USER}",
                f"member:discord:{GUILD_ID}|discord:{member}",
            )
        ]


async def test_only_an_operator_switches_safety_off_for_the_server(tmp_path: Path) -> None:
    safety_off = [
        {"name": "safety", "type": 1, "options": [{"name": "enabled", "type": 5, "value": False}]}
    ]
    async with discord_world(tmp_path, admins={"discord_user_ids": [int(OPERATOR)]}) as world:
        payload = await world.command(
            "fpadmin", safety_off, user_id=ADMIN_USER, permissions=MANAGE_GUILD
        )
        reply = await world.callback_for(payload)
        assert reply.payload["data"]["content"] == (
            "Only the bot's operators can switch the safety checker off."
        )
        assert await world.store.settings.get("guild", f"discord:{GUILD_ID}", "safety") is None
        payload = await world.command("fpadmin", safety_off, user_id=OPERATOR)
        reply = await world.callback_for(payload)
        assert "off for this server" in reply.payload["data"]["content"]
        assert await world.store.settings.get("guild", f"discord:{GUILD_ID}", "safety") is False


async def test_the_cancel_button_refunds_a_running_job(tmp_path: Path) -> None:
    # Running until cancelled: 400 + 400 polls on injected time can all be spent
    # before the owner's press arrives on a busy machine (a full run failed here once,
    # the owner's answer not "Cancelled"; alone it passed every time).
    async with discord_world(tmp_path, fake_polls=(1, 10**9)) as world:
        await world.animate()
        await world.wait_for(lambda s: s.kind == "edit" and "costs" in s.payload["content"])
        job = (await world.service.history("discord:700000000000000001"))[0]
        stranger = await world.press(f"fp:cancel:{job.id}", user_id="700000000000000002")
        assert (await world.callback_for(stranger)).payload["type"] == 5  # deferred first
        assert "Only the person who asked" in await world.answer_to(stranger)
        owner = await world.press(f"fp:cancel:{job.id}")
        assert (await world.answer_to(owner)).startswith("Cancelled")
        entries = await world.store.ledger.entries(job.id)
        assert entries.keys() == {"reserve", "refund"} and world.fal.calls["cancel"] == 1


async def test_retry_works_after_the_bot_restarts(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        first = await world.animate(extra_options=[{"name": "seed", "type": 4, "value": 5}])
        await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == first["token"]
        )
        await world.service.join()  # the service records the delivery after the upload
        original = (await world.service.history("discord:700000000000000001"))[0]
        followup = world.discord.of_kind("followup", first["token"])[-1]
        custom_ids = [
            c["custom_id"] for row in followup.payload["components"] for c in row["components"]
        ]
        assert custom_ids == [
            f"fp:{action}:{original.id}" for action in ("retry", "extend", "remix")
        ]

        await world.restart()
        retry = await world.press(f"fp:retry:{original.id}")
        await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == retry["token"]
        )
        await world.service.join()  # the service records the delivery after the upload
        jobs = await world.service.history("discord:700000000000000001")
        assert len(jobs) == 2 and jobs[0].state is JobState.DELIVERED
        assert (
            jobs[0].seed != original.seed
            and jobs[0].request["prompt"] == original.request["prompt"]
        )
        assert world.fal.submits == 2


async def test_extend_starts_from_the_last_frame(tmp_path: Path) -> None:
    # A realistic 640x360 result: its last frame becomes the next job's first.
    video = noisy_clip(tmp_path / "out.mp4", seconds=1, width=640, height=360, bitrate=500_000)
    async with discord_world(tmp_path) as world:
        world.fal.video_override = video.read_bytes()
        await world.animate()
        await world.wait_for(lambda s: s.kind == "followup" and s.files)
        await world.service.join()  # the service records the delivery after the upload
        original = (await world.service.history("discord:700000000000000001"))[0]
        extend = await world.press(f"fp:extend:{original.id}")
        await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == extend["token"]
        )
        assert world.fal.submits == 2
        second = list(world.fal.jobs.values())[1]
        encoded = second.input["image_url"].split(",", 1)[1]
        first_frame = Image.open(io.BytesIO(base64.b64decode(encoded)))
        assert first_frame.size == (640, 360)


async def test_framepack_bot_run_connects_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        env = isolated_env(
            tmp_path / "data",
            DISCORD_TOKEN=fake.token,
            FPBOT_DISCORD__API_BASE_URL=fake.api_url,
            FPBOT_DISCORD__GATEWAY_URL=fake.gateway_url,
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.wait_for(fake.ready.wait(), 30)
        await asyncio.wait_for(fake.synced.wait(), 30)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    text = err.decode()
    assert process.returncode == 0, text
    assert "running" in text and "stopping" in text and "Traceback" not in text
    frozen = re.search(r"froze (\d+) start-up objects", text)
    assert frozen and int(frozen.group(1)) > 50_000  # the heap the collector no longer walks
    assert {c["name"] for c in fake.commands["global"]} >= {"animate", "quota", "jobs", "fpadmin"}
    assert fake.token not in text


async def test_context_menu_opens_a_modal_and_makes_the_video(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        picture = world.image()
        target = world.discord.user_message("look at this", attachments=[picture])
        menu = world.discord.message_command("Animate", target)
        await world.discord.dispatch("INTERACTION_CREATE", menu)
        modal = await world.callback_for(menu)
        assert modal.payload["type"] == 9  # a modal
        custom_id = modal.payload["data"]["custom_id"]
        submit = world.discord.modal_submit(
            custom_id, {"prompt": "the fox jumps", "duration": "2", "last_frame": ""}
        )
        await world.discord.dispatch("INTERACTION_CREATE", submit)
        followup = (
            await world.wait_for(
                lambda s: (
                    s.kind == "followup" and s.files and s.payload["_token"] == submit["token"]
                )
            )
        )[0]
        assert frames_in(followup.files[0][1]) == 60
        assert "the fox jumps" in followup.payload["content"]


async def test_context_menu_on_a_message_without_an_image(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        menu = world.discord.message_command("Animate", world.discord.user_message("no pic"))
        await world.discord.dispatch("INTERACTION_CREATE", menu)
        reply = await world.callback_for(menu)
        assert reply.payload["data"]["flags"] & 64
        assert "no image attached" in reply.payload["data"]["content"]


async def test_replying_to_an_image_with_a_prompt_gets_a_video_reply(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        source = world.discord.user_message("my cat", attachments=[world.image()])
        reply = world.discord.user_message(
            "<@900000000000000001> the cat yawns", mentions_bot=True, reply_to=source
        )
        await world.discord.dispatch("MESSAGE_CREATE", reply)
        video = (await world.wait_for(lambda s: s.kind == "channel" and s.files))[0]
        assert str(video.payload["message_reference"]["message_id"]) == reply["id"]
        assert "the cat yawns" in video.payload["content"]
        status_edits = [
            s.payload.get("content", "") for s in world.discord.sent if s.kind == "channel_edit"
        ]
        assert any("costs 6 credits" in e for e in status_edits)
        await world.wait_for(
            lambda s: s.kind == "channel_edit" and s.payload.get("content") == "Delivered."
        )
        await world.service.join()  # the service records the delivery after the upload
        job = (await world.service.history("discord:700000000000000001"))[0]
        assert job.request["prompt"] == "the cat yawns" and not job.request["has_last_image"]


async def test_a_reply_with_its_own_image_is_a_first_last_frame_job(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        source = world.discord.user_message("start", attachments=[world.image()])
        reply = world.discord.user_message(
            "<@900000000000000001> morph into the second",
            mentions_bot=True,
            reply_to=source,
            attachments=[world.image(color=(10, 10, 240))],
        )
        await world.discord.dispatch("MESSAGE_CREATE", reply)
        await world.wait_for(lambda s: s.kind == "channel" and s.files)
        submitted = next(iter(world.fal.jobs.values()))
        assert submitted.endpoint == "fal-ai/framepack/flf2v"
        assert "end_image_url" in submitted.input


async def test_a_reply_without_a_mention_is_ignored_unless_allowed(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        source = world.discord.user_message("pic", attachments=[world.image()])
        await world.discord.dispatch(
            "MESSAGE_CREATE", world.discord.user_message("just chatting", reply_to=source)
        )
        await asyncio.sleep(0.3)
        assert not world.discord.of_kind("channel") and world.fal.submit_attempts == 0


async def test_the_modal_takes_a_last_frame_from_a_message_link(tmp_path: Path) -> None:
    from tests.support.fakes.discord import CHANNEL_ID, GUILD_ID

    async with discord_world(tmp_path) as world:
        ending = world.discord.user_message("last", attachments=[world.image(color=(0, 0, 255))])
        link = f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{ending['id']}"
        submit = await world.animate_form(last_frame=link)
        await world.wait_for(
            lambda s: s.kind == "followup" and s.files and s.payload["_token"] == submit["token"]
        )
        assert next(iter(world.fal.jobs.values())).endpoint == "fal-ai/framepack/flf2v"


async def test_admins_allow_replies_without_a_mention(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        payload = await world.command(
            "fpadmin",
            [
                {
                    "name": "replies",
                    "type": 1,
                    "options": [{"name": "enabled", "type": 5, "value": True}],
                }
            ],
            user_id=ADMIN_USER,
            permissions=MANAGE_GUILD,
        )
        await world.callback_for(payload)
        source = world.discord.user_message("pic", attachments=[world.image()])
        await world.discord.dispatch(
            "MESSAGE_CREATE", world.discord.user_message("now it waves", reply_to=source)
        )
        video = (await world.wait_for(lambda s: s.kind == "channel" and s.files))[0]
        assert "now it waves" in video.payload["content"]


async def test_quota_and_jobs_work_in_direct_messages(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        payload = await world.command("quota", [], guild=False)
        reply = await world.callback_for(payload)
        assert reply.payload["data"]["content"].startswith("Today: 60 of 60 credits left")
        assert "Server" not in reply.payload["data"]["content"]
        payload = await world.command("jobs", [], guild=False)
        reply = await world.callback_for(payload)
        assert reply.payload["data"]["content"] == "You have no videos yet. Try /animate."


async def test_a_good_start_logs_who_the_bot_is_and_its_invite_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="bot.discord.client")

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if "logged in as" in r.getMessage()]

    async with discord_world(tmp_path):  # the fake's READY brings its two servers
        async with asyncio.timeout(20):  # on_ready runs as a task of its own
            while not logged():  # noqa: ASYNC110 (a log record, not an event)
                await asyncio.sleep(0.02)
    (line,) = logged()
    assert "framepack (id 900000000000000001) in 2 servers" in line
    assert "scope=bot+applications.commands" in line and "permissions=101376" in line
