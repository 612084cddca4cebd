"""The Telegram adapter end to end: the real python-telegram-bot against a loopback Bot
API, the real job service and store, a fake fal."""

from __future__ import annotations

from pathlib import Path

from tests.provider_world import png_bytes
from tests.telegram_world import telegram_world


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
