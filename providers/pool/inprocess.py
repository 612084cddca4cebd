"""The embedded default: the engine in a thread of the bot's process, one job at a time
(it owns the GPU), the others waiting their turn, round-robin by user."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from local_engine.folders import WeightsMissing
from local_engine.request import Progress
from providers.pool.contract import (
    Broke,
    Done,
    EngineJob,
    JobFailed,
    QueueError,
    QueueEvent,
    Renderer,
    Waiting,
    Working,
    band,
    band_rank,
    broke,
)
from providers.pool.running import Rendered, Speed, render

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    job: EngineJob
    order: tuple[int, int]  # (band rank, arrival): the waiting line's order
    events: asyncio.Queue[QueueEvent] = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    keep: threading.Event = field(default_factory=threading.Event)
    keepable_frames: int = 0  # as its last progress said
    state: str = "waiting"  # waiting | running | done | broke
    out: Path | None = None
    told: Waiting | None = None  # the last place told, not to repeat it


class InProcessQueue:
    def __init__(self, load: Callable[[], Renderer], workdir: Path) -> None:
        self._load = load
        self._renderer: Renderer | None = None
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, _Entry] = {}
        self._line: list[_Entry] = []  # waiting, in the order they will run
        self._arrivals = itertools.count()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self.speed = Speed()

    async def submit(self, job: EngineJob) -> None:
        if job.id in self._jobs:
            return  # queued, running or finished already: never twice
        already = sum(1 for entry in self._line if entry.job.user == job.user)
        entry = _Entry(job, (band_rank(band(already, job.priority)), next(self._arrivals)))
        self._jobs[job.id] = entry
        self._line.append(entry)
        self._line.sort(key=lambda e: e.order)
        self._announce_places()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="local-engine")
        self._wake.set()

    async def events(self, job_id: str) -> AsyncIterator[QueueEvent]:
        entry = self._jobs.get(job_id)
        if entry is None:
            yield Broke("the local job was lost with a restart", "lost")
            return
        if entry.state == "waiting":
            yield self._waiting(entry)
        while True:
            event = await entry.events.get()
            yield event
            if isinstance(event, Done | Broke):
                if isinstance(event, Broke):
                    self._jobs.pop(job_id, None)  # told; a success goes at result()
                return

    async def cancel(self, job_id: str) -> bool:
        entry = self._jobs.get(job_id)
        if entry is None or entry.state in ("done", "broke"):
            return False
        entry.cancel.set()  # a running job stops within one step
        if entry.state == "waiting":
            self._line.remove(entry)
            self._end(entry, Broke("cancelled", "cancelled"))
            self._announce_places()
        return True

    async def keep(self, job_id: str) -> bool:
        entry = self._jobs.get(job_id)
        if entry is None or entry.state != "running" or not entry.keepable_frames:
            return False
        entry.keep.set()  # the engine stops within one step, keeping what it finished
        return True

    async def result(self, job_id: str, dest: Path) -> int:
        entry = self._jobs.pop(job_id, None)
        if entry is None or entry.out is None:
            raise QueueError("that video is not here (any more)")
        return await asyncio.to_thread(_move, entry.out, dest)

    def knows(self, job_id: str) -> bool:
        return job_id in self._jobs

    async def aclose(self) -> None:
        for entry in self._jobs.values():
            entry.cancel.set()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    # --- the engine's turn ---------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._line:
                self._wake.clear()
                await self._wake.wait()
                continue
            entry = self._line.pop(0)
            self._announce_places()
            entry.state = "running"
            try:
                renderer = await self._renderer_ready()
                rendered = await self._render(renderer, entry)
            except Exception as exc:
                self._end(entry, broke(exc))
                continue
            if rendered.kept_frames is None:  # a kept part says nothing of a whole job's time
                self.speed.add(rendered.seconds)
            entry.state = "done"
            entry.events.put_nowait(
                Done(entry.job.seed, rendered.seconds, "in-process", rendered.kept_frames)
            )

    async def _render(self, renderer: Renderer, entry: _Entry) -> Rendered:
        loop = asyncio.get_running_loop()

        def told(p: Progress) -> None:
            entry.keepable_frames = p.keepable_frames
            entry.events.put_nowait(
                Working(p.step, p.total_steps, p.section, p.sections, p.keepable_frames)
            )

        def progress(p: Progress) -> None:
            loop.call_soon_threadsafe(told, p)

        entry.out = self.workdir / f"{entry.job.id}.mp4"
        entry.events.put_nowait(Working(0, 0, 0, 0))
        work = asyncio.ensure_future(
            asyncio.to_thread(
                render,
                renderer,
                entry.job,
                entry.out,
                on_progress=progress,
                cancel=entry.cancel,
                keep=entry.keep,
            )
        )
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            entry.cancel.set()  # the bot is stopping: the engine stops within a step
            await asyncio.gather(work, return_exceptions=True)
            raise

    async def _renderer_ready(self) -> Renderer:
        """Loaded at the first job, in a thread (minutes for the real weights)."""
        if self._renderer is None:
            try:
                self._renderer = await asyncio.to_thread(self._load)
            except WeightsMissing as exc:  # expected: the message says what to fix
                log.error("the local engine could not load: %s", exc)
                raise JobFailed(f"the local engine could not load: {exc}") from None
            except Exception as exc:
                log.exception("the local engine could not load")
                raise JobFailed(f"the local engine could not load: {exc}") from None
        return self._renderer

    def _end(self, entry: _Entry, event: Broke) -> None:
        entry.state = "broke"
        entry.events.put_nowait(event)

    def _waiting(self, entry: _Entry) -> Waiting:
        position = self._line.index(entry) + 1
        busy = any(e.state == "running" for e in self._jobs.values())
        per_job = self.speed.per_job()
        eta = None if per_job is None else per_job * (position - 1 + (1 if busy else 0))
        return Waiting(position, eta)

    def _announce_places(self) -> None:
        for entry in self._line:
            place = self._waiting(entry)
            if place.position != (entry.told and entry.told.position):
                entry.told = place
                entry.events.put_nowait(place)


def _move(source: Path, dest: Path) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, dest)
    return dest.stat().st_size
