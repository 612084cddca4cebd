"""Posting finished videos on Telegram, exactly once.

The Bot API cannot read a chat's history, so a bot cannot look for a video it may
already have sent. Instead the video goes into a message that exists before the
upload starts: the job's status message (a photo) is edited into the video with
editMessageMedia. Doing that twice — after a restart, a timeout or a 5xx in the
middle of an upload — replaces the video with itself; it never makes a second
message. Only when the status message is gone (the user deleted it) is the video
sent as a new reply to the request.

Width, height, duration and a JPEG thumbnail go with every video (without them
Telegram shows larger videos as a 320x320 square of length 0), with streaming on.
A loop goes as an animation: Telegram plays an MP4 without sound sent so on repeat.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import (
    InlineKeyboardMarkup,
    InputFile,
    InputMediaAnimation,
    InputMediaVideo,
    Message,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from bot.core.api import DeliveryError, JobRecord, PostedRef, VideoPost, first_frame, probe
from bot.telegram.keyboards import job_keyboard
from bot.telegram.replies import replying_to
from bot.telegram.send_budget import Priority, sending_at
from bot.telegram.status import StatusBoard

log = logging.getLogger(__name__)

UPLOAD_LIMIT = 50 * 1000 * 1000  # Bot API: 50 MB
LOCAL_UPLOAD_LIMIT = 2000 * 1000 * 1000  # a local Bot API server
THUMBNAIL_PX = 320
THUMBNAIL_MAX_BYTES = 200 * 1000


@dataclass(frozen=True)
class VideoFacts:
    width: int
    height: int
    duration: int
    thumbnail: bytes
    loop: bool = False


def video_facts(video: Path) -> VideoFacts:
    """Blocking (decodes a frame): call in a thread."""
    info = probe(video)
    frame = first_frame(video)
    frame.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    for quality in (85, 70, 50):
        buffer = io.BytesIO()
        frame.convert("RGB").save(buffer, "JPEG", quality=quality)
        if buffer.tell() <= THUMBNAIL_MAX_BYTES:
            break
    return VideoFacts(info.width, info.height, max(1, round(info.duration_s)), buffer.getvalue())


def video_filename(job_id: str) -> str:
    return f"framepack-{job_id}.mp4"


class TelegramDelivery:
    def __init__(self, bot: ExtBot, board: StatusBoard, *, local_mode: bool) -> None:
        self.bot = bot
        self.board = board
        self.limit = LOCAL_UPLOAD_LIMIT if local_mode else UPLOAD_LIMIT

    def upload_limit(self, job: JobRecord) -> int:
        return self.limit

    async def deliver(self, job: JobRecord, post: VideoPost, *, maybe_posted: bool) -> PostedRef:
        with sending_at(Priority.OUTCOME):  # behind first answers, ahead of progress
            return await self._deliver(job, post, maybe_posted=maybe_posted)

    async def _deliver(self, job: JobRecord, post: VideoPost, *, maybe_posted: bool) -> PostedRef:
        if job.channel_id is None:
            raise DeliveryError("the job names no chat to post in")
        chat_id = int(job.channel_id)
        status_id = job.reply_ref.get("status_message_id")
        caption = post.caption
        facts = dataclasses.replace(
            await asyncio.to_thread(video_facts, post.video), loop=post.loop
        )
        data = await asyncio.to_thread(post.video.read_bytes)
        if maybe_posted:
            log.info("job %s: an earlier post may have gone through; same message again", job.id)
        keyboard = job_keyboard(job.id, *post.follow_ups, locale=post.locale)
        async with self.board.holding(job.id):
            try:
                await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_VIDEO)
                message_id = None
                if status_id:
                    message_id = await self._replace_status(
                        chat_id, int(status_id), job, data, caption, facts, keyboard
                    )
                if message_id is None:
                    message_id = await self._send_new(chat_id, job, data, caption, facts, keyboard)
            except RetryAfter as exc:
                raise DeliveryError(f"Telegram asked to wait ({exc})", transient=True) from exc
            except BadRequest as exc:
                too_large = "too big" in str(exc).lower() or "too large" in str(exc).lower()
                raise DeliveryError(
                    f"Telegram refused the video: {exc}", too_large=too_large
                ) from exc
            except Forbidden as exc:  # blocked by the user, or removed from the group
                raise DeliveryError(f"Telegram does not let the bot post here: {exc}") from exc
            except NetworkError as exc:  # includes timeouts and 5xx
                too_large = "too large" in str(exc).lower()
                raise DeliveryError(
                    f"the upload broke off ({exc})", transient=not too_large, too_large=too_large
                ) from exc
            except TelegramError as exc:
                raise DeliveryError(f"Telegram answered {exc}") from exc
            self.board.posted(job.id)
        return {"chat_id": str(chat_id), "message_id": str(message_id)}

    async def _replace_status(
        self,
        chat_id: int,
        status_id: int,
        job: JobRecord,
        data: bytes,
        caption: str,
        facts: VideoFacts,
        keyboard: InlineKeyboardMarkup,
    ) -> int | None:
        """The status message, now the video (its id); None when that message is gone."""
        # Bytes, not InputFile: inside an InputMedia, PTB must attach them by name.
        common: dict[str, Any] = {
            "media": data,
            "filename": video_filename(job.id),
            "caption": caption,
            "width": facts.width,
            "height": facts.height,
            "duration": facts.duration,
            "thumbnail": facts.thumbnail,
        }
        media: InputMediaAnimation | InputMediaVideo = (
            InputMediaAnimation(**common)
            if facts.loop
            else InputMediaVideo(**common, supports_streaming=True)
        )
        try:
            edited = await self.bot.edit_message_media(
                media, chat_id=chat_id, message_id=status_id, reply_markup=keyboard
            )
        except BadRequest as exc:
            text = str(exc).lower()
            if "not modified" in text:  # the same video is there already
                return status_id
            if "not found" in text or "can't be edited" in text or "invalid" in text:
                log.info("job %s: the status message is gone (%s); sending anew", job.id, exc)
                return None
            raise
        if not isinstance(edited, Message):  # inline messages only; never ours
            raise DeliveryError("Telegram did not return the edited message")
        return edited.message_id

    async def _send_new(
        self,
        chat_id: int,
        job: JobRecord,
        data: bytes,
        caption: str,
        facts: VideoFacts,
        keyboard: InlineKeyboardMarkup,
    ) -> int:
        request_id = job.reply_ref.get("request_message_id")
        reply = replying_to(int(request_id)) if request_id else None
        file = InputFile(data, filename=video_filename(job.id))
        common: dict[str, Any] = {
            "caption": caption,
            "width": facts.width,
            "height": facts.height,
            "duration": facts.duration,
            "thumbnail": InputFile(facts.thumbnail, filename="thumbnail.jpg"),
            "reply_markup": keyboard,
            "reply_parameters": reply,
        }
        if facts.loop:
            message = await self.bot.send_animation(chat_id, file, **common)
        else:
            message = await self.bot.send_video(chat_id, file, supports_streaming=True, **common)
        return message.message_id
