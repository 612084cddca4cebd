"""Telegram's send budget, served in priority order.

Telegram lets a bot send about 30 messages a second in all and 20 a minute into one
group; past that it answers 429 and makes the bot wait. python-telegram-bot's
AIORateLimiter keeps to those limits, first come first served: when a burst of
deliveries and progress edits is queued, a new user's first answer waits behind all
of it. This limiter keeps the same limits and serves the queue by priority instead —
a first answer, then outcomes (refusals, deliveries, the last status edit), then
progress edits. Progress edits cannot pile up in it: the status board keeps at most
one per job waiting (a newer one replaces it before it is sent).

The priority is the sender's, read here when a request is made: `sending()` sets it
for the rest of a task (an update's handlers: first answers), `sending_at()` for a
block (a delivery: an outcome; a status edit: progress, or an outcome when final),
which gives the task its own back after — a job's end can be said from inside a
handler. Only requests into a chat take a turn, as with
AIORateLimiter; getUpdates, getFile and button answers go at once.

Several bot processes on one token (webhooks behind a load balancer) share it: each
takes its share of the rates (`share(n)`, kept by bot.telegram.send_share from the
store), and a 429 any of them gets pauses them all (`pause_for`, `on_pause`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from enum import IntEnum
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]


class Priority(IntEnum):
    FIRST_ANSWER = 0  # what a user waits on after writing to the bot
    OUTCOME = 1  # a delivery, a refusal, a job's final status
    PROGRESS = 2  # "running, 40 %": the next one will say more


_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "send_priority", default=Priority.OUTCOME
)


def sending(priority: Priority) -> None:
    """What this task sends from now on goes at `priority` (an update's handlers)."""
    _priority.set(priority)


@contextlib.contextmanager
def sending_at(priority: Priority) -> Iterator[None]:
    """What is sent within the block goes at `priority`; the task's own after it."""
    token = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(token)


class SendBudget(BaseRateLimiter[int]):
    """`per_second` sends into chats in all (a bucket as deep: a quiet bot answers a
    burst of that many at once), `group_per_minute` into one group, in priority order,
    oldest first within one. The last `reserve` tokens of the bucket are for first
    answers only: a storm of deliveries, which drains the bucket, still leaves a new
    user's answer a token to go at once (the deliveries keep the same rate). A 429
    pauses every send for as long as Telegram asks and the request is tried again up
    to `max_retries` times (none by default: the caller
    sees the RetryAfter, as with AIORateLimiter; `rate_limit_args` may say another
    count). `clock` and `sleep` are injectable."""

    def __init__(
        self,
        *,
        per_second: float = 30.0,
        group_per_minute: float = 20.0,
        reserve: int = 10,
        max_retries: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.full_per_second = per_second
        self.full_group_per_minute = group_per_minute
        self.full_reserve = reserve
        self.per_second = per_second
        self.group_per_minute = group_per_minute
        self.reserve = min(reserve, int(per_second) - 1)
        self.max_retries = max_retries
        self.senders = 1
        # Told of each 429's wait (in seconds), to pause the other processes too.
        self.on_pause: Callable[[float], object] | None = None
        self._clock = clock
        self._sleep = sleep
        self._tokens = per_second
        self._refilled = clock()
        self._paused_until = 0.0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._groups: dict[int | str, AsyncLimiter] = {}

    async def initialize(self) -> None:
        pass

    def share(self, senders: int) -> None:
        """`senders` processes send for this bot: this one takes 1/senders of each rate
        (and of the bucket's depth, and of the first answers' reserve)."""
        senders = max(1, senders)
        if senders == self.senders:
            return
        self._refill()
        self.senders = senders
        self.per_second = self.full_per_second / senders
        self.group_per_minute = self.full_group_per_minute / senders
        # The bucket holds at least one whole send, and the reserve leaves outcomes one.
        self.reserve = max(0, min(round(self.full_reserve / senders), int(self._depth()) - 1))
        self._tokens = min(self._tokens, self._depth())
        # A group's limiter is made at its rate: the next send into each makes a new one.
        self._groups.clear()
        log.info(
            "telegram: %d processes send for this bot; this one sends %.1f a second",
            senders,
            self.per_second,
        )

    def pause_for(self, seconds: float) -> None:
        """Send nothing for `seconds` (another process was told to wait)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def shutdown(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        for _, _, future in self._waiting:
            future.cancel()
        self._waiting.clear()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        chat_id = data.get("chat_id")
        if chat_id is None:  # not a message into a chat: not counted
            return await callback(*args, **kwargs)
        group = _group_of(chat_id)
        priority = _priority.get()
        retries = rate_limit_args if rate_limit_args is not None else self.max_retries
        for attempt in range(retries + 1):
            try:
                if group is not None:
                    async with self._group(group):
                        await self.turn(priority)
                else:
                    await self.turn(priority)
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                # The timedelta, as AIORateLimiter reads it (`retry_after` warns that
                # its type will change).
                seconds = exc._retry_after.total_seconds()
                log.info("Telegram asked to wait %.1f s (%s)", seconds, endpoint)
                self._paused_until = max(self._paused_until, self._clock() + seconds + 0.1)
                if self.on_pause is not None:
                    self.on_pause(seconds + 0.1)
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def turn(self, priority: Priority) -> None:
        """Returns when this send may go: at once when the bucket has a token for it
        and nobody of its priority or higher waits, else once everyone before it in
        priority order has gone."""
        self._refill()
        first_in_line = not self._waiting or self._waiting[0][0] > priority
        if (
            first_in_line
            and self._tokens >= self._need(priority)
            and self._clock() >= self._paused_until
        ):
            self._tokens -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        await future

    async def _dispatch(self) -> None:
        """Gives turns in priority order as the bucket refills."""
        while self._waiting:
            self._refill()
            now = self._clock()
            if now < self._paused_until:
                await self._sleep(self._paused_until - now)
                continue
            while self._waiting and self._tokens >= self._need(self._waiting[0][0]):
                _, _, future = heapq.heappop(self._waiting)
                if future.done():  # its sender gave up (cancelled)
                    continue
                self._tokens -= 1
                future.set_result(None)
            if self._waiting:
                # Until the next whole token (a first answer may come for it); at least
                # a millisecond: a wait that rounds to nothing would spin.
                to_next = math.floor(self._tokens) + 1 - self._tokens
                await self._sleep(max(to_next / self.per_second, 0.001))

    def _need(self, priority: int) -> float:
        """Tokens the bucket must hold for a send of `priority` to take one: the last
        `reserve` are kept for first answers."""
        return 1 if priority == Priority.FIRST_ANSWER else 1 + self.reserve

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._refilled)
        self._tokens = min(self._depth(), self._tokens + elapsed * self.per_second)
        self._refilled = now

    def _depth(self) -> float:
        return max(1.0, self.per_second)

    def _group(self, group: int | str) -> AsyncLimiter:
        limiter = self._groups.get(group)
        if limiter is None:
            limiter = self._groups[group] = AsyncLimiter(self.group_per_minute, 60)
        return limiter


def _group_of(chat_id: object) -> int | str | None:
    """A group's or channel's id (negative, or an @username), None for a private chat."""
    if isinstance(chat_id, str):
        try:
            chat_id = int(chat_id)
        except ValueError:
            return chat_id  # "@channel"
    if isinstance(chat_id, int) and chat_id < 0:
        return chat_id
    return None
