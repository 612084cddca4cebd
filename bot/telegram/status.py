"""One status message per job, a reply to the request: a photo (the first frame) whose
caption follows the job — cost, place in the queue, percent and ETA — with a Cancel
button, and which the video replaces when it is done (see bot.telegram.delivery).

Edits go out at most every EDIT_INTERVAL_S seconds per job (the last word always), on
top of the send budget's limits (bot.telegram.send_budget: a RetryAfter would pause
every request of the bot), which sends them after everyone's first answers.
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

from bot.core import messages
from bot.core.api import JobState, JobUpdate
from bot.i18n import use
from bot.telegram.keyboards import job_keyboard
from bot.telegram.send_budget import Priority, sending_at

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 3.0
POSTED_KEPT = 10_000  # far more than could have updates in flight at once
WORKING = {JobState.QUEUED, JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING}
ENDED_WITHOUT_VIDEO = {JobState.FAILED, JobState.CANCELLED, JobState.BLOCKED}


def status_caption(update: JobUpdate) -> str:
    job = update.job
    if job.state in WORKING:
        with use(job.request.get("locale")):  # the job's language, wherever this runs
            return f"{update.message}\n{messages.job_footer(job.cost_mc, job.id)}"
    return update.message


class StatusBoard:
    """Edits the status messages of Telegram jobs: at most one edit per job every
    EDIT_INTERVAL_S seconds, always ending on the latest update (an update that comes
    too soon waits for its turn; a newer one replaces it while it waits). The status
    photo itself counts as the first edit, so in a burst the first answers to
    everyone go out before anyone's first progress edit — all of them share the
    bot's ~30 messages a second.

    Shares a lock per job with the delivery, so that an edit on its way never lands
    on the message after the video replaced the photo."""

    def __init__(self, bot: ExtBot, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self._clock = clock
        self._last_edit: dict[str, float] = {}
        self._pending: dict[str, JobUpdate] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Jobs whose video is posted (an ordered set, the most recent POSTED_KEPT): an
        # update still on its way must not touch their message.
        self._posted: dict[str, None] = {}

    @contextlib.asynccontextmanager
    async def holding(self, job_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(job_id, asyncio.Lock())
        async with lock:
            yield

    def posted(self, job_id: str) -> None:
        """The video is in the message now: no status edit may touch it again."""
        self._posted[job_id] = None
        while len(self._posted) > POSTED_KEPT:
            del self._posted[next(iter(self._posted))]
        self._forget(job_id)
        self._locks.pop(job_id, None)  # whoever holds it keeps it; nobody needs it after

    async def close(self) -> None:
        timers = list(self._timers.values())
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    async def on_update(self, update: JobUpdate) -> None:
        job = update.job
        if (
            job.platform != "telegram"
            or job.channel_id is None
            or not job.reply_ref.get("status_message_id")
        ):
            return
        if job.state in ENDED_WITHOUT_VIDEO:  # the last word goes at once
            self._forget(job.id)
            await self._edit(update)
            self._locks.pop(job.id, None)
            return
        if job.state not in WORKING:
            return  # succeeded and delivered: the delivery writes that message
        self._pending[job.id] = update
        if job.id not in self._timers:
            due = self._last_edit.setdefault(job.id, self._clock()) + EDIT_INTERVAL_S
            self._timers[job.id] = asyncio.create_task(
                self._edit_when_due(job.id, due), name=f"status-{job.id}"
            )

    async def _edit_when_due(self, job_id: str, due: float) -> None:
        try:
            await asyncio.sleep(max(0.0, due - self._clock()))
            update = self._pending.pop(job_id, None)
            if update is not None:
                self._last_edit[job_id] = self._clock()
                await self._edit(update)
        finally:
            self._timers.pop(job_id, None)
        if job_id in self._pending:  # came in while this edit was on its way
            due = self._last_edit[job_id] + EDIT_INTERVAL_S
            self._timers[job_id] = asyncio.create_task(self._edit_when_due(job_id, due))

    def _forget(self, job_id: str) -> None:
        self._pending.pop(job_id, None)
        self._last_edit.pop(job_id, None)
        timer = self._timers.pop(job_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _edit(self, update: JobUpdate) -> None:
        # A final word is an outcome; "running, 40 %" can wait for everyone's first answer.
        final = update.job.state in ENDED_WITHOUT_VIDEO
        with sending_at(Priority.OUTCOME if final else Priority.PROGRESS):
            await self._edit_now(update, final=final)

    async def _edit_now(self, update: JobUpdate, *, final: bool) -> None:
        job = update.job
        assert job.channel_id is not None  # on_update lets no other through
        async with self.holding(job.id):
            if job.id in self._posted:
                return
            chat_id = int(job.channel_id)
            try:
                if job.state is JobState.RUNNING:
                    await self.bot.send_chat_action(chat_id, ChatAction.UPLOAD_VIDEO)
                await self.bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=int(job.reply_ref["status_message_id"]),
                    caption=status_caption(update),
                    reply_markup=(
                        None
                        if final
                        else job_keyboard(job.id, *_stops(update), locale=job.request.get("locale"))
                    ),
                )
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    log.info("job %s: status edit refused: %s", job.id, exc)
            except TelegramError as exc:
                log.info("job %s: status edit failed: %s", job.id, exc)


def _stops(update: JobUpdate) -> tuple[str, ...]:
    """The buttons under a running job's status: Cancel, and Stop & keep once it has a
    finished part to keep."""
    return ("cancel", "keep") if update.keep_s else ("cancel",)
