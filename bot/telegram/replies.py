"""How the bot answers a message on Telegram: always as a reply to it (still sent if the
message was deleted meanwhile), and a job's status as a photo reply that the video
later replaces."""

from __future__ import annotations

from telegram import Message, ReplyParameters

from bot.core import messages


def replying_to(message_id: int) -> ReplyParameters:
    return ReplyParameters(message_id, allow_sending_without_reply=True)


async def reply(message: Message, text: str) -> None:
    await message.reply_text(text, reply_parameters=replying_to(message.message_id))


async def post_status(request: Message, photo: str | bytes) -> Message:
    """A job's status message: `photo` (a file id or JPEG bytes) captioned as queued."""
    return await request.reply_photo(
        photo,
        caption=messages.status_line("queued"),
        reply_parameters=replying_to(request.message_id),
    )
