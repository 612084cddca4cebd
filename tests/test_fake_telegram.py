"""The loopback Telegram Bot API (tests/support/fakes/telegram.py) drives the real
python-telegram-bot: an Application started the way `framepack-bot run` will start it
beside Discord (initialize, start, updater.start_polling — not run_polling, which
would take over the event loop) receives updates by long polling, downloads a photo
through getFile and the file URL, and answers; each update is handled once."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from tests.support.fakes.telegram import FakeTelegram
from tests.support.provider_world import png_bytes


async def test_the_real_python_telegram_bot_runs_against_the_fake() -> None:
    async with FakeTelegram() as fake:
        application = (
            Application.builder()
            .token(fake.token)
            .base_url(fake.api_base)
            .base_file_url(fake.file_base)
            .build()
        )

        async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            photo = await update.message.photo[-1].get_file()
            data = await photo.download_as_bytearray()
            await update.message.reply_text(f"got {len(data)} bytes: {update.message.caption}")

        application.add_handler(MessageHandler(filters.PHOTO, on_photo))
        await application.initialize()
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            image = png_bytes(128, 72)
            fake.push_update(message=fake.photo_message(image, caption="/animate waves"))
            fake.push_update(message=fake.photo_message(image, caption="second", user_id=7002))
            async with asyncio.timeout(15):
                while len(fake.of_method("sendMessage")) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # a duplicate, if there were one, would show now
        finally:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()
    texts = sorted(call.params["text"] for call in fake.of_method("sendMessage"))
    assert texts == [f"got {len(image)} bytes: /animate waves", f"got {len(image)} bytes: second"]
    assert fake.of_method("getMe") and fake.of_method("getFile")
