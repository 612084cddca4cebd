"""The baseline for bench/telegram.py: the least a python-telegram-bot app can do for a
captioned photo — reply to it — with the same Application settings as ours (the
AIORateLimiter that keeps a bot within Telegram's limits, updates handled at once).

    python bench/minimal_telegram_bot.py API_BASE FILE_BASE TOKEN
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

# bench/telegram.py sits beside this file: it must not shadow the telegram package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from telegram import Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    AIORateLimiter,
    Application,
    ContextTypes,
    MessageHandler,
    filters,
)


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text("Waiting in the queue…", do_quote=True)


async def main() -> None:
    api, files, token = sys.argv[1:4]
    application = (
        Application.builder()
        .token(token)
        .base_url(api)
        .base_file_url(files)
        .rate_limiter(AIORateLimiter())
        .concurrent_updates(256)
        .build()
    )
    application.add_handler(MessageHandler(filters.PHOTO, on_photo))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling()
        await stop.wait()
        await application.updater.stop()
        await application.stop()


if __name__ == "__main__":
    asyncio.run(main())
