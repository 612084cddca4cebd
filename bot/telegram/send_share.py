"""Several bot processes sending for one Telegram token share its send budget.

Telegram's limits are the token's, whichever process sends. Each process that runs the
Telegram adapter holds a lease `telegram-sender:<bot id>:<process>` in the store,
renewed every round (1 s); each round it counts the live ones and takes its share of the
rates (bot.telegram.send_budget.SendBudget.share). A 429 one of them gets becomes a
lease `telegram-pause:<bot id>:<process>` for as long as Telegram asked: the others see
it at their next round and pause as well. Priorities stay each process's own (its first
answers before its deliveries): a first answer waits at most for its own process's
share, not for another's queue. One process alone: its share is the whole budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.core.api import JobAPI
from bot.owner import this_process
from bot.telegram.send_budget import SendBudget

log = logging.getLogger(__name__)

ROUND_S = 1.0
SENDER_LEASE_S = 10.0  # a dead process stops counting within this


class BudgetShare:
    def __init__(
        self,
        service: JobAPI,
        budget: SendBudget,
        bot_id: str,
        *,
        owner: str | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.service = service
        self.budget = budget
        self.owner = owner or this_process()
        self.senders = f"telegram-sender:{bot_id}:"
        self.pauses = f"telegram-pause:{bot_id}:"
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._told: set[asyncio.Task[object]] = set()

    async def round(self) -> None:
        """Count this process in, and take the share and any pause the store says."""
        await self.service.hold(self.senders + self.owner, self.owner, SENDER_LEASE_S)
        live = await self.service.live_leases("telegram-")  # both kinds, in one read
        senders = sum(1 for name in live if name.startswith(self.senders))
        self.budget.share(senders)
        pauses = [left for name, left in live.items() if name.startswith(self.pauses)]
        if pauses:
            self.budget.pause_for(max(pauses))

    def start(self) -> None:
        self.budget.on_pause = self._tell_pause

        async def rounds() -> None:
            while True:
                try:
                    await self.round()
                except Exception:  # a locked or lost database this round: the next tries
                    log.exception("telegram: could not share the send budget this round")
                await self._sleep(ROUND_S)

        self._task = asyncio.create_task(rounds(), name="telegram-send-share")

    def _tell_pause(self, seconds: float) -> None:
        told = asyncio.ensure_future(
            self.service.hold(self.pauses + self.owner, self.owner, seconds)
        )
        self._told.add(told)
        told.add_done_callback(self._told.discard)
        told.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def stop(self) -> None:
        """Stop counting this process in (the others take its share at once)."""
        self.budget.on_pause = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.service.let_go(self.senders + self.owner, self.owner)
        except Exception:  # the others see its lease run out instead
            log.exception("telegram: could not let go of this process's send share")
