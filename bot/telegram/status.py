"""One status message per job, a reply to the request: a photo (the first frame) whose
caption follows the job — cost, place in the queue, percent and ETA — with a Cancel
button, and which the video replaces when it is done (see bot.telegram.delivery).

Edits go out at most every EDIT_INTERVAL_S seconds per job (the last word always), on
top of AIORateLimiter's limits: a RetryAfter would pause every request of the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError
from telegram.ext import ExtBot

from bot.core.api import JobState, JobUpdate
from bot.core.quotas import format_credits
from bot.telegram.keyboards import job_keyboard

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0
WORKING = {JobState.QUEUED, JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING}
ENDED_WITHOUT_VIDEO = {JobState.FAILED, JobState.CANCELLED, JobState.BLOCKED}


def status_caption(update: JobUpdate) -> str:
    job = update.job
    if job.state in WORKING:
        return f"{update.message}\n{format_credits(job.cost_mc)} credits · job {job.id}"
    return update.message


class StatusBoard:
    """Edits the status messages of Telegram jobs. Shares a lock per job with the
    delivery, so that a progress edit still on its way never lands on the message
    after the video replaced the photo."""

    def __init__(self, bot: ExtBot, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self._clock = clock
        self._last_edit: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._posted: set[str] = set()

    @contextlib.asynccontextmanager
    async def holding(self, job_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            yield

    def posted(self, job_id: str) -> None:
        """The video is in the message now: no status edit may touch it again."""
        self._posted.add(job_id)
        self._last_edit.pop(job_id, None)

    async def on_update(self, update: JobUpdate) -> None:
        job = update.job
        status_id = job.reply_ref.get("status_message_id")
        if job.platform != "telegram" or not status_id or job.channel_id is None:
            return
        if job.state not in WORKING | ENDED_WITHOUT_VIDEO:
            return  # succeeded and delivered: the delivery writes that message
        final = job.state in ENDED_WITHOUT_VIDEO
        now = self._clock()
        if not final and now - self._last_edit.get(job.id, -EDIT_INTERVAL_S) < EDIT_INTERVAL_S:
            return
        async with self.holding(job.id):
            if job.id in self._posted:
                return
            self._last_edit[job.id] = now
            chat_id = int(job.channel_id)
            try:
                if job.state is JobState.RUNNING:
                    await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_VIDEO)
                await self.bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=int(status_id),
                    caption=status_caption(update),
                    reply_markup=None if final else job_keyboard(job.id, "cancel"),
                )
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    log.info("job %s: status edit refused: %s", job.id, exc)
            except TelegramError as exc:
                log.info("job %s: status edit failed: %s", job.id, exc)
        if final:
            self._last_edit.pop(job.id, None)
            self._locks.pop(job.id, None)
