"""The pool CPU work runs on (encodes, frame sampling, image checks), off the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

CPU_WORK_NICENESS = 10  # added to the process's own: below the event loop, not starved


class CpuPool:
    """A pool of its own as wide as the cores. (Not a semaphore around a trip to a
    thread: the slot would stay taken until the busy event loop came round to the
    finished trip, tens of ms under a burst.) Its threads run at a lower OS priority:
    when checks fill every core, the event loop still answers chats first (Discord's
    3 seconds) and the checks get whatever CPU is left."""

    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(
            workers or os.cpu_count() or 2,
            thread_name_prefix="cpu-work",
            initializer=_yield_to_the_event_loop,
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(fn, *args)
        )


def _yield_to_the_event_loop() -> None:
    """Lower this thread's scheduling priority (Linux: a thread's nice value is its own;
    raising it needs no privilege). Where that is not possible, nothing changes."""
    try:
        thread = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + CPU_WORK_NICENESS
        )
    except (AttributeError, OSError):
        log.debug("CPU work runs at the event loop's priority here")
