"""Admin commands on Telegram go through the core's one authority model: refused for a
member, allowed for a group's administrators inside that group only, and for operators
everywhere — the same matrix as on Discord. A refusal changes nothing at all."""

from __future__ import annotations

from pathlib import Path

from tests.support.provider_world import png_bytes
from tests.support.store_state import snapshot
from tests.support.telegram_world import (
    ADMIN,
    GROUP,
    MEMBER,
    OPERATOR,
    TelegramWorld,
    telegram_world,
)

OTHER_GROUP = -100_600  # ADMIN is only a member here

REFUSALS = (
    "Only admins of this server or group",
    "Only the bot's operators can",
    "Admins act only inside their own server.",
    "I do not know that job any more.",
    "This works in a server or group, not in private messages.",
)


async def say(world: TelegramWorld, chat: int, user: int, text: str, **extra) -> str:
    fake = world.telegram
    before = len(fake.answers(chat))
    fake.push_update(message=fake.message(text, chat_id=chat, user_id=user, **extra))
    return await world.answer(chat, before + 1)


async def test_the_admin_matrix(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        fake = world.telegram
        fake.admins[OTHER_GROUP] = {9999}
        world.fal.queued_forever.add(1)
        request = fake.photo_message(png_bytes(128, 72), "/animate hold", chat_id=GROUP)
        fake.push_update(message=request)
        await world.caption_of(request, lambda c: "credits · job" in c)
        (job,) = await world.service.history(f"telegram:{MEMBER}")
        member_message = fake.message("hello", chat_id=GROUP, user_id=7002)

        cases = [
            (GROUP, MEMBER, "/quota_set 7002 10", False),
            (GROUP, MEMBER, f"/job {job.id} cancel", False),
            (GROUP, ADMIN, "/quota_set 7002 10 100", True),
            (GROUP, ADMIN, "/quota_reset 7002", True),
            (GROUP, ADMIN, "/provider fal", True),
            (GROUP, ADMIN, "/replies on", True),
            (GROUP, MEMBER, "/group_language ja", False),
            (GROUP, ADMIN, "/group_language ja", True),
            (ADMIN, ADMIN, "/group_language ja", False),  # a private chat has no group
            (GROUP, ADMIN, "/quota_set group 100", False),  # a group's budget: operators
            (GROUP, ADMIN, "/safety off", False),
            (OTHER_GROUP, ADMIN, "/quota_set 7002 10", False),
            (OTHER_GROUP, ADMIN, f"/job {job.id}", False),
            (ADMIN, ADMIN, "/quota_set 7002 10", False),  # private chat: bot-wide
            (OPERATOR, OPERATOR, "/quota_set 7002 20", True),
            (GROUP, OPERATOR, "/quota_set group 100", True),
            (GROUP, OPERATOR, "/safety off", True),
        ]
        for chat, user, text, allowed in cases:
            before = await snapshot(world.store)
            answer = await say(world, chat, user, text)
            after = await snapshot(world.store)
            refused = answer.startswith(REFUSALS)
            assert refused != allowed, (chat, user, text, answer)
            if allowed:
                assert len(after["audit"]) == len(before["audit"]) + 1, text
                assert after["audit"][-1][0] == f"telegram:{user}"
            else:
                assert after == before, text

        # Replying to a member's message names them.
        before = await snapshot(world.store)
        answer = await say(world, GROUP, ADMIN, "/quota_grant 5", reply_to_message=member_message)
        assert not answer.startswith(REFUSALS)
        assert len((await snapshot(world.store))["audit"]) == len(before["audit"]) + 1

        # Jobs of the group: its admin may look and cancel.
        assert job.id in await say(world, GROUP, ADMIN, f"/job {job.id}")
        assert (await say(world, GROUP, ADMIN, f"/job {job.id} cancel")).startswith("Cancelled")
        assert (await world.store.jobs.require(job.id)).state.value == "cancelled"

        member_caps = await world.store.limits.get("member", f"telegram:{GROUP}|telegram:7002")
        bot_wide = await world.store.limits.get("user", "telegram:7002")
    assert member_caps is not None and (member_caps.daily_mc, member_caps.monthly_mc) == (
        10_000,
        100_000,
    )
    assert bot_wide is not None and bot_wide.daily_mc == 20_000


async def test_usage_mistakes_get_how_to_write_them(tmp_path: Path) -> None:
    async with telegram_world(tmp_path) as world:
        assert (await say(world, GROUP, ADMIN, "/quota_set")).startswith("Whose quota?")
        assert (await say(world, GROUP, ADMIN, "/quota_set 7002")).startswith("Usage:")
        assert "number" in await say(world, GROUP, ADMIN, "/quota_grant 7002 lots")
        assert (await say(world, GROUP, ADMIN, "/safety maybe")).startswith("Say on or off")
        assert "not available" in await say(world, GROUP, ADMIN, "/provider nope")
