"""Progress and endings on their way to the adapters, off the job's path.

Per job, the latest update wins while a slow listener (a rate-limited chat edit) is
still busy with the last one; a late progress update never hides how a job ended.
This is the one place updates are coalesced: adapters render what they are handed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.core.api import JobUpdate, Listener

log = logging.getLogger(__name__)


class Updates:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._pending: dict[str, JobUpdate] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, update: JobUpdate) -> None:
        """Hand an update to the listeners without waiting for them."""
        job_id = update.job.id
        pending = self._pending.get(job_id)
        if pending is not None and pending.job.state.is_final and not update.job.state.is_final:
            return  # a late progress update never hides how the job ended
        self._pending[job_id] = update  # an older one not yet sent is dropped
        if job_id not in self._pumps:
            self._pumps[job_id] = asyncio.create_task(
                self._pump(job_id), name=f"job-{job_id}-updates"
            )

    def in_flight(self) -> list[asyncio.Task[None]]:
        return list(self._pumps.values())

    async def stop(self) -> None:
        """Drop what is not sent yet: a restart reports every job afresh."""
        pumps = self.in_flight()
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        # A task cancelled before it ever ran never reached its own clean-up.
        self._pumps = {key: task for key, task in self._pumps.items() if not task.done()}
        self._pending.clear()

    async def _pump(self, job_id: str) -> None:
        try:
            while (update := self._pending.pop(job_id, None)) is not None:
                for listener in list(self._listeners):
                    try:
                        await listener(update)
                    except Exception:
                        log.exception("a job listener failed")
        finally:
            self._pumps.pop(job_id, None)
