"""The ways in: a captioned photo or image file, `/animate` as a reply to one, a plain
reply to a photo, and an album of two (first and last frame). Each becomes the same
AnimateRequest the Discord adapter makes; the core decides everything else."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from telegram import Bot, Message, MessageEntity, Update
from telegram.constants import MessageEntityType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.core import messages
from bot.core.api import AnimateRequest, JobAPI, Refused, RequestRate
from bot.telegram import texts
from bot.telegram.files import FileFetcher, FileRefused
from bot.telegram.options import OptionError, Parsed, parse, strip_command
from bot.telegram.replies import post_status, reply
from bot.telegram.who import ChatAdmins, is_group

log = logging.getLogger(__name__)

DOWNLOAD_LIMIT = 20 * 1000 * 1000  # getFile, without a local Bot API server
PREVIEW_PX = 640


@dataclass(frozen=True)
class ImageRef:
    file_id: str
    size: int | None
    is_photo: bool  # a compressed photo: its file_id can be sent again as a photo


def image_of(message: Message | None) -> ImageRef | None:
    """The image a message carries: its largest photo size, or an image sent as a file."""
    if message is None:
        return None
    if message.photo:
        largest = message.photo[-1]
        return ImageRef(largest.file_id, largest.file_size, True)
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return ImageRef(document.file_id, document.file_size, False)
    return None


def preview_jpeg(data: bytes) -> bytes:
    """A small JPEG of the first frame for the status message (blocking)."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (PREVIEW_PX, PREVIEW_PX))  # JPEG: decode at a fraction of the size
        image.thumbnail((PREVIEW_PX, PREVIEW_PX))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


class FirstAnswersFirst:
    """Requests answer (the status photo) before they work (download, image checks,
    submit): while any status photo is still on its way, the work of the requests
    already answered waits, up to `patience_s`. Telegram lets a bot send ~30 messages
    a second, so in a burst the last answers go out seconds after the first; without
    this, the CPU work of the early requests (decoding, NudeNet) slows the event loop
    that sends the late ones. A job starting a second or two later costs nobody."""

    def __init__(self, patience_s: float = 5.0) -> None:
        self.patience_s = patience_s
        self._answering = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.asynccontextmanager
    async def answering(self) -> AsyncIterator[None]:
        self._answering += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._answering -= 1
            if self._answering == 0:
                self._idle.set()

    async def before_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.patience_s)


class RequestFailed(Exception):
    """One line for the user; the job was never created, nothing was charged."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Albums:
    """Photos of one album arrive as separate updates sharing `media_group_id`: collect
    them for a short window, then hand the album over once."""

    def __init__(
        self,
        window_s: float,
        complete: Callable[[list[Message]], Coroutine[Any, Any, None]],
    ) -> None:
        self.window_s = window_s
        self._complete = complete
        self._groups: dict[str, list[Message]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, message: Message) -> None:
        group_id = message.media_group_id
        assert group_id is not None
        parts = self._groups.setdefault(group_id, [])
        parts.append(message)
        if len(parts) == 1:
            task = asyncio.create_task(self._close(group_id), name=f"album-{group_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _close(self, group_id: str) -> None:
        await asyncio.sleep(self.window_s)
        parts = sorted(self._groups.pop(group_id, []), key=lambda m: m.message_id)
        try:
            await self._complete(parts)
        except Exception:
            log.exception("album %s could not be handled", group_id)


class AnimateHandlers:
    def __init__(
        self,
        service: JobAPI,
        admins: ChatAdmins,
        rate: RequestRate,
        *,
        local_mode: bool,
        album_window_s: float,
        local_files_dir: Path | None = None,
    ) -> None:
        self.service = service
        self.admins = admins
        self.rate = rate
        self.download_limit = None if local_mode else DOWNLOAD_LIMIT
        self.files = FileFetcher(local_files_dir)
        # Whatever a file was announced as, no read goes past this.
        limit = service.image_byte_limit
        self.byte_cap = min(limit, self.download_limit) if self.download_limit else limit
        self.albums = Albums(album_window_s, self._album_complete)
        self.order = FirstAnswersFirst()

    # --- ways in -----------------------------------------------------------------------------

    async def on_image(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo or image file: part of an album, captioned /animate, or (in a private
        chat) captioned with just the prompt."""
        message = update.effective_message
        if message is None:
            return
        if message.media_group_id is not None:
            self.albums.add(message)
            return
        caption = message.caption or ""
        words = _request_words(message, context.bot.username)
        if words is None:
            if not is_group(message.chat) and not caption.strip():
                await reply(message, texts.NEEDS_CAPTION)
            return
        first = image_of(message)
        replied = image_of(message.reply_to_message)
        if replied is not None:  # a captioned photo replying to a photo: first and last
            await self._animate(context.bot, message, words, replied, first)
        else:
            await self._animate(context.bot, message, words, first, None)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/animate as text: as a reply to an image, or alone (how to use it)."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        words = strip_command(message.text, context.bot.username)
        if words is None:
            return
        source = image_of(message.reply_to_message)
        if source is None:
            await reply(message, texts.USAGE)
            return
        await self._animate(context.bot, message, words, source, None)

    async def on_text_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A plain reply to a photo: in private chats always; in groups when it mentions
        the bot, or everywhere in a group whose admins turned replies on."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        source = image_of(message.reply_to_message)
        if source is None:
            return
        text = message.text
        if is_group(message.chat):
            mention = _mention_of(message, context.bot.username)
            if mention is not None:
                text = text.replace(mention, " ")
            elif not await self._replies_allowed(message):
                return
        await self._animate(context.bot, message, text, source, None)

    async def _album_complete(self, parts: list[Message]) -> None:
        captioned = [m for m in parts if m.caption]
        if not captioned:
            return
        bot = captioned[0].get_bot()
        words = _request_words(captioned[0], bot.username)
        if words is None:
            return  # an album that is not for us
        images = [image_of(m) for m in parts]
        if len(images) != 2 or None in images:
            await reply(captioned[0], texts.ALBUM_NOT_TWO)
            return
        await self._animate(bot, captioned[0], words, images[0], images[1])

    # --- one request -------------------------------------------------------------------------

    async def _animate(
        self,
        bot: Bot,
        request: Message,
        words: str,
        first: ImageRef | None,
        last: ImageRef | None,
    ) -> None:
        user = request.from_user
        if first is None or user is None:
            return
        # Telegram hands an unconfirmed update over again after a crash: the message
        # is the request's identity, and a second delivery gets nothing at all.
        source = request_source(request)
        if await self.service.already_taken(source):
            log.info("%s: handled before; ignored", source)
            return
        images = [ref for ref in (first, last) if ref is not None]
        parsed = await self._checked(request, user.id, words, images)
        if parsed is None:
            return
        status_id: int | None = None
        try:
            if first.is_photo:  # the status is up before any download
                async with self.order.answering():
                    status_id = await self._post_status(request, first.file_id)
                await self.order.before_work()
            data = [await self._download(bot, ref) for ref in images]
            if status_id is None:
                status_id = await self._post_preview(request, data[0])
        except RequestFailed as exc:
            await self._say(bot, request, status_id, exc.message)
            return
        who = await self.admins.requester(bot, user, request.chat)
        outcome = await self.service.submit(
            AnimateRequest(
                who,
                parsed.prompt,
                data[0],
                data[1] if len(data) > 1 else None,
                parsed.options,
                {
                    "request_message_id": request.message_id,
                    "status_message_id": status_id,
                },
                source,
            )
        )
        # Accepted: the service's first update (queue place, cost, Cancel) edits the
        # status; refused: say why in it.
        if isinstance(outcome, Refused):
            await self._say(bot, request, status_id, outcome.message)

    async def _checked(
        self, request: Message, user_id: int, words: str, images: list[ImageRef]
    ) -> Parsed | None:
        """The request's prompt and options, once it is within the user's rate, reads
        as options and a prompt, and its images' announced sizes are within the limit;
        else None, the reason already said."""
        retry_after = await self.rate.hit(user_id)
        if retry_after:
            await reply(request, messages.slow_down(math.ceil(retry_after)))
            return None
        try:
            parsed = parse(words)
        except OptionError as exc:
            await reply(request, exc.message)
            return None
        if not parsed.prompt:
            await reply(request, messages.PROMPT_EMPTY + "\n\n" + texts.USAGE)
            return None
        refusal = next(filter(None, (self._size_refusal(ref) for ref in images)), None)
        if refusal is not None:
            await reply(request, refusal)
            return None
        return parsed

    def _size_refusal(self, ref: ImageRef) -> str | None:
        refusal = self.service.image_size_refusal(ref.size)
        if refusal is None and self.download_limit and (ref.size or 0) > self.download_limit:
            refusal = texts.download_limit(ref.size or 0, self.download_limit)
        return refusal

    async def _download(self, bot: Bot, ref: ImageRef) -> bytes:
        try:
            # Bytes only: the file's URL carries the bot token and never leaves here.
            return await self.files.fetch(bot, ref.file_id, cap=self.byte_cap)
        except FileRefused as exc:
            log.info("file %s refused: %s", ref.file_id, exc)
            if not exc.too_large:
                raise RequestFailed(messages.ATTACHMENT_UNREADABLE) from exc
            raise RequestFailed(self._too_large(exc.size)) from exc
        except TelegramError as exc:
            log.info("download of %s failed: %s", ref.file_id, exc)
            raise RequestFailed(messages.ATTACHMENT_UNREADABLE) from exc

    def _too_large(self, size: int | None) -> str:
        """Why a file over the cap was not taken: Telegram's download limit or ours."""
        if self.download_limit is not None and self.byte_cap == self.download_limit:
            if size is not None:
                return texts.download_limit(size, self.byte_cap)
            return texts.download_over_limit(self.byte_cap)
        if size is not None:
            return messages.image_too_many_bytes(size, self.byte_cap)
        return messages.image_over_limit(self.byte_cap)

    async def _post_status(self, request: Message, photo: str | bytes) -> int:
        return (await post_status(request, photo)).message_id

    async def _post_preview(self, request: Message, image: bytes) -> int | None:
        """For an image sent as a file: a status photo made from it. None when Pillow
        cannot read it; the core then explains what is wrong with the image."""
        try:
            preview = await asyncio.to_thread(preview_jpeg, image)
        except Exception as exc:
            log.info("no preview of message %s: %r", request.message_id, exc)
            return None
        return await self._post_status(request, preview)

    async def _say(self, bot: Bot, request: Message, status_id: int | None, text: str) -> None:
        if status_id is None:
            await reply(request, text)
            return
        await bot.edit_message_caption(
            chat_id=request.chat_id, message_id=status_id, caption=text, reply_markup=None
        )

    async def _replies_allowed(self, message: Message) -> bool:
        key = f"telegram:{message.chat_id}"
        return await self.service.replies_without_mention(channel_key=key, guild_key=key)


def request_source(message: Message) -> str:
    """The request's identity: its chat and message (message ids are per chat)."""
    return f"telegram:{message.chat_id}:{message.message_id}"


def _request_words(message: Message, bot_username: str | None) -> str | None:
    """The request in a caption: after `/animate`; in a private chat a caption that is
    not a command is the prompt itself. None when the caption asks nothing of us."""
    caption = message.caption or ""
    words = strip_command(caption, bot_username)
    if words is None and not is_group(message.chat) and not caption.startswith("/"):
        words = caption.strip() or None
    return words


def _mention_of(message: Message, username: str | None) -> str | None:
    """The `@bot` mention in a message, as written, if it names this bot."""
    if not username:
        return None
    for entity, text in message.parse_entities([MessageEntity.MENTION]).items():
        if entity.type == MessageEntityType.MENTION and text.lower() == f"@{username.lower()}":
            return text
    found = re.search(rf"@{re.escape(username)}\b", message.text or "", re.IGNORECASE)
    return found.group(0) if found else None
