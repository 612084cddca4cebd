"""Remix on Telegram: the button asks for a new prompt with a ForceReply (the user's app
opens a reply to the question), and the next text of the same user in that chat —
a reply to the question, or any text in a private chat — is the prompt, within
`[limits] remix_wait_minutes`. The new job has the old one's image(s), seed and options.

The question waits in memory: after a restart a reply to it is answered with "press
Remix again" (nothing was charged, nothing is lost)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Bot, CallbackQuery, ForceReply, Message

from bot.core import messages
from bot.core.api import FollowUp, JobAPI, Refused, Requester
from bot.telegram.followup import start_follow_up
from bot.telegram.replies import reply, replying_to


@dataclass(frozen=True)
class _Waiting:
    job_id: str
    question_id: int
    asked_at: float
    who: Requester


class RemixPrompts:
    def __init__(
        self,
        service: JobAPI,
        wait_minutes: int,
        *,
        placeholder: Callable[[str], Awaitable[bytes]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.wait_minutes = wait_minutes
        self.placeholder = placeholder  # the picture a new status shows, by job id
        self.clock = clock
        self._waiting: dict[tuple[int, int], _Waiting] = {}  # (chat id, user id) -> question

    async def ask(
        self, query: CallbackQuery, message: Message, job_id: str, who: Requester
    ) -> None:
        """After a Remix press: the question, once `who` may remix the job."""
        old = await self.service.remix_prompt(job_id, who)
        if isinstance(old, Refused):
            await query.answer(old.message, show_alert=True)
            return
        await query.answer()
        user = query.from_user
        # In a group, naming the user makes the forced reply theirs alone (selective).
        to = f"@{user.username} " if user.username and message.chat.type != "private" else ""
        question = await message.reply_text(
            to + messages.remix_question(old, self.wait_minutes),
            reply_parameters=replying_to(message.message_id),
            reply_markup=ForceReply(selective=True, input_field_placeholder=old[:64]),
        )
        self._forget_expired()
        key = (message.chat.id, user.id)
        self._waiting[key] = _Waiting(job_id, question.message_id, self.clock(), who)

    def _forget_expired(self) -> None:
        """Questions nobody answered in time: their answer gets "press again" anyway."""
        oldest = self.clock() - self.wait_minutes * 60
        for key in [k for k, w in self._waiting.items() if w.asked_at < oldest]:
            del self._waiting[key]

    async def on_text(self, message: Message, bot: Bot) -> bool:
        """Take `message` as a Remix prompt if it is one; True when it was."""
        user = message.from_user
        if user is None or message.text is None:
            return False
        source = f"telegram:{message.chat.id}:{message.message_id}"
        if await self.service.already_taken(source):
            return True  # an answer handed over again (a restart): its job exists
        key = (message.chat.id, user.id)
        waiting = self._waiting.get(key)
        if waiting is None or not self._answers(message, waiting):
            if _lost_question(message, bot) and not self._someone_waits(message):
                await reply(message, messages.REMIX_TIMED_OUT)
                return True
            return False  # someone else's question, or not an answer at all
        del self._waiting[key]
        if self.clock() - waiting.asked_at > self.wait_minutes * 60:
            await reply(message, messages.REMIX_TIMED_OUT)
            return True
        await self._make(message, waiting, source)
        return True

    def _someone_waits(self, message: Message) -> bool:
        replied = message.reply_to_message
        return replied is not None and any(
            chat == message.chat.id and waiting.question_id == replied.message_id
            for (chat, _), waiting in self._waiting.items()
        )

    @staticmethod
    def _answers(message: Message, waiting: _Waiting) -> bool:
        replied = message.reply_to_message
        if replied is not None:
            return replied.message_id == waiting.question_id
        return message.chat.type == "private"

    async def _make(self, message: Message, waiting: _Waiting, source: str) -> None:
        await start_follow_up(
            self.service,
            message,
            waiting.job_id,
            waiting.who,
            kind=FollowUp.REMIX,
            source=source,
            picture=await self.placeholder(waiting.job_id),
            prompt=message.text,
        )


def _lost_question(message: Message, bot: Bot) -> bool:
    """A reply to one of this bot's Remix questions that no one here waits for."""
    replied = message.reply_to_message
    return (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == bot.id
        and messages.REMIX_ASK in (replied.text or "")
    )
