"""Cancel, Retry and Extend pressed under a status message or a video. The button's
callback_data names the action and the job; the core decides whether the person who
pressed it may do that."""

from __future__ import annotations

import functools
import io
import logging

from PIL import Image
from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.core import messages
from bot.core.api import Accepted
from bot.core.service import JobService
from bot.telegram.keyboards import CALLBACK
from bot.telegram.replies import post_status
from bot.telegram.who import ChatAdmins

log = logging.getLogger(__name__)


class Buttons:
    def __init__(self, service: JobService, admins: ChatAdmins) -> None:
        self.service = service
        self.admins = admins

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        match = CALLBACK.match(query.data or "") if query is not None else None
        if query is None or match is None:
            return
        message = query.message
        if not isinstance(message, Message):  # too old for Telegram to show it
            await query.answer(messages.UNKNOWN_JOB, show_alert=True)
            return
        action, job_id = match["action"], match["job"]
        who = await self.admins.requester(
            context.bot, query.from_user, message.chat, ask_admin=action == "cancel"
        )
        if action == "cancel":
            if await self.service.cancel(job_id, by=who):
                await query.answer(messages.CANCELLED)
                return
            job = await self.service.store.jobs.get(job_id)
            allowed = job is not None and self.service.authority.may_cancel(who, job)
            await query.answer(
                messages.CANNOT_CANCEL if allowed else messages.NOT_YOURS, show_alert=True
            )
            return
        # Retry or Extend: a new job, with its own status message under this video.
        await query.answer()
        status = await post_status(message, await self._placeholder(job_id))
        outcome = await self.service.follow_up(
            job_id,
            who,
            extend=action == "extend",
            reply_ref={
                "request_message_id": message.message_id,
                "status_message_id": status.message_id,
            },
        )
        if not isinstance(outcome, Accepted):
            await status.edit_caption(caption=outcome.message, reply_markup=None)

    async def _placeholder(self, job_id: str) -> bytes:
        """The picture the new status shows until its video replaces it: the first
        frame of the job it follows, else a blank."""
        return await self.service.first_frame(job_id) or blank_jpeg()


@functools.cache
def blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buffer, "JPEG")
    return buffer.getvalue()
