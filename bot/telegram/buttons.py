"""Cancel, HD, Retry, Extend and Remix pressed under a status message or a video. The
button's callback_data names the action and the job; the core decides whether the
person who pressed it may do that. Remix asks for the new prompt (bot.telegram.remix)."""

from __future__ import annotations

import functools
import io
import logging

from PIL import Image
from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.core import messages
from bot.core.api import FollowUp, JobAPI
from bot.telegram.followup import start_follow_up
from bot.telegram.keyboards import CALLBACK
from bot.telegram.remix import RemixPrompts
from bot.telegram.who import ChatAdmins

log = logging.getLogger(__name__)


class Buttons:
    def __init__(self, service: JobAPI, admins: ChatAdmins, remix_wait_minutes: int) -> None:
        self.service = service
        self.admins = admins
        self.remixes = RemixPrompts(service, remix_wait_minutes, placeholder=self._placeholder)

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        # callback_data is whatever the client sent: parse it, and answer even junk
        # (an unanswered query leaves the user's app spinning).
        match = CALLBACK.match(query.data or "")
        if match is None:
            log.info("callback query with unknown data %r", (query.data or "")[:64])
            await query.answer(messages.BUTTON_UNKNOWN, show_alert=True)
            return
        message = query.message
        if not isinstance(message, Message):  # too old for Telegram to show it
            await query.answer(messages.UNKNOWN_JOB, show_alert=True)
            return
        action, job_id = match["action"], match["job"]
        who = await self.admins.requester(
            context.bot, query.from_user, message.chat, ask_admin=action in ("cancel", "keep")
        )
        if action in ("cancel", "keep"):
            stop = self.service.cancel if action == "cancel" else self.service.keep
            stopped = await stop(job_id, by=who)
            # A refusal stays on screen until dismissed; the confirmation need not.
            await query.answer(stopped.message, show_alert=not stopped)
            return
        if action == "remix":
            await self.remixes.ask(query, message, job_id, who)
            return
        # Who may is decided before anything is posted (the status shows the job's
        # first frame: someone's picture).
        kind = FollowUp(action)
        refusal = await self.service.follow_up_refusal(job_id, who, kind=kind)
        if refusal is not None:
            await query.answer(refusal.message, show_alert=True)
            return
        source = f"telegram:press:{query.id}"  # a press handed over again is no new job
        if await self.service.already_taken(source):
            await query.answer(messages.ALREADY_TAKEN)
            return
        await query.answer()
        picture = await self._placeholder(job_id)
        await start_follow_up(
            self.service, message, job_id, who, kind=kind, source=source, picture=picture
        )

    async def _placeholder(self, job_id: str) -> bytes:
        """The picture the new status shows until its video replaces it: the first
        frame of the job it follows, else a blank."""
        return await self.service.first_frame(job_id) or blank_jpeg()


@functools.cache
def blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buffer, "JPEG")
    return buffer.getvalue()
