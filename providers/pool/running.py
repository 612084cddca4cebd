"""Running one engine job where the engine lives (the bot's thread or a GPU worker):
blocking, so callers run it in a thread; every failure leaves as one of the contract's
plain exceptions, with the engine's own traceback in the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from local_engine.request import Cancelled, EngineRefused, Progress
from providers.pool.contract import EngineJob, JobCancelled, JobFailed, JobRefused, Renderer
from providers.pool.jobs import engine_request

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    seconds: float  # the engine's time on the job
    kept_frames: int | None = None  # stopped and kept: the frames the MP4 holds


def render(
    renderer: Renderer,
    job: EngineJob,
    out: Path,
    *,
    on_progress: Callable[[Progress], None],
    cancel: threading.Event,
    keep: threading.Event | None = None,
) -> Rendered:
    """Make the job's MP4 at `out`."""
    started = time.monotonic()
    try:
        request = engine_request(job)
        renderer.generate(request, out, on_progress=on_progress, cancel=cancel, keep=keep)
    except Cancelled:
        raise JobCancelled("cancelled") from None
    except EngineRefused as exc:
        raise JobRefused(str(exc)) from None
    except Exception as exc:  # the engine's failure is this job's, not the process's
        log.exception("engine job %s failed", job.id)
        raise JobFailed(f"the local engine failed: {exc}") from None
    seconds = time.monotonic() - started
    if keep is None or not keep.is_set():
        return Rendered(seconds)
    made = frames_in(out)  # asked to keep: all of it, if the ask came at the very end
    return Rendered(seconds, made if made < job.num_frames else None)


def frames_in(video: Path) -> int:
    """Frames of an MP4 the engine wrote, counted by decoding (the header may not say)."""
    with av.open(str(video), mode="r") as container:
        return sum(1 for _ in container.decode(video=0))


class Speed:
    """The engine's measured seconds per job (the mean of the last few), for ETAs."""

    def __init__(self, keep: int = 20) -> None:
        self._seconds: list[float] = []
        self._keep = keep

    def add(self, seconds: float) -> None:
        self._seconds = [*self._seconds[-(self._keep - 1) :], seconds]

    def per_job(self) -> float | None:
        return sum(self._seconds) / len(self._seconds) if self._seconds else None
