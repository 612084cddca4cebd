"""Long polling is one process's job: Telegram hands each update to whichever
getUpdates asks, and two pollers would split (and confirm away) each other's updates.
The poller holds a lease in the store (`telegram-poller:<bot id>`), renewed while it
polls; a second process on the same store is refused with one clear line, and takes
over once a dead holder's lease runs out. A poller on another store is caught by
Telegram itself: its 409 Conflict is said once, plainly. Webhook mode needs none of
this: any number of processes may take Telegram's posts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram.error import Conflict, TelegramError

from bot.core.api import JobAPI
from bot.owner import gone, this_process

log = logging.getLogger(__name__)

LEASE_S = 30.0  # a killed poller's successor waits at most this long
RENEW_S = LEASE_S / 3


class AnotherPoller(Exception):
    """Another process polls Telegram for this bot."""


class PollerLease:
    def __init__(self, service: JobAPI, bot_id: str, owner: str | None = None) -> None:
        self.service = service
        self.name = f"telegram-poller:{bot_id}"
        self.owner = owner or this_process()
        self._renewing: asyncio.Task[None] | None = None

    async def take(self) -> None:
        """Raises AnotherPoller when a live process holds it. A holder on this machine
        whose process is gone (killed, crashed) is replaced at once: a restart need
        not wait for its lease to run out."""
        holder = await self.service.hold(self.name, self.owner, LEASE_S)
        if holder != self.owner and gone(holder):
            log.info("telegram: the poller before this one (%s) is gone; taking over", holder)
            holder = await self.service.hold(self.name, self.owner, LEASE_S, replacing=holder)
        if holder != self.owner:
            raise AnotherPoller(
                f"another process ({holder}) is polling Telegram for this bot; long polling "
                "runs in one process only: stop that one, or set [telegram] webhook_url to "
                f"run several behind one address (a stopped one's lease ends within {LEASE_S:g} s)"
            )

    def keep(
        self,
        lost: Callable[[], object],
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Renew every RENEW_S; call `lost` once if another process took it meanwhile
        (this one was frozen longer than the lease)."""

        async def renew() -> None:
            while True:
                await sleep(RENEW_S)
                try:
                    holder = await self.service.hold(self.name, self.owner, LEASE_S)
                except Exception:  # a locked or lost database this round: the next tries
                    log.exception("telegram: could not renew the poller's lease")
                    continue
                if holder != self.owner:
                    log.error(
                        "telegram: %s took over polling (this process missed its renewals); "
                        "this one stops polling",
                        holder,
                    )
                    lost()
                    return

        self._renewing = asyncio.create_task(renew(), name="telegram-poller-lease")

    async def release(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
        await self.service.let_go(self.name, self.owner)


class PollingErrors:
    """python-telegram-bot's error_callback for polling: a Conflict (another poller,
    outside this store) is said once in one line; other failures one line each
    (polling goes on trying, as the library does)."""

    def __init__(self) -> None:
        self.conflicts = 0

    def __call__(self, error: TelegramError) -> None:
        if isinstance(error, Conflict):
            self.conflicts += 1
            if self.conflicts == 1:
                log.error(
                    "telegram: another process is polling this bot's updates (Telegram: %s); "
                    "the two split them: stop one (long polling runs in one process)",
                    error.message,
                )
            return
        log.warning("telegram: polling failed (%s); trying again", error)
